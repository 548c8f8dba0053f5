"""Challenge-2024 SNR and the per-lead scores, with unplotted samples left out."""

import numpy as np
import pytest

from ecgrecon.printout.scoring import lead_scores, r_threshold_table, snr_challenge


def test_snr_follows_the_challenge_definition():
    t = np.linspace(0, 10, 1000)
    y = np.c_[np.sin(2 * np.pi * t), 0.5 * np.cos(3 * t)]
    assert snr_challenge(y, 0.9 * y) == pytest.approx([20.0, 20.0])  # noise = 0.1 y: 10 log10(1 / 0.01)
    assert snr_challenge(y, np.full_like(y, np.nan)) == pytest.approx([0.0, 0.0])  # missing output counts as 0
    assert np.isinf(snr_challenge(y, y)).all()
    assert np.isnan(snr_challenge(np.zeros(10), np.ones(10)))[0]
    out = 0.9 * y
    out[:500] = 100.0  # wrong where the image shows nothing
    plotted = np.zeros_like(y, dtype=bool)
    plotted[500:] = True
    assert snr_challenge(y, out, plotted) == pytest.approx([20.0, 20.0])
    assert snr_challenge(y, out, plotted.T) == pytest.approx([20.0, 20.0])  # (leads, samples) as PrintoutTruth.plotted() gives


def test_lead_scores_and_r_table():
    rng = np.random.default_rng(0)
    y = rng.normal(size=(500, 3))
    p = 2.0 * y + 1.0
    p[:10, 2] = np.nan
    s = lead_scores(y, p)
    assert s["pearson"] == pytest.approx([1, 1, 1]) and s["coverage"][2] == pytest.approx(0.98)
    assert s["rmse"][0] == pytest.approx(np.sqrt(((y[:, 0] + 1) ** 2).mean())) and s["mae"][0] > 0 and s["r2"][0] < 1
    assert r_threshold_table([0.995, 0.96, 0.91, 0.5, np.nan]) == {0.99: 0.25, 0.95: 0.5, 0.9: 0.75, 0.8: 0.75}
