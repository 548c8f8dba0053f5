"""QC pass 1 (stage ``qc_stats``): per-lead percentile bounds of window amplitude and RMS.

Windows are drawn with a seeded generator (record, start) uniformly over the cleaned records;
per lead an amplitude statistic and the RMS of each window are collected and bounded at the
configured percentiles. The amplitude statistic (config ``qc.statistic``) is the peak-to-peak
amplitude (``ptp``, ours) or the maximum absolute value (``max_abs``, Youssef & Singla's code);
``qc_stats.json`` names it and keeps its bounds under that name. Pass 2
(:mod:`ecgrecon.data.segment`) rejects a window when more than ``qc.max_bad_leads`` leads are
outside the bounds.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import h5py
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ecgrecon import LEADS12
from ecgrecon.io.atomic import save_png, write_json

BLOCK_RECORDS = 256  # records read from the cleaned HDF5 at a time
STATISTICS = ("ptp", "max_abs")  # window amplitude statistics (config qc.statistic)


def reasons(statistic: str = "ptp") -> tuple[str, str, str, str]:
    """Failure reasons of :func:`check_bounds`, in its order: amplitude low / high, RMS low / high."""
    check_statistic(statistic)
    return (f"{statistic}_low", f"{statistic}_high", "rms_low", "rms_high")


def check_statistic(statistic: str) -> str:
    """``statistic`` if it is one of :data:`STATISTICS`, else ValueError."""
    if statistic not in STATISTICS:
        raise ValueError(f"unknown QC statistic {statistic!r} (expected one of {STATISTICS})")
    return statistic


REASONS = reasons("ptp")


def _amplitude(hi: np.ndarray, lo: np.ndarray, statistic: str) -> np.ndarray:
    """The amplitude statistic from a window's max and min: ptp = max - min, max_abs = max(max, -min)."""
    return hi - lo if check_statistic(statistic) == "ptp" else np.maximum(hi, -lo)


def window_stats(
    sig: np.ndarray, starts: np.ndarray, window: int, rows: np.ndarray | None = None, statistic: str = "ptp"
) -> tuple[np.ndarray, np.ndarray]:
    """Amplitude statistic (``statistic``: peak-to-peak or max |x|) and RMS per lead of windows of
    ``sig`` (records, samples, leads).

    Without ``rows``: every record x every start -> arrays (records, n_starts, leads), from
    per-block max/min/sum of squares (blocks of gcd(starts, window) samples). With ``rows`` (one record
    index per start): one window each -> (n_starts, leads).
    """
    starts = np.asarray(starts)
    if rows is not None:
        w = sig[rows[:, None], starts[:, None] + np.arange(window)]
        rms = np.sqrt(np.einsum("ktl,ktl->kl", w, w, dtype=np.float64) / window)
        return _amplitude(w.max(axis=1), w.min(axis=1), statistic), rms.astype(np.float32)
    # Every start and the window length are multiples of g: reduce blocks of g samples once,
    # then each window is W / g consecutive blocks.
    g = math.gcd(window, *map(int, starts))
    n_blocks, per_win = (int(starts.max()) + window) // g, window // g
    blocks = sig[:, : n_blocks * g].reshape(len(sig), n_blocks, g, sig.shape[2])
    first = starts // g
    hi = sliding_window_view(blocks.max(axis=2), per_win, axis=1)[:, first].max(axis=-1)
    lo = sliding_window_view(blocks.min(axis=2), per_win, axis=1)[:, first].min(axis=-1)
    sq = np.zeros((len(sig), n_blocks + 1, sig.shape[2]))
    np.cumsum(np.square(blocks, dtype=np.float64).sum(axis=2), axis=1, out=sq[:, 1:])
    rms = np.sqrt(np.maximum(sq[:, first + per_win] - sq[:, first], 0.0) / window)
    return _amplitude(hi, lo, statistic), rms.astype(np.float32)


def check_bounds(amp: np.ndarray, rms: np.ndarray, bounds: dict) -> np.ndarray:
    """Boolean failures (..., leads, 4) in :func:`reasons` order for stats vs. QC bounds; ``amp`` is
    the statistic ``bounds["statistic"]`` names (a :func:`load_bounds` dict)."""
    key = bounds["statistic"]
    return np.stack(
        [
            amp < np.asarray(bounds[key]["lo"]),
            amp > np.asarray(bounds[key]["hi"]),
            rms < np.asarray(bounds["rms"]["lo"]),
            rms > np.asarray(bounds["rms"]["hi"]),
        ],
        axis=-1,
    )


def bad_leads(fails: np.ndarray) -> np.ndarray:
    """Leads out of bounds per window, (..., leads, reasons) failures -> (...) counts."""
    return fails.any(axis=-1).sum(axis=-1)


def load_bounds(qc_json, window: int, statistic: str = "ptp") -> dict:
    """Read qc_stats.json; ValueError (naming the file) if it is malformed or does not fit
    ``window``, ``statistic`` or the lead order."""
    check_statistic(statistic)
    try:
        stats = json.loads(Path(qc_json).read_text())
        found = stats.get("statistic", "none (a file written before qc.statistic existed)")
    except (json.JSONDecodeError, AttributeError) as exc:
        raise ValueError(f"{qc_json}: not a valid QC stats file ({exc!r})") from None
    if found != statistic:
        raise ValueError(f"{qc_json}: bounds were computed for statistic {found}, segmenting uses qc.statistic {statistic}")
    try:
        arrays = [np.asarray(stats[k][e], dtype=float) for k in (statistic, "rms") for e in ("lo", "hi")]
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{qc_json}: not a valid QC stats file ({exc!r})") from None
    if stats.get("window") != window:
        raise ValueError(f"{qc_json}: bounds were computed for window {stats.get('window')}, segmenting uses window {window}")
    if list(stats.get("leads", [])) != list(LEADS12) or any(a.shape != (len(LEADS12),) for a in arrays):
        raise ValueError(f"{qc_json}: bounds must be given for the leads {list(LEADS12)} in that order")
    return stats


