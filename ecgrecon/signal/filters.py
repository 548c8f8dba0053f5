"""Signal cleaning, vectorised over a batch: notch, band-pass, resampling, median baseline.

Arrays are ``(..., time)`` (time on the last axis). :func:`clean_batch` chains the steps for
``(records, samples, leads)`` input and returns float32 at the output rate.

Two steps have a second form, the one of Youssef & Singla's released code (config
``clean.filter_form: ba``, ``clean.median_edges: zero``): the band-pass as a (b, a) transfer
function applied by ``filtfilt`` (ours: second-order sections, ``sosfiltfilt``) and the median
baseline with zero-padded edges as ``scipy.signal.medfilt`` (ours: edge samples repeated).
"""

from __future__ import annotations

from fractions import Fraction
from functools import lru_cache

import numpy as np
import scipy.ndimage as ndi
import scipy.signal as ss

NOTCH_Q = 30.0  # quality factor of the mains notch
MAX_EDGE_OF_NYQUIST = 0.9  # band-pass upper edge is clipped to this fraction of Nyquist
MAX_RESAMPLE_FACTOR = 1000  # up/down factors above this count as "cannot resample"
FILTER_FORMS = ("sos", "ba")  # band-pass: second-order sections + sosfiltfilt (ours) | (b, a) + filtfilt (the authors')
MEDIAN_EDGES = ("replicate", "zero")  # median baseline edges: repeat the end samples (ours) | zero padding (medfilt, the authors')


@lru_cache(maxsize=32)
def _notch_sos(fs: float, f0: float) -> np.ndarray:
    b, a = ss.iirnotch(f0, NOTCH_Q, fs=fs)
    return ss.tf2sos(b, a)


@lru_cache(maxsize=32)
def _bandpass_sos(fs: float, lo: float, hi: float, order: int) -> np.ndarray:
    return ss.butter(order, [lo, hi], btype="bandpass", fs=fs, output="sos")


@lru_cache(maxsize=32)
def _bandpass_ba(fs: float, lo: float, hi: float, order: int) -> tuple[np.ndarray, np.ndarray]:
    return ss.butter(order, [lo, hi], btype="bandpass", fs=fs)


def notch(x: np.ndarray, fs: float, f0: float | None) -> tuple[np.ndarray, str | None]:
    """Zero-phase mains notch at ``f0``; skipped (returns a note) when ``f0`` is None (switched
    off in the config) or ``f0 >= fs / 2``."""
    if f0 is None:
        return x, "notch switched off (clean.notch_hz: null)"
    if f0 >= fs / 2:
        return x, (f"notch {f0:g} Hz skipped: at or above the Nyquist frequency ({fs / 2:g} Hz) of the {fs:g} Hz source")
    return ss.sosfiltfilt(_notch_sos(float(fs), float(f0)), x, axis=-1), None


def bandpass_edges(fs: float, lo: float, hi: float) -> tuple[float, float]:
    """Band edges actually used: ``hi`` clipped below Nyquist; error if nothing is left."""
    hi_used = min(hi, MAX_EDGE_OF_NYQUIST * fs / 2)
    if not 0 < lo < hi_used:
        raise ValueError(f"band-pass {lo:g}-{hi:g} Hz impossible at {fs:g} Hz")
    return lo, hi_used


def bandpass(x: np.ndarray, fs: float, lo: float, hi: float, order: int, axis: int = -1, form: str = "sos") -> np.ndarray:
    """Zero-phase Butterworth band-pass along ``axis`` (default the last): the one band-pass of the
    package (cleaning, the beat detector, the waveform measures).

    ``order`` is the order of the designed Butterworth filter; the forward-backward pass squares
    its magnitude response. ``form="sos"``: second-order sections with ``sosfiltfilt``;
    ``form="ba"``: the (b, a) transfer function with ``filtfilt`` and
    ``padlen = 3 * max(len(a), len(b))``, as in Youssef & Singla's code.
    """
    lo, hi = bandpass_edges(fs, lo, hi)
    if form == "sos":
        return ss.sosfiltfilt(_bandpass_sos(float(fs), lo, hi, int(order)), x, axis=axis)
    if form == "ba":
        b, a = _bandpass_ba(float(fs), lo, hi, int(order))
        return ss.filtfilt(b, a, x, axis=axis, padlen=3 * max(len(a), len(b)))
    raise ValueError(f"unknown band-pass form {form!r} (expected one of {FILTER_FORMS})")


