"""Reconstruction metrics and latent-space separability.

Definitions (per target lead; y = truth, p = prediction, both in mV, original amplitude). RMSE and
R² come in two conventions, reported side by side:

*pooled* (this project's headline; one value over all test samples of the lead):

- ``rmse``: sqrt(mean over all test segments and samples of (y - p)^2)  [headline]
- ``r2``: 1 - SSE/SST pooled over all test samples, SST around the pooled mean of y  [headline]

*segment mean* (the convention of Youssef & Singla and their released code; one value per test
segment i, then the mean over segments):

- ``rmse_seg``: mean_i sqrt(mean_t (y_i - p_i)^2)
- ``r2_seg``: mean_i of r2_i = 1 - SSE_i / SST_i, SST_i around segment i's own mean (sklearn's
  ``r2_score(y_i, p_i)``). A segment whose target is constant (SST_i = 0, all samples equal) gets
  sklearn's ``force_finite`` value: 1.0 if predicted exactly, else 0.0; it is counted in
  ``n_constant_target``. Non-finite r2_i (NaN input) are left out of the mean, as the authors do.
  ``rmse_seg`` <= ``rmse`` always (the mean of per-segment roots vs the root of the pooled mean);
  ``r2_seg`` is usually below ``r2`` (SST_i leaves out the offsets between segments).

Pearson r and MAE:

- ``pearson_seg``: mean over segments of the per-segment Pearson r (segments where y or p is
  constant are left out, counted in ``n_pearson_undefined``)  [headline; the authors' convention]
- ``pearson_pooled``: Pearson r of all samples concatenated
- ``mae``: mean |y - p| (the same in both conventions: segments have equal length)

Record level (Table II): rmse / r2 / pearson per 10-s record (windows reassembled), then mean and
95 % CI (Student t) over records, the record-level analogue of the segment mean; beside them
``rmse_pooled`` / ``r2_pooled`` over all samples of all test records (:func:`pooled_rmse_r2`).
"Mean" rows average the lead values (for the per-record metrics: per record, then CI).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from scipy import stats

METRICS = ("rmse", "rmse_seg", "r2", "r2_seg", "pearson_seg", "pearson_pooled", "mae")
"""Per-lead metric columns of Table I (``lead_metrics`` keys that are averaged over leads; counts excluded)."""
RECORD_METRICS = ("rmse", "r2", "pearson")


def per_segment_pearson(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Pearson r of each row of (n, T) arrays; NaN where either row is constant."""
    y = y - y.mean(axis=-1, keepdims=True)
    p = p - p.mean(axis=-1, keepdims=True)
    den = np.sqrt((y * y).sum(axis=-1) * (p * p).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (y * p).sum(axis=-1) / np.where(den > 0, den, 1.0), np.nan)