def open_signals(h5: h5py.File, path, window: int) -> h5py.Dataset:
    """The ``signals`` dataset of a cleaned file, checked to hold records of >= ``window``."""
    if "signals" not in h5 or "meta" not in h5:
        raise ValueError(f"{path}: not a cleaned-records file (no signals/meta)")
    ds = h5["signals"]
    if ds.shape[0] == 0:
        raise ValueError(f"{path}: no records to compute QC on")
    if ds.shape[1] < window:
        raise ValueError(f"{path}: records of {ds.shape[1]} samples are shorter than window {window}")
    if ds.shape[2] != len(LEADS12):
        raise ValueError(f"{path}: expected {len(LEADS12)} leads, found {ds.shape[2]}")
    return ds


def sample_window_stats(ds: h5py.Dataset, window: int, n_windows: int, seed: int, statistic: str = "ptp"):
    """Seeded uniform sample of windows -> (amplitude ``statistic``, rms) arrays (n_windows, leads)."""
    n_rec, n_t = ds.shape[:2]
    rng = np.random.default_rng(seed)
    rec = rng.integers(0, n_rec, n_windows)
    start = rng.integers(0, n_t - window + 1, n_windows)
    amp = np.empty((n_windows, ds.shape[2]), np.float32)
    rms = np.empty_like(amp)
    for b0 in range(0, n_rec, BLOCK_RECORDS):
        sel = np.flatnonzero((rec >= b0) & (rec < b0 + BLOCK_RECORDS))
        if len(sel):
            block = ds[b0 : b0 + BLOCK_RECORDS]
            amp[sel], rms[sel] = window_stats(block, start[sel], window, rows=rec[sel] - b0, statistic=statistic)
    return amp, rms


def compute_qc_stats(
    clean_h5, out_json, out_png, percentiles, window: int, n_windows: int, seed: int, log=print, statistic: str = "ptp"
) -> dict:
    """Pass 1: write per-lead percentile bounds (``qc_stats.json``) and their histograms.

    ``statistic`` (``ptp`` | ``max_abs``) is the window amplitude statistic bounded beside the RMS;
    the file records it (``"statistic"``) and holds its bounds under that name."""
    check_statistic(statistic)
    lo_p, hi_p = (float(p) for p in percentiles)
    if not 0 <= lo_p < hi_p <= 100:
        raise ValueError(f"QC percentiles must satisfy 0 <= lo < hi <= 100, got {percentiles}")
    if n_windows < 1:
        raise ValueError(f"qc n_sample_windows must be >= 1, got {n_windows}")
    with h5py.File(clean_h5, "r") as h5:
        ds = open_signals(h5, clean_h5, window)
        log(f"qc_stats: sampling {n_windows} windows of {window} from {ds.shape[0]} records (seed {seed}); statistics {statistic}, rms")
        amp, rms = sample_window_stats(ds, window, n_windows, seed, statistic)
    bounds = {}
    for name, values in ((statistic, amp), ("rms", rms)):
        lo, hi = np.percentile(values.astype(np.float64), [lo_p, hi_p], axis=0)
        bounds[name] = {"lo": lo.tolist(), "hi": hi.tolist()}
    stats = {
        "percentiles": [lo_p, hi_p],
        "window": int(window),
        "n_windows": int(n_windows),
        "seed": int(seed),
        "leads": list(LEADS12),
        "statistic": statistic,
        **bounds,
    }
    write_json(out_json, stats)
    plot_histograms(amp, rms, stats, out_png)
    log(f"qc_stats: bounds written to {out_json}; histograms to {out_png}")
    return stats


def plot_histograms(amp: np.ndarray, rms: np.ndarray, stats: dict, out_png) -> None:
    """Per-lead histograms of the sampled amplitude statistic (``stats["statistic"]``) / RMS as heat
    rows (log-spaced mV bins, log counts), bounds marked in red (PNG, atomic). One mesh per panel
    keeps this fast."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    for ax, (name, values) in zip(axes, ((stats["statistic"], amp), ("rms", rms))):
        v = np.clip(values, 1e-4, None)
        edges = np.logspace(np.log10(v.min()), np.log10(v.max()) + 1e-9, 81)
        counts = np.stack([np.histogram(v[:, j], edges)[0] for j in range(v.shape[1])])
        mesh = ax.pcolormesh(edges, np.arange(len(LEADS12) + 1) - 0.5, np.log10(counts + 1), cmap="Greys")
        rows = np.arange(len(LEADS12))
        for edge in ("lo", "hi"):
            ax.vlines(stats[name][edge], rows - 0.45, rows + 0.45, color="crimson", lw=1.5)
        ax.set_xscale("log")
        ax.set_yticks(rows, LEADS12)
        ax.invert_yaxis()
        ax.set_xlabel(f"window {name} (mV)")
        fig.colorbar(mesh, ax=ax, label="log10(1 + windows)")
    fig.suptitle(
        f"QC pass 1: {stats['n_windows']} windows of {stats['window']} samples; red: bounds at percentiles {stats['percentiles']}",
        fontsize=10,
    )
    save_png(fig, out_png, dpi=80)
