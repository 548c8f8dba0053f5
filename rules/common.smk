# Shared helpers: where the raw data comes from, which targets make up a full run.
import os
from pathlib import Path

DATASET = config["dataset"]
RECORDS_SUBDIR = config["data"]["records"]
ENVS = os.path.join(workflow.basedir, "envs")


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


def foundation_targets():
    return [
        f"results/clean/{DATASET}.h5",
        "results/qc/qc_stats.json",
        "results/segments/segments.h5",
        "results/folds/folds.json",
    ]


def all_targets():
    targets = list(foundation_targets())
    if "learning_targets" in globals():
        targets += learning_targets()
    return targets