def per_segment_rmse_r2(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """RMSE and sklearn-style R² of each row of (n, T) arrays (the authors' per-segment values).

    Returns (rmse_i, r2_i, constant_i): r2_i = 1 - SSE_i / SST_i with SST_i around the row's own
    mean; where the target row is constant (all samples equal) r2_i follows sklearn's
    ``force_finite``: 1.0 if the prediction is exact (SSE_i = 0), else 0.0.
    """
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    err = y - p
    sse = np.einsum("...t,...t->...", err, err)
    dev = y - y.mean(axis=-1, keepdims=True)
    sst = np.einsum("...t,...t->...", dev, dev)
    constant = (y.max(axis=-1) == y.min(axis=-1)) | (sst == 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        r2 = np.where(constant, np.where(sse == 0, 1.0, 0.0), 1.0 - sse / np.where(constant, 1.0, sst))
    return np.sqrt(sse / y.shape[-1]), r2, constant


def lead_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """All segment-level metrics for one lead; y, p: (n_segments, T) in mV (see the module docstring)."""
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    err = y - p
    sse = float((err**2).sum())
    sst = float(((y - y.mean()) ** 2).sum())
    r_seg = per_segment_pearson(y, p)
    pooled = per_segment_pearson(y.reshape(1, -1), p.reshape(1, -1))[0]
    rmse_i, r2_i, constant = per_segment_rmse_r2(y, p)
    r2_ok = np.isfinite(r2_i)
    return {
        "rmse": float(np.sqrt(sse / err.size)),
        "rmse_seg": float(rmse_i.mean()),
        "r2": 1.0 - sse / sst if sst > 0 else float("nan"),
        "r2_seg": float(r2_i[r2_ok].mean()) if r2_ok.any() else float("nan"),
        "pearson_seg": float(np.nanmean(r_seg)) if np.isfinite(r_seg).any() else float("nan"),
        "pearson_pooled": float(pooled),
        "mae": float(np.abs(err).mean()),
        "n_pearson_undefined": int((~np.isfinite(r_seg)).sum()),
        "n_constant_target": int(constant.sum()),
    }


def reassemble(windows: np.ndarray, meta: pd.DataFrame) -> dict[int, np.ndarray]:
    """ecg_id -> (n_leads, n_samples): windows in start order, each from its ``n_keep_from`` on."""
    out = {}
    order = np.lexsort((meta["start"].to_numpy(), meta["ecg_id"].to_numpy()))
    ecg = meta["ecg_id"].to_numpy()[order]
    keep = meta["n_keep_from"].to_numpy()[order]
    bounds = np.flatnonzero(np.r_[True, ecg[1:] != ecg[:-1], True])
    for a, b in zip(bounds[:-1], bounds[1:]):
        parts = [windows[order[i]][..., int(keep[i]) :] for i in range(a, b)]
        out[int(ecg[a])] = np.concatenate(parts, axis=-1)
    return out


def record_lead_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """rmse, r2, pearson of one record and lead (1-D arrays)."""
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    sse = float(((y - p) ** 2).sum())
    sst = float(((y - y.mean()) ** 2).sum())
    return {
        "rmse": float(np.sqrt(sse / y.size)),
        "r2": 1.0 - sse / sst if sst > 0 else float("nan"),
        "pearson": float(per_segment_pearson(y[None], p[None])[0]),
    }


def pooled_rmse_r2(ys, ps) -> tuple[float, float]:
    """RMSE and R² (SST around the pooled mean) over all samples of a list of 1-D arrays (e.g. records)."""
    y = np.concatenate([np.asarray(v, dtype=np.float64).ravel() for v in ys]) if len(ys) else np.zeros(0)
    p = np.concatenate([np.asarray(v, dtype=np.float64).ravel() for v in ps]) if len(ps) else np.zeros(0)
    if y.size == 0:
        return float("nan"), float("nan")
    sse = float(((y - p) ** 2).sum())
    sst = float(((y - y.mean()) ** 2).sum())
    return float(np.sqrt(sse / y.size)), (1.0 - sse / sst if sst > 0 else float("nan"))


def mean_ci(values, level: float = 0.95) -> tuple[float, float, int]:
    """Mean, half-width of the Student-t confidence interval, n (NaNs dropped; CI NaN if n < 2)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return float("nan"), float("nan"), 0
    if len(v) < 2:
        return float(v.mean()), float("nan"), 1
    half = stats.t.ppf(0.5 + level / 2, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))
    return float(v.mean()), float(half), len(v)


def knn_neighbours(features: np.ndarray, groups: np.ndarray, k: int, chunk: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Cosine k nearest neighbours of every row among rows of *other* groups (patients).

    Returns (index (n, k), valid (n, k) bool); fewer than k candidates leave invalid slots.
    """
    f = torch.nn.functional.normalize(torch.from_numpy(np.asarray(features, dtype=np.float32)), dim=1)
    g = torch.from_numpy(np.asarray(groups))
    n = len(f)
    k_eff = max(0, min(k, n - 1))
    idx = np.zeros((n, k_eff), dtype=np.int64)
    valid = np.zeros((n, k_eff), dtype=bool)
    if k_eff == 0:
        return idx, valid
    for lo in range(0, n, chunk):
        sims = f[lo : lo + chunk] @ f.T
        sims = sims.masked_fill(g[lo : lo + chunk, None] == g[None, :], float("-inf"))
        val, ind = torch.topk(sims, k_eff, dim=1)
        idx[lo : lo + chunk] = ind.numpy()
        valid[lo : lo + chunk] = torch.isfinite(val).numpy()
    return idx, valid


def affinity_matrix(labels: np.ndarray, neighbours: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A[i, j] = mean over samples of class i of the share of their neighbours in class j.

    ``labels``: (n, C) bool multi-hot. Samples without valid neighbours are left out.
    Returns (A (C, C) with NaN rows for empty classes, n per class).
    """
    labels = np.asarray(labels, dtype=bool)
    n_valid = valid.sum(axis=1)
    usable = n_valid > 0
    share = np.zeros((len(labels), labels.shape[1]))
    if neighbours.shape[1]:
        hits = labels[neighbours] & valid[..., None]  # (n, k, C)
        share[usable] = hits[usable].sum(axis=1) / n_valid[usable, None]
    a = np.full((labels.shape[1], labels.shape[1]), np.nan)
    counts = np.zeros(labels.shape[1], dtype=np.int64)
    for i in range(labels.shape[1]):
        rows = labels[:, i] & usable
        counts[i] = int(rows.sum())
        if counts[i]:
            a[i] = share[rows].mean(axis=0)
    return a, counts
