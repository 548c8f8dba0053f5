# Shared helpers of every rule: where the raw data comes from, the tasks and methods of this run (from
# the method registry, ecgrecon/methods/), the inputs of the learning rules and the targets of a full run.
import os
import re
from pathlib import Path

from ecgrecon import methods as registry
from ecgrecon.tasks import TaskError, check_clean_models, parse_tasks

DATASET = config["dataset"]
RECORDS_SUBDIR = config["data"]["records"]
ENVS = os.path.join(workflow.basedir, "envs")
# The conda envs install this checkout's package (envs/*.post-deploy.sh reads this variable).
os.environ.update(ECGRECON_SOURCE=workflow.basedir)


def canonical(d):
    """A copy of a (nested) config dict with sorted keys: params compare equal whatever the key order."""
    return {k: canonical(d[k]) if isinstance(d[k], dict) else d[k] for k in sorted(d)}


def repo_path(p):
    """Resolve a user path from the config: relative paths are relative to the project root."""
    p = Path(os.path.expanduser(str(p)))
    return str(p if p.is_absolute() else Path(workflow.basedir) / p)


def check_config():
    """Refuse the run at start, one line per problem naming the key and the value: a key given twice in a
    config file (the last would silently win), values inconsistent with each other or with the data
    (ecgrecon.data.config_checks)."""
    from ecgrecon.data.config_checks import config_problems, duplicate_keys

    problems = [p for f in dict.fromkeys(map(str, workflow.configfiles)) for p in duplicate_keys(f)]
    problems += config_problems(config, workflow.basedir)
    if problems:
        raise WorkflowError("\n".join(f"config: {p}" for p in problems))


check_config()


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


# ---- methods and tasks ---------------------------------------------------------------------------------
PLUGINS = [repo_path(p) for p in config["method_plugins"]]
try:
    registry.load_plugins(PLUGINS)
    ALL_TASKS = parse_tasks(config["tasks"])
except (TaskError, FileNotFoundError, RuntimeError, ValueError) as _e:
    raise WorkflowError(f"config: {_e}") from None
for _name in config["run_tasks"]:
    if _name not in ALL_TASKS:
        raise WorkflowError(f"config: run_tasks: unknown task {_name!r} (declared under tasks: {', '.join(ALL_TASKS)})")
TASKS = {name: ALL_TASKS[name] for name in config["run_tasks"]}
try:
    check_clean_models(ALL_TASKS, list(TASKS))
except TaskError as _e:
    raise WorkflowError(f"config: {_e}") from None
FOLDS = list(config["evaluation"]["folds"])
INPUT_SETS = {t.input_set: list(t.inputs) for t in TASKS.values() if t.uses_h}  # one encoder per input-lead set
ENCODER_KEYS = [k for k in config["encoder"] if k != "tile_reps"]  # tile_reps only affects reps.h5
PCM_FOLD = "official"  # calibrated methods (rule calibrate_pcm) are reported on the official split only
EXPORT_FOLD = "official"
CLASSIFIER_FOLD = "official"  # the fold whose train / val / test records the diagnostic classifier uses
PRIOR_FOLD = "official"  # the diffusion prior trains on this fold's train segments (early stop on val)


def _alternatives(values):
    """A wildcard constraint that matches exactly one of ``values`` (nothing when empty)."""
    return "|".join(map(re.escape, values)) if values else "(?!)"


def task_of(wildcards):
    return TASKS[wildcards.task]


def method_of(wildcards):
    return registry.get(wildcards.method)


def methods_of_kind(kind):
    """Methods of ``kind`` that some task of this run uses (or anchors on)."""
    used = {m for t in TASKS.values() for m in t.methods}
    used |= {registry.get(m).anchor for m in used if registry.get(m).anchor}
    return [m for m in registry.names(kind) if m in used]


ENCODER_DIRS = registry.ENCODER_DIRS  # encoder section -> sub-folder of results/encoders/{inputs}


# ---- pre-trained, fine-tuned methods (ecgrecon.methods.pretrained; config `pretrained`) ----------------------
PT_CFG = config["pretrained"]
PT_FOLD = PT_CFG["fold"]  # the pre-training run's fold whose models every fold of this run starts from


