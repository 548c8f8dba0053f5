"""Shared test fixtures and paths."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The read-only real PhysioNet records beside the checkout (CI has them too)."""
    assert (SHARED / "ptb-xl" / "ptbxl_database.csv").exists(), f"real data expected at {SHARED}"
    return SHARED


@pytest.fixture(scope="session")
def tiny_learning_run(tmp_path_factory) -> Path:
    """A working directory where the tiny learning DAG has run to predictions.h5 (config tiny.yaml).

    Shared by the learning-DAG and retention tests: later tests only add outputs or dry-run."""
    from snakemake_helpers import snakemake
    from tiny_learning import LEARNING, tiny_config

    work = tmp_path_factory.mktemp("learning_dag")
    snakemake(work, *LEARNING, configfile=tiny_config(work, "tiny.yaml"))
    return work
