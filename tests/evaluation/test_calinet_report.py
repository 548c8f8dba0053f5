"""CaLiNet-E's report helpers (ecgrecon.evaluation.calinet_report): nRMSE, the table rows, the synthetic ectopic beat."""

import numpy as np

from ecgrecon.evaluation import calinet_report as cr


def test_nrmse_is_the_error_rms_over_the_signal_rms_per_window():
    rng = np.random.default_rng(0)
    y = rng.normal(size=(4, 2, 50))
    assert cr.nrmse(y, y) == 0.0
    assert np.isclose(cr.nrmse(y, np.zeros_like(y)), 1.0)
    assert np.isclose(cr.nrmse(y, 1.5 * y), 0.5)


def test_rows_per_lead_mean_and_the_anterior_group():
    rng = np.random.default_rng(1)
    y = rng.normal(size=(6, 3, 64))
    rows = cr.method_rows("PCM", y, y + 0.1 * rng.normal(size=y.shape), ["V1", "V4", "V6"])
    by = {r["lead"]: r for r in rows}
    assert set(by) == {"V1", "V4", "V6", "Mean", "Anterior"}
    assert np.isclose(by["Anterior"]["pcc"], (by["V1"]["pcc"] + by["V4"]["pcc"]) / 2)
    assert by["Mean"]["n_windows"] == 6 and 0 < by["Mean"]["nrmse"] < 0.2
    no_ant = cr.method_rows("GL", y[:, 2:], y[:, 2:], ["V6"])
    assert {r["lead"] for r in no_ant} == {"V6", "Mean"}


def test_ectopic_beat_is_added_once_seeded_and_inside_the_window():
    fs, m = 100.0, 200
    t = np.arange(m) / fs
    beat = np.exp(-(((t[None] - np.array([[0.3], [1.1], [1.9]])) / 0.02) ** 2)).sum(axis=0)  # R peaks every 0.8 s
    cal = np.tile(beat, (2, 12, 1)) * np.linspace(0.5, 1.5, 12)[None, :, None]
    a, b = cr.insert_ectopic(cal, fs, seed=3), cr.insert_ectopic(cal, fs, seed=3)
    np.testing.assert_array_equal(a, b)
    diff = np.abs(a - cal).max(axis=1)  # (n, m)
    assert a.shape == cal.shape and (diff.max(axis=1) > 0.5).all()
    changed = np.flatnonzero(diff[0] > 1e-9)
    assert changed.min() > 0.3 * fs and changed.max() < m  # after the first beat, not the whole window
    assert changed.max() - changed.min() < 0.8 * fs
