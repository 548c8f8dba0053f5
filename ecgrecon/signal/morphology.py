"""Morphology metrics: R-peak amplitude, ST level at J+60 ms and T amplitude, truth vs reconstruction.

The same measurement program is applied to the true 12-lead ECG and to the 12-lead ECG whose
target leads (V1, V3-V6) are replaced by a method's reconstruction, so a perfect
reconstruction has zero error, and a reconstruction that moves the fiducial points (e.g. a
smeared QRS shifts the J point) is charged for it, as a measuring program would be.

Beat detector (:func:`ecgrecon.signal.measures.detect_r_peaks`, the package's one R-peak detector), for
(L, T) signals in mV at ``fs`` Hz:
1. each lead is band-passed 5-15 Hz (2nd-order Butterworth, zero phase): the QRS band;
2. energy = sum over leads of the squared first difference, smoothed by a centred 100-ms
   moving average;
3. candidate beats = local maxima of the energy at least 0.3 x its 99th percentile and at
   least 250 ms apart (``scipy.signal.find_peaks``);
4. each candidate is moved to the R peak: on the spatial magnitude (root sum of squares over
   leads of the 0.5-Hz high-passed signal, interpolated x5 by polyphase resampling so the
   10-ms grid does not decide between close deflections), the *first* local maximum within
   +-60 ms that reaches 85 % of the largest one, rounded to the nearest sample. A QRS with
   two deflections of near-equal magnitude (R in V4, S in V3, say) is so marked on the
   earlier one instead of flipping between them from beat to beat. On the synthetic source
   model ~99 % of beats are within 20 ms of the largest deflection of the noise-free 1-kHz
   ECG (all within 30 ms); on LUDB the median distance to the cardiologists' lead-II R marks
   is <= 10 ms.

Delineator (:func:`measure_ecg`), on the median beat of a 12-lead ECG (``ecgrecon.signal.measures``,
shared with the realism report, so the definitions are the same everywhere):
- median beat: sample-wise median over the detected beats of the windows [-300, +500] ms
  around the R peaks (only beats whose window fits in the signal);
- QRS onset and J point (QRS offset): on the median beat upsampled x5, the spatial velocity
  over the 8 independent leads (I, II, V1-V6); first / last sample within [-120, +180] ms of
  its maximum where it is >= 15 % of that maximum;
- baseline per lead: PR level, median over 40 ms ending 20 ms before QRS onset;
- R amplitude per lead: maximum of (beat - baseline) between QRS onset and J (mV);
- ST per lead: (beat - baseline) at J + 60 ms (mV);
- T amplitude per lead: the signed largest deviation of (beat - baseline) within
  J + 80 ms .. J + 450 ms (mV).
A signal with no usable beat gives NaN measures (counted as failures in the tables).

On a 2.56-s segment the median beat rests on one or two beats; 10-s records (the
reassembled ``records/`` windows) are the intended unit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ecgrecon import LEADS12
from ecgrecon.signal.measures import BEAT_AFTER_S, BEAT_BEFORE_S, check_signal, detect_r_peaks, median_beat, qrs_bounds  # noqa: F401

BASELINE_GAP_S, BASELINE_LEN_S = 0.02, 0.04
ST_OFFSET_S = 0.06
T_WINDOW_S = (0.08, 0.45)
QUANTITIES = ("r_amp", "st60", "t_amp")
QUANTITY_NAMES = {"r_amp": "R-peak amplitude", "st60": "ST level at J+60 ms", "t_amp": "T-wave amplitude"}


def measure_ecg(x12: np.ndarray, fs: float) -> dict:
    """Measures of one 12-lead ECG (12, T) in mV, LEADS12 order.

    Returns ``{"r_amp", "st60", "t_amp": (12,) mV, "n_beats": int, "qrs_onset_s", "j_s":
    float (from the median-beat window start), "peaks": R-peak indices}``; NaN without beats.
    """
    x = check_signal(x12, "12-lead ECG")
    if x.shape[0] != 12:
        raise ValueError(f"12-lead ECG: expected 12 leads, got {x.shape[0]}")
    peaks = detect_r_peaks(x, fs)
    nan = np.full(12, np.nan)
    out = {"r_amp": nan, "st60": nan.copy(), "t_amp": nan.copy(), "n_beats": 0, "qrs_onset_s": np.nan, "j_s": np.nan, "peaks": peaks}
    beat = median_beat(x.T, peaks, fs)
    if beat is None:
        return out
    before, after = int(round(BEAT_BEFORE_S * fs)), int(round(BEAT_AFTER_S * fs))
    out["n_beats"] = int(((peaks >= before) & (peaks + after <= x.shape[1])).sum())
    onset, j = qrs_bounds(beat, fs)
    i_on = int(round(onset * fs))
    hi = max(i_on - int(round(BASELINE_GAP_S * fs)), 1)
    lo = max(hi - int(round(BASELINE_LEN_S * fs)), 0)
    b = beat - np.median(beat[lo:hi], axis=0)
    i_j = int(round(j * fs))
    out["r_amp"] = b[i_on : max(i_j, i_on + 1)].max(axis=0)
    out["st60"] = b[min(int(round((j + ST_OFFSET_S) * fs)), len(b) - 1)]
    seg = b[int(round((j + T_WINDOW_S[0]) * fs)) : int(round((j + T_WINDOW_S[1]) * fs))]
    if len(seg):
        k = np.argmax(np.abs(seg), axis=0)
        out["t_amp"] = seg[k, np.arange(12)]
    out["qrs_onset_s"], out["j_s"] = float(onset), float(j)
    return out


def measure_batch(x: np.ndarray, fs: float) -> dict[str, np.ndarray]:
    """Measures of (n, 12, T) ECGs: ``{quantity: (n, 12)}`` plus ``n_beats`` (n,)."""
    x = np.asarray(x)
    if x.ndim != 3 or x.shape[1] != 12:
        raise ValueError(f"expected (n, 12, samples) ECGs, got shape {x.shape}")
    res = [measure_ecg(e, fs) for e in x]
    out = {q: np.stack([r[q] for r in res]) if res else np.zeros((0, 12)) for q in QUANTITIES}
    out["n_beats"] = np.array([r["n_beats"] for r in res], dtype=np.int64)
    return out


def replace_leads(x12: np.ndarray, pred: np.ndarray, leads) -> np.ndarray:
    """Copy of (n, 12, T) ``x12`` with the given leads replaced by ``pred`` (n, len(leads), T)."""
    idx = [LEADS12.index(str(lead).upper()) for lead in leads]
    if pred.shape != (x12.shape[0], len(idx), x12.shape[2]):
        raise ValueError(f"prediction shape {pred.shape} does not fit {x12.shape} with leads {list(leads)}")
    out = np.array(x12, dtype=np.float32, copy=True)
    out[:, idx] = pred
    return out


def lead_errors(truth: dict, recon: dict, leads) -> pd.DataFrame:
    """Long table of per-record values: record, lead, quantity, truth, recon, error (recon - truth)."""
    idx = [LEADS12.index(str(lead).upper()) for lead in leads]
    n = truth[QUANTITIES[0]].shape[0]
    parts = []
    for q in QUANTITIES:
        for lead, i in zip(leads, idx):
            t, r = truth[q][:, i], recon[q][:, i]
            parts.append(pd.DataFrame({"record": np.arange(n), "lead": lead, "quantity": q, "truth": t, "recon": r, "error": r - t}))
    return pd.concat(parts, ignore_index=True)


def error_summary(errors: pd.DataFrame) -> pd.DataFrame:
    """Per lead and quantity: n, n_failed, bias, sd, mae, Bland-Altman limits (bias +- 1.96 sd), mV."""
    rows = []
    for (lead, q), g in errors.groupby(["lead", "quantity"], sort=False):
        e = g["error"].to_numpy(np.float64)
        ok = np.isfinite(e)
        e = e[ok]
        bias = float(e.mean()) if len(e) else np.nan
        sd = float(e.std(ddof=1)) if len(e) > 1 else np.nan
        rows.append(
            {
                "lead": lead,
                "quantity": q,
                "n": int(ok.sum()),
                "n_failed": int((~ok).sum()),
                "bias_mv": bias,
                "sd_mv": sd,
                "mae_mv": float(np.abs(e).mean()) if len(e) else np.nan,
                "loa_low_mv": bias - 1.96 * sd,
                "loa_high_mv": bias + 1.96 * sd,
            }
        )
    return pd.DataFrame(rows)


def morphology_table(
    truth12: np.ndarray, recon12: dict[str, np.ndarray], fs: float, leads, truth_measures: dict | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Morphology errors of every method on the same ECGs.

    ``truth12``: (n, 12, T) true ECGs; ``recon12``: method -> (n, 12, T) ECGs with the target
    leads reconstructed (see :func:`replace_leads`). Returns (summary per method, lead and
    quantity; long per-record table with a ``method`` column, for Bland-Altman plots).
    """
    truth_m = truth_measures if truth_measures is not None else measure_batch(truth12, fs)
    summaries, longs = [], []
    for method, x in recon12.items():
        if x.shape != truth12.shape:
            raise ValueError(f"method {method}: ECGs of shape {x.shape}, truth has {truth12.shape}")
        err = lead_errors(truth_m, measure_batch(x, fs), leads)
        s = error_summary(err)
        s.insert(0, "method", method)
        err.insert(0, "method", method)
        summaries.append(s)
        longs.append(err)
    return pd.concat(summaries, ignore_index=True), pd.concat(longs, ignore_index=True)
