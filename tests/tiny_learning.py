"""The tiny learning config shared by the DAG tests (test_learning_dag, test_retention)."""

from pathlib import Path

from snakemake_helpers import write_config

PAPER = {
    "inputs": ["I", "II", "V2"],
    "targets": ["V4"],
    "derived": [],
    "corruption": "none",
    "methods": ["GL", "C", "Ch", "ChA", "Cpaper", "Chpaper"],
}
LEAD_I = {"inputs": ["I"], "targets": ["II", "V4"], "derived": ["III"], "corruption": "none", "methods": ["GL", "C", "Ch", "ChA"]}
TINY = {
    "synth": {"n_records": 60},
    "qc": {"n_sample_windows": 3000},
    "split": {"cv_k": 3},
    "tasks": {"paper": PAPER, "lead_i": LEAD_I},
    "run_tasks": ["paper"],
    "encoder": {"width": 4, "embed_dim": 16, "proj_dim": 8, "max_epochs": 1, "batch_size": 32},
    "decoder": {"proj": 8, "hidden": 8, "out_channels": 4, "max_epochs": 1, "batch_size": 64},
    "encoder_paper": {"width": 4, "proj_dim": 8, "max_epochs": 1},
    "decoder_paper": {"width": 8, "max_epochs": 1, "batch_size": 128},
    "calinet": {"channels": [4, 8], "embed_dim": 8, "max_epochs": 1, "episodes_per_record": 1, "batch_size": 32},
    "diffusion": {
        "prior": {"T": 100, "channels": [4, 8], "time_dim": 8, "heads": 2, "max_steps": 20, "eval_every": 10, "batch_size": 32},
        "K": 3,
        "steps": 4,
        "records": 2,
        "realism": {"n": 8, "steps": 4},
    },
}
LEARNING = ("results/paper/predictions/predictions.h5",)


def tiny_config(work: Path, name: str, **changes) -> Path:
    """Write TINY with ``changes`` merged into its sections (section -> {key: value}; a list replaces) to
    work/name."""
    cfg = {k: (dict(v) if isinstance(v, dict) else list(v)) for k, v in TINY.items()}
    for section, values in changes.items():
        cfg[section] = {**cfg.get(section, {}), **values} if isinstance(values, dict) else values
    return write_config(work / name, cfg)
