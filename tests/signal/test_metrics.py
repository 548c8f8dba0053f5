"""Metric definitions, record reassembly, confidence intervals and the k-NN affinity."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ecgrecon.signal.metrics import affinity_matrix, knn_neighbours, lead_metrics, mean_ci, reassemble, record_lead_metrics


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
