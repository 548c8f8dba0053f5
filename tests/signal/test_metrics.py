"""Metric definitions, record reassembly, confidence intervals and the k-NN affinity."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ecgrecon.signal.metrics import (
    METRICS,
    affinity_matrix,
    knn_neighbours,
    lead_metrics,
    mean_ci,
    pooled_rmse_r2,
    reassemble,
    record_lead_metrics,
)


def test_lead_metrics_on_known_cases():
    rng = np.random.default_rng(0)
    y = rng.normal(size=(20, 50))
    perfect = lead_metrics(y, y)
    assert perfect["rmse"] == 0 and perfect["r2"] == 1 and perfect["pearson_seg"] == pytest.approx(1)
    mean_pred = lead_metrics(y, np.full_like(y, y.mean()))
    assert mean_pred["r2"] == pytest.approx(0, abs=1e-12)
    assert mean_pred["rmse"] == pytest.approx(y.std())
    doubled = lead_metrics(y, 2 * y)
    assert doubled["pearson_seg"] == pytest.approx(1) and doubled["pearson_pooled"] == pytest.approx(1)
    assert doubled["rmse"] == pytest.approx(np.sqrt((y**2).mean()))
    # per-segment r ignores the offsets between segments; pooled r does not.
    offsets = y + 10 * np.arange(20)[:, None]
    shifted = lead_metrics(offsets, y)
    assert shifted["pearson_seg"] == pytest.approx(1) and shifted["pearson_pooled"] < 0.5
    flat = lead_metrics(y[:2], np.zeros((2, 50)))
    assert flat["n_pearson_undefined"] == 2 and np.isnan(flat["pearson_seg"])


def _by_hand(y, p):
    """Per-segment RMSE and sklearn-style R² (force_finite) of one segment, in plain python."""
    n = len(y)
    sse = sum((a - b) ** 2 for a, b in zip(y, p))
    mean = sum(y) / n
    sst = sum((a - mean) ** 2 for a in y)
    r2 = (1.0 if sse == 0 else 0.0) if sst == 0 else 1.0 - sse / sst
    return (sse / n) ** 0.5, r2


def test_segment_mean_rmse_and_r2_follow_the_authors_convention():
    # two segments of different scale: a small one around 0 and a large one on an offset of 10 mV.
    y = [[0.0, 1.0, 0.0, -1.0, 0.5, -0.5], [10.0, 14.0, 10.0, 6.0, 12.0, 8.0]]
    p = [[0.1, 0.6, -0.1, -0.7, 0.5, -0.2], [11.0, 12.0, 10.0, 8.0, 11.0, 9.0]]
    hand = [_by_hand(a, b) for a, b in zip(y, p)]
    m = lead_metrics(np.array(y), np.array(p))
    assert m["rmse_seg"] == pytest.approx((hand[0][0] + hand[1][0]) / 2, rel=1e-12)
    assert m["r2_seg"] == pytest.approx((hand[0][1] + hand[1][1]) / 2, rel=1e-12)
    assert m["n_constant_target"] == 0
    # the pooled values are a different metric: one RMSE / R² over all 12 samples, SST around the pooled mean.
    flat_y, flat_p = y[0] + y[1], p[0] + p[1]
    sse = sum((a - b) ** 2 for a, b in zip(flat_y, flat_p))
    mean = sum(flat_y) / len(flat_y)
    assert m["rmse"] == pytest.approx((sse / 12) ** 0.5, rel=1e-12)
    assert m["r2"] == pytest.approx(1 - sse / sum((a - mean) ** 2 for a in flat_y), rel=1e-12)
    assert m["rmse_seg"] < m["rmse"] and m["r2_seg"] < m["r2"]  # offsets between segments inflate the pooled SST
    assert {"rmse_seg", "r2_seg"} <= set(METRICS) and set(METRICS) <= set(m)


def test_a_constant_target_segment_scores_like_sklearn_force_finite_and_is_counted():
    wave = [0.0, 1.0, 0.0, -1.0, 0.5, -0.5]
    guess = [0.1, 0.6, -0.1, -0.7, 0.5, -0.2]
    flat = [0.3] * 6  # a constant target (0.3 is not exact in binary: its float mean need not be either)
    r2_wave = _by_hand(wave, guess)[1]
    exact = lead_metrics(np.array([wave, flat]), np.array([guess, flat]))
    assert exact["r2_seg"] == pytest.approx((r2_wave + 1.0) / 2, rel=1e-12)  # exact prediction: 1.0
    assert exact["n_constant_target"] == 1 and exact["n_pearson_undefined"] == 1
    missed = lead_metrics(np.array([wave, flat]), np.array([guess, [0.3, 0.3, 0.3, 0.3, 0.3, 0.4]]))
    assert missed["r2_seg"] == pytest.approx((r2_wave + 0.0) / 2, rel=1e-12)  # else 0.0, not -inf
    assert missed["rmse_seg"] == pytest.approx((_by_hand(wave, guess)[0] + (0.01 / 6) ** 0.5) / 2, rel=1e-9)
    assert missed["n_constant_target"] == 1
    only_flat = lead_metrics(np.array([flat, flat]), np.array([flat, [0.0] * 6]))
    assert only_flat["r2_seg"] == 0.5 and only_flat["n_constant_target"] == 2
    with np.errstate(invalid="ignore"):  # a NaN segment: its R² is not finite and left out of the mean, as the authors do
        nan_seg = lead_metrics(np.array([wave, [np.nan] * 6]), np.array([guess, flat]))
    assert nan_seg["r2_seg"] == pytest.approx(r2_wave, rel=1e-12)


def test_pooled_record_metrics_concatenate_the_records():
    ys, ps = [np.array([0.0, 1.0, 2.0]), np.array([5.0, 5.0])], [np.array([0.0, 1.0, 1.0]), np.array([4.0, 5.0])]
    rmse, r2 = pooled_rmse_r2(ys, ps)
    y = np.concatenate(ys)  # SSE by hand: (2 - 1)^2 + (5 - 4)^2 = 2 over 5 samples
    assert rmse == pytest.approx(np.sqrt(2 / 5)) and r2 == pytest.approx(1 - 2 / ((y - y.mean()) ** 2).sum())
    assert np.isnan(pooled_rmse_r2([], [])[0])


def test_reassemble_rebuilds_the_record_with_the_tail_window():
    record = np.arange(2 * 1000, dtype=float).reshape(2, 1000)  # two leads, 10 s at 100 Hz
    starts, keep = [0, 256, 512, 744], [0, 0, 0, 24]  # last window aligned to the end, overlap 24
    windows = np.stack([record[:, s : s + 256] for s in starts])
    meta = pd.DataFrame({"ecg_id": [7] * 4, "start": starts, "n_keep_from": keep})
    shuffled = [2, 0, 3, 1]
    out = reassemble(windows[shuffled], meta.iloc[shuffled].reset_index(drop=True))
    assert list(out) == [7]
    np.testing.assert_array_equal(out[7], record)


def test_record_metrics_and_ci():
    y = np.sin(np.linspace(0, 20, 1000))
    m = record_lead_metrics(y, y + 0.1)
    assert m["rmse"] == pytest.approx(0.1) and m["pearson"] == pytest.approx(1)
    mean, half, n = mean_ci([1.0, 2.0, 3.0, np.nan])
    assert (mean, n) == (2.0, 3)
    assert half == pytest.approx(stats.t.ppf(0.975, 2) * 1.0 / np.sqrt(3))
    assert np.isnan(mean_ci([5.0])[1]) and mean_ci([])[2] == 0


def test_knn_affinity_excludes_same_patient_neighbours():
    # class A around +x, class B around +y; each point has a near-duplicate from the same patient.
    rng = np.random.default_rng(1)
    a = np.array([1.0, 0.0]) + 0.05 * rng.normal(size=(6, 2))
    b = np.array([0.0, 1.0]) + 0.05 * rng.normal(size=(6, 2))
    feats = np.vstack([a, b])
    labels = np.array([[1, 0]] * 6 + [[0, 1]] * 6, dtype=bool)
    patients = np.arange(12)
    nb, valid = knn_neighbours(feats, patients, k=3)
    a_mat, counts = affinity_matrix(labels, nb, valid)
    np.testing.assert_allclose(a_mat, np.eye(2))
    assert counts.tolist() == [6, 6]
    # the same points, but every class-A point shares its patient with all other A points:
    grouped = np.array([0] * 6 + list(range(1, 7)))
    nb, valid = knn_neighbours(feats, grouped, k=3)
    assert not np.isin(nb[:6][valid[:6]], np.arange(6)).any()
    a_mat, _ = affinity_matrix(labels, nb, valid)
    assert a_mat[0, 0] == 0 and a_mat[0, 1] == 1  # only B points are left as neighbours of A
    # fewer candidates than k: the empty slots are flagged invalid, not counted.
    nb, valid = knn_neighbours(feats[:3], np.array([0, 0, 1]), k=2)
    assert valid.sum(axis=1).tolist() == [1, 1, 2]
