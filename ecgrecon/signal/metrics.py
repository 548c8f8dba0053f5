"""Reconstruction metrics and latent-space separability.

Definitions (per target lead; y = truth, p = prediction, both in mV, original amplitude):
- ``rmse``: sqrt(mean over all test segments and samples of (y - p)^2)  [pooled; headline]
- ``r2``: 1 - SSE/SST pooled over all test samples, SST around the pooled mean of y  [headline]
- ``pearson_seg``: mean over segments of the per-segment Pearson r (segments where y or p is
  constant are left out)  [headline]
- ``pearson_pooled``: Pearson r of all samples concatenated
- ``mae``: mean |y - p|
Record level: the same per 10-s record (windows reassembled), then mean and 95 % CI (Student
t) over records. "Mean" rows average the lead values (for records: per record, then CI).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from scipy import stats

METRICS = ("rmse", "r2", "pearson_seg", "pearson_pooled", "mae")
RECORD_METRICS = ("rmse", "r2", "pearson")


def per_segment_pearson(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Pearson r of each row of (n, T) arrays; NaN where either row is constant."""
    y = y - y.mean(axis=-1, keepdims=True)
    p = p - p.mean(axis=-1, keepdims=True)
    den = np.sqrt((y * y).sum(axis=-1) * (p * p).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (y * p).sum(axis=-1) / np.where(den > 0, den, 1.0), np.nan)


def lead_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """All segment-level metrics for one lead; y, p: (n_segments, T) in mV."""
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    err = y - p
    sse = float((err**2).sum())
    sst = float(((y - y.mean()) ** 2).sum())
    r_seg = per_segment_pearson(y, p)
    pooled = per_segment_pearson(y.reshape(1, -1), p.reshape(1, -1))[0]
    return {
        "rmse": float(np.sqrt(sse / err.size)),
        "r2": 1.0 - sse / sst if sst > 0 else float("nan"),
        "pearson_seg": float(np.nanmean(r_seg)) if np.isfinite(r_seg).any() else float("nan"),
        "pearson_pooled": float(pooled),
        "mae": float(np.abs(err).mean()),
        "n_pearson_undefined": int((~np.isfinite(r_seg)).sum()),
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
