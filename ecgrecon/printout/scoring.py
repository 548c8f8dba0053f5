"""Scores of a digitised record against its label: Challenge-2024 SNR, Pearson r, R2, RMSE (mV), MAE, the r-threshold table.

Arrays are (n_samples, n_leads) (or 1-D for one lead), in mV. ``plotted`` (same shape, or
(n_leads, n_samples) as ``PrintoutTruth.plotted()`` gives it) marks the samples the image shows;
unplotted samples are left out of every score. The Challenge's own rules otherwise: NaN in the
output counts as 0 (a missing sample), NaN in the label is left out.
"""

from __future__ import annotations

import numpy as np

from ecgrecon.signal.metrics import per_segment_pearson

R_THRESHOLDS = (0.99, 0.95, 0.90, 0.80)
"""The source's table: share of records with r at or above each threshold."""


def _prepare(label, output, plotted=None) -> tuple[np.ndarray, np.ndarray]:
    y = np.array(label, dtype=np.float64, copy=True)
    p = np.array(output, dtype=np.float64, copy=True)
    if y.ndim == 1:
        y, p = y[:, None], p[:, None]
    if y.shape != p.shape:
        raise ValueError(f"label {y.shape} and output {p.shape} differ in shape")
    if plotted is not None:
        m = np.asarray(plotted, dtype=bool)
        m = m[:, None] if m.ndim == 1 else m
        if m.shape != y.shape and m.T.shape == y.shape:
            m = m.T
        if m.shape != y.shape:
            raise ValueError(f"plotted mask {m.shape} does not fit the label {y.shape}")
        y[~m] = np.nan
    return y, p


def snr_challenge(label, output, plotted=None) -> np.ndarray:
    """PhysioNet Challenge 2024 SNR per lead: 10 log10(sum label^2 / sum (output - label)^2) over the label's finite
    (and plotted) samples, NaN output samples counted as 0; inf for an exact output, NaN for a zero label."""
    y, p = _prepare(label, output, plotted)
    out = np.full(y.shape[1], np.nan)
    for j in range(y.shape[1]):
        ok = np.isfinite(y[:, j])
        x, o = y[ok, j], np.nan_to_num(p[ok, j], nan=0.0)
        sig, noise = float((x**2).sum()), float(((o - x) ** 2).sum())
        out[j] = 10 * np.log10(sig / noise) if sig > 0 and noise > 0 else (np.inf if sig > 0 else np.nan)
    return out


def lead_scores(label, output, plotted=None) -> dict[str, np.ndarray]:
    """Per lead: ``snr`` (Challenge), ``pearson`` (r), ``r2`` (1 - SSE/SST around the label's mean), ``rmse`` and
    ``mae`` (mV), ``coverage`` (share of plotted samples with a finite output). r, R2, RMSE, MAE use the samples
    where both are finite; the SNR follows the Challenge (missing output = 0)."""
    y, p = _prepare(label, output, plotted)
    n = y.shape[1]
    res = {k: np.full(n, np.nan) for k in ("pearson", "r2", "rmse", "mae", "coverage")}
    res["snr"] = snr_challenge(y, p)
    for j in range(n):
        shown = np.isfinite(y[:, j])
        ok = shown & np.isfinite(p[:, j])
        res["coverage"][j] = ok.sum() / shown.sum() if shown.any() else np.nan
        if ok.sum() < 2:
            continue
        yy, pp = y[ok, j], p[ok, j]
        err = pp - yy
        sst = float(((yy - yy.mean()) ** 2).sum())
        res["pearson"][j] = float(per_segment_pearson(yy[None], pp[None])[0])
        res["r2"][j] = 1.0 - float((err**2).sum()) / sst if sst > 0 else np.nan
        res["rmse"][j] = float(np.sqrt((err**2).mean()))
        res["mae"][j] = float(np.abs(err).mean())
    return res


def r_threshold_table(r_values, thresholds=R_THRESHOLDS) -> dict[float, float]:
    """Share of records (finite r values, e.g. a record's mean r over leads) with r >= each threshold."""
    r = np.asarray(r_values, dtype=np.float64).ravel()
    r = r[np.isfinite(r)]
    return {float(t): (float((r >= t).mean()) if r.size else float("nan")) for t in thresholds}