def _pt_methods():
    """(task, method) of every pre-trained method this run fits (a task's own, or the anchor of one)."""
    out = []
    for t in TASKS.values():
        names = set(t.methods) | {registry.get(m).anchor for m in t.methods if registry.get(m).anchor}
        out += [(t, registry.get(m)) for m in registry.names() if m in names and registry.get(m).pretrained]
    return out


def pretrained_artifacts(task, m, lead=None, run=None):
    """The pre-training run's artifacts a pre-trained method starts from: its base method's map, or one lead's
    decoder checkpoint (every lead when ``lead`` is None) and, for a method reading h, the encoder."""
    run, base = run or PT_RUN, m.pretrained
    if m.kind == "linear":
        return [f"{run}/results/{task.name}/linear/{PT_FOLD}/{base}.json"]
    leads = task.targets if lead is None else [lead]
    out = [f"{run}/results/{task.name}/decoders/{base}/{PT_FOLD}/{ld}.pt" for ld in leads]
    return out + ([f"{run}/results/encoders/{task.input_set}/encoder.pt"] if m.uses_h else [])


def pretrained_run():
    """The pre-training run's directory (config pretrained.run), checked at start when a pre-trained method is used:
    every artifact it must provide exists (one error naming the key and the first missing files)."""
    used = _pt_methods()
    if not used:
        return None
    names = sorted({m.name for _, m in used})
    if not PT_CFG["run"]:
        raise WorkflowError(f"config: pretrained.run: methods {names} start from a pre-training run; set it to the "
                            "directory of a finished run of e.g. config/pretrain.yaml")
    run = repo_path(PT_CFG["run"])
    if not os.path.isdir(run):
        raise WorkflowError(f"config: pretrained.run: {run} is not a directory (methods {names} start from it)")
    missing = [p for t, m in used for p in pretrained_artifacts(t, m, run=run) if not os.path.isfile(p)]
    if missing:
        raise WorkflowError(f"config: pretrained.run: {run} lacks {len(missing)} artifact(s) of fold {PT_FOLD} the methods "
                            f"{names} start from, e.g. {', '.join(missing[:3])} (run its tasks {sorted({t.name for t, _ in used})} there first)")
    return run


PT_RUN = pretrained_run()


def finetune_cfg(section):
    """Training settings for fine-tuning from the pre-training run: the learning rate x pretrained.lr_scale."""
    return {**section, "lr": float(section["lr"]) * float(PT_CFG["lr_scale"])}


def encoder_subdir(input_set, section):
    return os.path.join(input_set, ENCODER_DIRS[section]) if ENCODER_DIRS[section] else input_set


def encoder_dir(task, section="encoder"):
    return f"results/encoders/{encoder_subdir(task.input_set, section)}"


def reps_key(section):
    """Named input of the evaluate rules for the reps.h5 of an encoder design (ours: `reps`)."""
    return "reps" if section == "encoder" else f"reps_{section}"


def encoder_sections(task):
    """Encoder designs (config sections) whose h some population method of the task reads, in registry order."""
    ms = [registry.get(m) for m in population_methods(task)]
    return list(dict.fromkeys(m.encoder_section for m in ms if m.uses_h))


def linear_map(task, fold, method):
    return f"results/{task.name}/linear/{fold}/{method}.json"


def decoder_checkpoints(task, method, fold):
    return [f"results/{task.name}/decoders/{method}/{fold}/{lead}.pt" for lead in task.targets]


def decoder_inputs(wildcards):
    """Segments and folds; reps.h5 of the task's encoder for methods that read h; the anchor's map for ChA."""
    task, m = task_of(wildcards), method_of(wildcards)
    inputs = {"segments": "results/segments/segments.h5", "folds": "results/folds/folds.json"}
    if m.uses_h:
        inputs["reps"] = f"{encoder_dir(task, m.encoder_section)}/reps.h5"
    if m.anchor:
        inputs["gl"] = linear_map(task, wildcards.fold, m.anchor)
    if m.pretrained:
        inputs["init"] = pretrained_artifacts(task, m, wildcards.lead)[0]
    return with_noise_bank(inputs, wildcards)