@lru_cache(maxsize=32)
def _highpass_sos(fs: float, f: float, order: int) -> np.ndarray:
    return ss.butter(order, f, btype="high", fs=fs, output="sos")


def highpass(x: np.ndarray, fs: float, f: float, order: int, axis: int = -1) -> np.ndarray:
    """Zero-phase Butterworth high-pass at ``f`` Hz along ``axis``."""
    return ss.sosfiltfilt(_highpass_sos(float(fs), float(f), int(order)), x, axis=axis)


def resample_factors(fs_in: float, fs_out: float) -> tuple[int, int]:
    """(up, down) with ``fs_in * up / down == fs_out``; ValueError when not a small fraction."""
    ratio = Fraction(str(float(fs_out))) / Fraction(str(float(fs_in)))
    if max(ratio.numerator, ratio.denominator) > MAX_RESAMPLE_FACTOR:
        raise ValueError(f"{fs_in:g} Hz -> {fs_out:g} Hz needs the ratio {ratio}, not a small fraction")
    return ratio.numerator, ratio.denominator


def resample(x: np.ndarray, fs_in: float, fs_out: float) -> np.ndarray:
    """Polyphase resampling along the last axis (no-op when the rates match)."""
    up, down = resample_factors(fs_in, fs_out)
    if up == down:
        return x
    return ss.resample_poly(x, up, down, axis=-1)


def median_width(fs: float, window_s: float) -> int:
    """Odd number of samples of a ``window_s`` moving median (0.6 s at 100 Hz -> 61)."""
    return 2 * int(round(window_s * fs / 2)) + 1


def moving_median(x: np.ndarray, width: int, edges: str = "replicate") -> np.ndarray:
    """Centred moving median along the last axis (float32).

    ``edges="replicate"``: windows past the ends repeat the end samples (``mode="nearest"``);
    ``edges="zero"``: they see zeros, exactly ``scipy.signal.medfilt(row, width)`` row by row.
    All rows are padded by ``width // 2`` (edge values or zeros) and joined into one 1-D array,
    so a single call of scipy's fast 1-D rank filter serves the whole batch; the padding keeps
    every window inside its own row.
    """
    if edges not in MEDIAN_EDGES:
        raise ValueError(f"unknown median edges {edges!r} (expected one of {MEDIAN_EDGES})")
    h = width // 2
    rows = np.asarray(x, dtype=np.float32).reshape(-1, x.shape[-1])
    padded = np.pad(rows, ((0, 0), (h, h)), mode="edge" if edges == "replicate" else "constant")
    med = ndi.median_filter(padded.reshape(-1), size=width, mode="nearest")
    return med.reshape(padded.shape)[:, h : h + x.shape[-1]].reshape(x.shape)


def remove_baseline(x: np.ndarray, fs: float, window_s: float, edges: str = "replicate") -> np.ndarray:
    """Subtract the moving-median baseline (``window_s`` seconds, ``edges`` as :func:`moving_median`)
    along the last axis."""
    return x - moving_median(x, median_width(fs, window_s), edges)


def check_rate(fs_in: float, cfg: dict) -> None:
    """ValueError if a record at ``fs_in`` cannot be filtered and resampled to ``cfg['fs']``."""
    lo, hi = cfg["bandpass_hz"]
    bandpass_edges(fs_in, lo, hi)
    resample_factors(fs_in, cfg["fs"])


def clean_batch(x: np.ndarray, fs_in: float, cfg: dict) -> tuple[np.ndarray, list[str]]:
    """Clean ``(records, samples, leads)`` at ``fs_in``; returns float32 at ``cfg['fs']``.

    Steps: notch (source rate), band-pass (source rate; ``filter_order``, ``filter_form``),
    resampling, median baseline removal (output rate, where the median is cheapest;
    ``median_window_s``, ``median_edges``). Returns the array and notes for the log.
    """
    notes = []
    y = np.ascontiguousarray(np.swapaxes(x, 1, 2), dtype=np.float64)
    y, note = notch(y, fs_in, cfg["notch_hz"])
    if note:
        notes.append(note)
    lo, hi = cfg["bandpass_hz"]
    y = bandpass(y, fs_in, lo, hi, cfg["filter_order"], form=cfg["filter_form"])
    y = resample(y, fs_in, cfg["fs"])
    y = remove_baseline(y.astype(np.float32), cfg["fs"], cfg["median_window_s"], cfg["median_edges"])
    return np.swapaxes(y, 1, 2), notes
