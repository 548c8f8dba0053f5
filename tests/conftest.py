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