N_DECODER_JOBS = sum(len(t.of_kind("decoder")) * len(t.targets) for t in TASKS.values()) * len(FOLDS)


def decoder_threads(wildcards):
    """Share the cores among the decoder jobs (1 thread each on 2 cores), at most 4 per job."""
    cores = workflow.cores if isinstance(workflow.cores, int) else 1
    return max(1, min(4, cores // max(1, N_DECODER_JOBS)))


# ---- noise tasks (corruption: noise; ecgrecon.noise) ---------------------------------------------------------
NOISE_CFG = config["noise"]
NOISE_FOLD = "official"  # noise tasks train and report on the official split only
NOISE_KINDS = sorted({t.noise.kind for t in TASKS.values() if t.noise is not None})  # the noise tasks' kinds
BANK_KINDS = sorted(set(NOISE_KINDS) | ({"em"} if any("calinet" in t.methods for t in TASKS.values()) else set()))
"""Noise banks the run reads: the noise tasks' kinds, and em for CaLiNet-E's calibration-robustness table."""


def noise_source():
    """(source, folder) of the noise bank: nstdb from noise.nstdb_dir / the download folder, or synthetic.
    ``auto``: NSTDB when noise.nstdb_dir holds the kinds of this run, else synthetic (logged, labelled in tables)."""
    from ecgrecon.noise import NoiseError, find_nstdb

    src = NOISE_CFG["source"]
    if src == "synthetic":
        return "synthetic", None
    if src == "download":
        return "nstdb", repo_path(NOISE_CFG["download_dir"])
    folder = repo_path(NOISE_CFG["nstdb_dir"]) if NOISE_CFG["nstdb_dir"] else None
    try:
        have = find_nstdb(folder) if folder else {}
    except NoiseError as e:
        if src == "nstdb":
            raise WorkflowError(f"config: noise.source nstdb: {e}") from None
        have = {}
    missing = [k for k in BANK_KINDS if k not in have]
    if src == "nstdb" and missing:
        raise WorkflowError(f"config: noise.source nstdb: {folder} lacks the NSTDB records {missing} "
                            "(set noise.source: download or synthetic)")
    if src == "auto" and (missing or not folder):
        return "synthetic", None
    return "nstdb", folder


NOISE_SOURCE = noise_source() if BANK_KINDS else ("synthetic", None)  # resolved once: a bad noise source stops the run at start


def noise_bank(kind):
    return f"results/noise/bank_{kind}.h5"


def noise_bank_inputs(wildcards):
    """The NSTDB files the bank of one kind is read from (none for synthetic noise)."""
    src, folder = NOISE_SOURCE
    if src != "nstdb":
        return []
    if NOISE_CFG["source"] == "download":
        return [os.path.join(folder, f"{wildcards.kind}.{ext}") for ext in ("hea", "dat")]
    from ecgrecon.noise import find_nstdb
    from ecgrecon.noise.sources import EM_PAIR

    recs = EM_PAIR if find_nstdb(folder).get(wildcards.kind) == "derived" else (wildcards.kind,)
    return [os.path.join(folder, f"{r}.{ext}") for r in recs for ext in ("hea", "dat")]


def noise_params(wildcards):
    """The task's noise as the scripts need it (ecgrecon.noise.inputs.NoisyInputs.from_params), None for clean tasks."""
    task = task_of(wildcards)
    if task.noise is None:
        return None
    spec = config["tasks"][task.name]["noise"]
    return {"bank": noise_bank(task.noise.kind), "task": task.name, "kind": task.noise.kind, "levels": list(spec["levels"]),
            "seed": config["seed"], "window": config["segment"]["window"],
            "record_len": int(round(config["clean"]["duration_s"] * config["clean"]["fs"]))}


def with_noise_bank(inputs, wildcards):
    task = task_of(wildcards)
    if task.noise is not None:
        inputs["noise_bank"] = noise_bank(task.noise.kind)
    return inputs


def linear_inputs(wildcards):
    """Segments and folds (and the noise bank); a pre-trained linear method also the pre-training run's map (its prior)."""
    inputs = {"segments": "results/segments/segments.h5", "folds": "results/folds/folds.json"}
    m = method_of(wildcards)
    if m.pretrained:
        inputs["prior"] = pretrained_artifacts(task_of(wildcards), m)[0]
    return with_noise_bank(inputs, wildcards)


def linear_cfg(wildcards):
    """The `gl` section with the method's settings; a pre-trained method also tries the strong prior penalties."""
    from ecgrecon.methods.pretrained import PRIOR_ALPHAS

    m = method_of(wildcards)
    gl = {**config["gl"], **m.settings}
    if m.pretrained:
        gl["alphas"] = sorted(set(map(float, gl["alphas"])) | set(PRIOR_ALPHAS))
    return canonical(gl)


def noise_evaluate_inputs(wildcards):
    """Segments, folds, the bank; the task's own (noise-trained) artifacts; the clean_models task's artifacts and the
    encoders (encoder.pt + reps.h5) of its methods that read h."""
    task = task_of(wildcards)
    inputs = with_noise_bank({"segments": "results/segments/segments.h5", "folds": "results/folds/folds.json"}, wildcards)
    inputs.update({f"own__{k}": v for k, v in method_artifacts(task, [NOISE_FOLD]).items()})
    if task.clean_models:
        twin = TASKS[task.clean_models]
        inputs.update({f"clean__{k}": v for k, v in method_artifacts(twin, [NOISE_FOLD]).items()})
        for section in encoder_sections(twin):
            inputs[f"encoder__{section}"] = f"{encoder_dir(twin, section)}/encoder.pt"
            inputs[f"reps__{section}"] = f"{encoder_dir(twin, section)}/reps.h5"
    return inputs


def noise_task_params(wildcards):
    task = task_of(wildcards)
    twin = TASKS[task.clean_models] if task.clean_models else None
    return {**task_params(wildcards), "clean_methods": population_methods(twin) if twin else [],
            "encoder_sections": encoder_sections(twin) if twin else []}


def decoder_cfg(wildcards):
    """The method's decoder section with the task's `budget` (max_epochs, epoch_fraction) on top: make run's
    other tasks train shorter than `paper` (changing a task's budget reruns that task's decoders only)."""
    m = method_of(wildcards)
    section = finetune_cfg(config[m.decoder_section]) if m.pretrained else config[m.decoder_section]
    budget = config["tasks"][wildcards.task].get("budget") or {}
    return canonical({**section, **budget})


def population_methods(task):
    """The task's methods evaluated beside each other (kinds linear, decoder, fixed: Method.joint), in registry order."""
    return [m for m in registry.names() if m in task.methods and registry.get(m).joint]


def method_artifacts(task, folds):
    """Named inputs of the evaluate rule: per population method and fold, its map or per-lead checkpoints."""
    out = {}
    for m in population_methods(task):
        kind = registry.get(m).kind
        if kind == "fixed":  # nothing fitted
            continue
        for fold in folds:
            out[registry.artifact_key(m, fold)] = (linear_map(task, fold, m) if kind == "linear" else decoder_checkpoints(task, m, fold))
    return out


def evaluate_inputs(wildcards):
    task = task_of(wildcards)
    inputs = {"segments": "results/segments/segments.h5", "folds": "results/folds/folds.json",
              **method_artifacts(task, FOLDS)}
    for section in encoder_sections(task):
        inputs[reps_key(section)] = f"{encoder_dir(task, section)}/reps.h5"
    return inputs


def cross_evaluate_inputs(wildcards):
    task, cross = task_of(wildcards), f"results/cross/{wildcards.dataset}"
    inputs = {"segments": f"{cross}/segments.h5", "folds": f"{cross}/folds.json",
              **method_artifacts(task, ["official"])}
    for section in encoder_sections(task):
        inputs[reps_key(section)] = f"{cross}/encoders/{encoder_subdir(task.input_set, section)}/reps.h5"
    return inputs


def task_params(wildcards):
    """The task as the scripts need it (inputs, targets, derived leads, population methods)."""
    task = task_of(wildcards)
    return {"name": task.name, "inputs": list(task.inputs), "targets": list(task.targets),
            "derived": list(task.derived), "corruption": task.corruption, "methods": population_methods(task),
            "reps": {section: reps_key(section) for section in encoder_sections(task)}}


def export_inputs(wildcards):
    task, m = task_of(wildcards), method_of(wildcards)
    decoders = decoder_checkpoints(task, m.name, EXPORT_FOLD)
    inputs = {"decoders": decoders, "curves": [d.removesuffix(".pt") + "_val.csv" for d in decoders],
              "segment_csv": f"results/{task.name}/tables/segment_metrics.csv",
              "record_csv": f"results/{task.name}/tables/record_metrics.csv"}
    if m.uses_h:
        inputs.update(encoder=f"{encoder_dir(task)}/encoder.pt", reps=f"{encoder_dir(task)}/reps.h5")
    if registry.baseline() in task.methods:  # the task's GL map goes into the bundle (for `ecgrecon evaluate`)
        inputs.update(gl=linear_map(task, EXPORT_FOLD, registry.baseline()))
    return inputs


# ---- CaLiNet-E (rules/calinet.smk) ----------------------------------------------------------------------
def calinet_train_cfg():
    """The `calinet` section as training settings (robust_noise_db is the evaluation's: changing it retrains nothing)."""
    return {k: v for k, v in config["calinet"].items() if k != "robust_noise_db"}


def calinet_evaluate_inputs(wildcards):
    task = task_of(wildcards)
    inputs = {"clean": PRIMARY_CLEAN, "segments": "results/segments/segments.h5", "folds": "results/folds/folds.json",
              "pcm_h5": f"results/{task.name}/pcm/{PCM_FOLD}/pcm.h5", "pcm_json": f"results/{task.name}/pcm/{PCM_FOLD}/pcm.json",
              "model": f"results/{task.name}/calinet/model.pt", "noise_bank": noise_bank("em")}
    if "ChA" in task.methods:  # the reference population method, from the evaluate rule's predictions
        inputs["predictions"] = f"results/{task.name}/predictions/predictions.h5"
    return inputs


def diffusion_sampling_cfg():
    """The `diffusion` section's sampling settings, the params of sample_diffusion (`prior` and `realism` are
    train_prior's and prior_realism's: sampling reruns after a prior change through the prior file, not its params)."""
    return canonical({k: v for k, v in config["diffusion"].items() if k not in ("prior", "realism")})


def diffusion_sample_inputs(wildcards):
    """The prior, segments and folds, and a noise task's bank: all that the posterior samples depend on."""
    inputs = with_noise_bank({"segments": "results/segments/segments.h5", "folds": "results/folds/folds.json"}, wildcards)
    inputs["prior"] = "results/prior/model.pt"
    return inputs


def diffusion_evaluate_inputs(wildcards):
    """The samples; a clean task's predictions.h5 (its other methods on the same windows); a noise task's
    evaluate_noise inputs (its methods re-predict on the same noisy windows)."""
    task = task_of(wildcards)
    if task.noise is not None:
        inputs = noise_evaluate_inputs(wildcards)
    else:
        inputs = {"segments": "results/segments/segments.h5"}
        if population_methods(task):
            inputs["predictions"] = f"results/{task.name}/predictions/predictions.h5"
    inputs["samples"] = f"results/{task.name}/diffusion/samples.h5"
    inputs["cost"] = f"results/{task.name}/diffusion/cost.csv"
    return inputs


def diffusion_task_params(wildcards):
    task = task_of(wildcards)
    return noise_task_params(wildcards) if task.noise is not None else task_params(wildcards)


DIFFUSION_OUTPUTS = ["metrics.csv", "metrics.md", "cost.csv", "morphology.csv", "samples.h5", "samples.png"]


CALINET_OUTPUTS = ["metrics.csv", "metrics.md", "robustness.csv", "robustness.md", "robustness.png", "reliability.csv",
                   "reliability.png", "scores.csv", "scores.md", "retention.csv", "retention.md"]


def trains_prior():
    """Whether the run trains the diffusion prior (train_prior in the DAG): some task of run_tasks lists a generative
    method (`diffusion`)."""
    return any(t.of_kind("generative") for t in TASKS.values())


def completion_inputs(wildcards):
    """complete_printouts' inputs: the digitised and rendered records, segments and folds, and the diffusion prior
    when the run trains it (then `diffusion` is one of the completion methods)."""
    inputs = {"digitized": "results/printout/digitized.h5", "truth": "results/printout/truth.h5",
              "segments": "results/segments/segments.h5", "folds": "results/folds/folds.json"}  # fmt: skip
    if trains_prior():
        inputs["prior"] = "results/prior/model.pt"
    return inputs


def printout_params():
    """The printout section as render_printouts needs it (`enabled` only decides whether `all` asks for the outputs;
    `completion` is complete_printouts' alone, `learned` the learned digitiser's)."""
    return canonical({k: v for k, v in config["printout"].items() if k not in ("enabled", "completion", "learned")})


# ---- targets of a full run -----------------------------------------------------------------------------
NOISE_OUTPUTS = ["metrics.csv", "metrics.md", "morphology.csv", "assignment.h5", "rmse_vs_snr.png", "examples.png"]
PRINTOUT_OUTPUTS = ["images.csv", "truth.h5", "digitized.h5", "metrics.csv", "metrics.md", "r_thresholds.csv", "example.png",
                    "completion_gl.json", "completion.h5", "completion_metrics.csv", "completion_metrics.md", "completion_example.png"]
PRINTOUT_LEARNED_OUTPUTS = ["digitizer.pt", "train_log.csv", "loss_curve.png", "predictions.h5", "metrics.csv", "metrics.md",
                            "r_thresholds.csv", "example.png"]
TABLES = ["segment_metrics.csv", "segment_metrics.md", "record_metrics.csv", "record_metrics.md"]


def get_final_output():
    """Every file a full run makes (the input of `all`): data stages, then per task its tables, PCM, retention and
    exported bundles, and the cross-dataset tables."""
    out = [PRIMARY_CLEAN, "results/qc/qc_stats.json", "results/segments/segments.h5", "results/folds/folds.json"]
    if NOISE_KINDS:
        out += ["results/noise/summary.csv", "results/noise/rmse_vs_snr.png"]
    if trains_prior():
        out += ["results/prior/model.pt", "results/prior/train_log.csv", "results/prior/realism.md"]
    for name, task in TASKS.items():
        if task.of_kind("generative"):  # the diffusion prior's posterior sampling (rules/diffusion.smk)
            out += [f"results/{name}/diffusion/{f}" for f in DIFFUSION_OUTPUTS]
        if task.noise is not None:
            out += [f"results/{name}/noise/{f}" for f in NOISE_OUTPUTS]
            continue
        out += [f"results/{name}/predictions/predictions.h5", f"results/{name}/tables/class_metrics.csv",
                f"results/{name}/tables/morphology_metrics.csv"]
        out += [f"results/{name}/tables/{t}" for t in TABLES]
        out += [f"results/{name}/tables/retention_metrics.{ext}" for ext in ("csv", "md")]
        if task.of_kind("calibrated"):
            out += [f"results/{name}/tables/pcm_metrics.{ext}" for ext in ("csv", "md")]
        if "calinet" in task.methods:  # CaLiNet-E on PCM's test windows (rules/calinet.smk)
            out += [f"results/{name}/calinet/{f}" for f in ("model.pt", "train_log.csv", *CALINET_OUTPUTS)]
        out += [f"results/{name}/model/ecgrecon-{m}.{ext}" for m in task.of_kind("decoder")
                if registry.get(m).exportable for ext in ("pt", "json")]
        out += [f"results/{name}/cross/{d}/tables/{t}" for d in CROSS_DATASETS for t in TABLES]
    if config["printout"]["enabled"]:  # printouts of test records, digitised back (rules/printout.smk)
        out += [f"results/printout/{f}" for f in PRINTOUT_OUTPUTS]
        if config["printout"]["learned"]["enabled"]:  # the learned single-lead digitiser beside the classical one
            out += [f"results/printout/learned/{f}" for f in PRINTOUT_LEARNED_OUTPUTS]
    return out
