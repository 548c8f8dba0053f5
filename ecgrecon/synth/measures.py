"""Simple, documented ECG measures applied identically to synthetic and real records.

- ``bandpass``: 2nd-order Butterworth, zero phase (``sosfiltfilt``), 0.5-45 Hz by default.
- ``r_peaks``: beats on lead II from the energy of its 5-15 Hz band (squared derivative,
  100 ms moving average), peaks >= 0.3 x the 99th percentile and >= 250 ms apart.
- ``median_beat``: sample-wise median of the beats' windows [-300, +500] ms (all 12 leads).
- ``qrs_bounds``: on the median beat upsampled x5 (polyphase), the spatial velocity over the
  8 independent leads (I, II, V1-V6); QRS = first / last sample within [-120, +180] ms of its
  maximum where it is >= 15 % of that maximum (on LUDB this reads ~15 ms shorter than the
  cardiologists' lead-II annotations; see docs/realism.md).
- ``st_t_levels``: per lead, ST level at J+60 ms and T amplitude (the largest deviation in
  J+80..J+450 ms, signed), both relative to the PR baseline (median over 40 ms ending
  20 ms before QRS onset).
"""

from __future__ import annotations

import numpy as np
from scipy.signal import butter, find_peaks, resample_poly, sosfiltfilt

INDEPENDENT_IDX = (0, 1, 6, 7, 8, 9, 10, 11)
BEAT_BEFORE_S, BEAT_AFTER_S = 0.3, 0.5
UPSAMPLE = 5
QRS_THRESHOLD = 0.15


def bandpass(x: np.ndarray, fs: float, lo: float = 0.5, hi: float = 45.0, axis: int = -2) -> np.ndarray:
    """Zero-phase 2nd-order Butterworth band-pass along ``axis`` (time)."""
    hi = min(hi, 0.45 * fs)
    sos = butter(2, [lo, hi], btype="band", fs=fs, output="sos")
    return sosfiltfilt(sos, x, axis=axis)


def r_peaks(lead_ii: np.ndarray, fs: float) -> np.ndarray:
    """Sample indices of the beats in one lead (see module docstring)."""
    sos = butter(2, [5.0, 15.0], btype="band", fs=fs, output="sos")
    y = sosfiltfilt(sos, lead_ii)
    energy = np.gradient(y) ** 2
    win = max(int(round(0.1 * fs)), 1)
    energy = np.convolve(energy, np.ones(win) / win, mode="same")
    height = 0.3 * np.percentile(energy, 99)
    if height <= 0:
        return np.array([], dtype=int)
    peaks, _ = find_peaks(energy, height=height, distance=max(int(0.25 * fs), 1))
    return peaks


def heart_rate(peaks: np.ndarray, fs: float) -> float:
    """Beats per minute from the median RR interval (NaN with fewer than 2 beats)."""
    return 60.0 * fs / float(np.median(np.diff(peaks))) if len(peaks) > 1 else float("nan")


def rr_irregularity(peaks: np.ndarray, fs: float) -> float:
    """Coefficient of variation of successive RR intervals (SD / mean)."""
    rr = np.diff(peaks) / fs
    return float(rr.std() / rr.mean()) if len(rr) > 2 else float("nan")


def median_beat(x: np.ndarray, peaks: np.ndarray, fs: float) -> np.ndarray | None:
    """Median beat (L, 12) over beats whose whole window fits in the record."""
    before, after = int(round(BEAT_BEFORE_S * fs)), int(round(BEAT_AFTER_S * fs))
    ok = peaks[(peaks >= before) & (peaks + after <= len(x))]
    if len(ok) == 0:
        return None
    idx = ok[:, None] + np.arange(-before, after)[None, :]
    return np.median(x[idx], axis=0)


def qrs_bounds(beat: np.ndarray, fs: float) -> tuple[float, float]:
    """QRS onset and offset (s from the window start) of a median beat."""
    up = resample_poly(beat[:, INDEPENDENT_IDX], UPSAMPLE, 1, axis=0)
    fu = fs * UPSAMPLE
    sv = np.sqrt((np.gradient(up, axis=0) ** 2).sum(axis=1)) * fu
    centre = int(round(BEAT_BEFORE_S * fu))
    lo_c, hi_c = centre - int(0.08 * fu), centre + int(0.08 * fu)
    peak = lo_c + int(np.argmax(sv[lo_c:hi_c]))
    lo, hi = max(peak - int(0.12 * fu), 0), min(peak + int(0.18 * fu), len(sv))
    above = np.flatnonzero(sv[lo:hi] >= QRS_THRESHOLD * sv[peak]) + lo
    return above[0] / fu, (above[-1] + 1) / fu


def st_t_levels(beat: np.ndarray, fs: float, onset: float, offset: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-lead ST level at J+60 ms and signed T amplitude, relative to the PR baseline (mV)."""
    i_on = int(round(onset * fs))
    base_hi = max(i_on - int(round(0.02 * fs)), 1)
    base_lo = max(base_hi - int(round(0.04 * fs)), 0)
    baseline = np.median(beat[base_lo:base_hi], axis=0)
    j = offset * fs
    st = beat[min(int(round(j + 0.06 * fs)), len(beat) - 1)] - baseline
    seg = beat[int(round(j + 0.08 * fs)):int(round(j + 0.45 * fs))] - baseline
    if len(seg) == 0:
        return st, np.full(beat.shape[1], np.nan)
    k = np.argmax(np.abs(seg), axis=0)
    return st, seg[k, np.arange(seg.shape[1])]


def record_features(x: np.ndarray, fs: float) -> dict:
    """Measures of one record (n_samples, 12) in mV: amplitudes, rate, QRS, ST/T per lead."""
    y = bandpass(x, fs)
    out = {"ptp": y.max(axis=0) - y.min(axis=0), "rms": np.sqrt((y ** 2).mean(axis=0))}
    peaks = r_peaks(y[:, 1], fs)
    out["hr"] = heart_rate(peaks, fs)
    out["rr_cv"] = rr_irregularity(peaks, fs)
    beat = median_beat(y, peaks, fs)
    nan12 = np.full(12, np.nan)
    if beat is None:
        out.update(qrs_ms=np.nan, st=nan12, t_amp=nan12, qrs_amp=nan12)
        return out
    onset, offset = qrs_bounds(beat, fs)
    out["qrs_ms"] = 1000 * (offset - onset)
    out["st"], out["t_amp"] = st_t_levels(beat, fs, onset, offset)
    q = beat[int(round(onset * fs)):int(round(offset * fs)) + 1]
    out["qrs_amp"] = q.max(axis=0) - q.min(axis=0) if len(q) else nan12
    return out
