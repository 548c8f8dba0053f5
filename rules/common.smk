# Shared helpers: where the raw data comes from, which targets make up a full run.
import os
import re
from pathlib import Path

DATASET = config["dataset"]
RECORDS_SUBDIR = config["data"]["records"]
ENVS = os.path.join(workflow.basedir, "envs")


def canonical(d):
    """A copy of a (nested) config dict with sorted keys: params compare equal whatever the key order."""
    return {k: canonical(d[k]) if isinstance(d[k], dict) else d[k] for k in sorted(d)}


def repo_path(p):
    """Resolve a user path from the config: relative paths are relative to the project root."""
    p = Path(os.path.expanduser(str(p)))
    return str(p if p.is_absolute() else Path(workflow.basedir) / p)


def raw_dir():
    """The PTB-XL-shaped folder the `clean` rule reads."""
    if DATASET == "synthetic":
        return "results/raw/synthetic"
    if DATASET == "ptbxl_download":
        return config["data"]["download_dir"]
    if not config["data"]["ptbxl_dir"]:
        raise WorkflowError("dataset: ptbxl_local needs data.ptbxl_dir (path to a PTB-XL copy)")
    return repo_path(config["data"]["ptbxl_dir"])


def raw_database():
    """ptbxl_database.csv of the raw folder: the file that stands for the raw data in the DAG."""
    return os.path.join(raw_dir(), "ptbxl_database.csv")


MAIN_DATASETS = ("synthetic", "ptbxl_local", "ptbxl_download")


def extra_datasets():
    """The config's `datasets:` mapping (name -> kind, path, records); names must not shadow a main dataset."""
    extra = config.get("datasets") or {}
    clash = sorted(set(extra) & set(MAIN_DATASETS))
    if clash:
        raise WorkflowError(f"datasets: {clash} reuse the name of a main dataset {list(MAIN_DATASETS)}; rename them")
    return extra


EXTRA_DATASETS = extra_datasets()
POOL = list(config.get("pool") or [])
CROSS_DATASETS = list(config.get("cross_datasets") or [])
for _name in POOL + CROSS_DATASETS:
    if _name not in EXTRA_DATASETS:
        raise WorkflowError(f"pool / cross_datasets name {_name!r} is not declared under `datasets:` "
                            f"(declared: {sorted(EXTRA_DATASETS)})")
if set(POOL) & set(CROSS_DATASETS):
    raise WorkflowError(f"{sorted(set(POOL) & set(CROSS_DATASETS))} both pooled for training and cross-evaluated: "
                        "a cross-dataset evaluation must use data the models never saw")
# The cleaned records that QC, segments and folds are built from: the main dataset, or it pooled with `pool:`.
PRIMARY_CLEAN = "results/pooled/clean.h5" if POOL else f"results/clean/{DATASET}.h5"


def dataset_spec(name):
    """Adapter kind, raw folder and records sub-folder of dataset `name` (main dataset or `datasets:` entry)."""
    if name == DATASET:
        return {"kind": "ptbxl", "raw_dir": raw_dir(), "records": RECORDS_SUBDIR}
    if name not in EXTRA_DATASETS:
        raise WorkflowError(
            f"unknown dataset {name!r} in results/clean/{name}.h5: the main dataset is {DATASET!r}; "
            f"declare others under `datasets:` in the config (declared: {sorted(EXTRA_DATASETS)})"
        )
    spec = EXTRA_DATASETS[name]
    records = spec.get("records")
    if records is None and spec["kind"] == "ptbxl":
        records = RECORDS_SUBDIR
    return {"kind": spec["kind"], "raw_dir": repo_path(spec["path"]), "records": records}


def clean_raw_input(wildcards):
    """Input of the clean rule: the main dataset's ptbxl_database.csv (so synthesize / download run
    first) or the folder of a `datasets:` entry."""
    if wildcards.dataset == DATASET:
        return raw_database()
    return dataset_spec(wildcards.dataset)["raw_dir"]


def foundation_targets():
    return [
        PRIMARY_CLEAN,
        "results/qc/qc_stats.json",
        "results/segments/segments.h5",
        "results/folds/folds.json",
    ]


def all_targets():
    targets = list(foundation_targets())
    if "learning_targets" in globals():
        targets += learning_targets()
    if "EXPORT_TARGETS" in globals():
        targets += EXPORT_TARGETS
    if "DIAGNOSTIC_TARGETS" in globals():
        targets += DIAGNOSTIC_TARGETS
    if "CROSS_TARGETS" in globals():
        targets += CROSS_TARGETS
    return targets
