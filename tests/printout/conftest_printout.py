"""Shared fixtures of the printout tests: synthetic 12-lead records (the project's generator) and their clean renders."""

import numpy as np
import pytest

from ecgrecon.printout.render import render_printout
from ecgrecon.synth import simulate_cohort

FS = 100.0
DPI = 200.0


@pytest.fixture(scope="session")
def records() -> np.ndarray:
    """(2, 1000, 12) noise-free synthetic records in mV at 100 Hz (the first two of a seeded 4-record cohort)."""
    return simulate_cohort(4, 11)["clean_lr"][:2]


@pytest.fixture(scope="session")
def clean_renders(records):
    """[(image, truth)] of each record, 3x4 layout at 200 dpi."""
    return [render_printout(x, FS, dpi=DPI) for x in records]


def mean_snr(label, output, truth) -> float:
    from ecgrecon.printout.scoring import snr_challenge

    return float(np.mean(snr_challenge(label, output, truth.plotted())))
