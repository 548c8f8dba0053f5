"""QC pass 2 (stage ``segment``): windows inside the QC bounds, plus record-level windows.

Two streaming passes over the cleaned records: pass A computes every window's per-lead
statistics and decides what is kept (so the output size is known); pass B writes the kept
windows into preallocated, contiguous (unchunked) HDF5 datasets, channels first.
"""

from __future__ import annotations

import json
import time

import h5py
import numpy as np
import pandas as pd

from ecgrecon import LEADS12
from ecgrecon.data.qc import BLOCK_RECORDS, REASONS, check_bounds, load_bounds, open_signals, window_stats
from ecgrecon.io.atomic import atomic_path, write_csv
from ecgrecon.io.h5io import read_table, write_table


def hop_starts(n_samples: int, window: int, hop: int) -> np.ndarray:
    """Starts 0, hop, 2 hop, ... of every full window."""
    if window < 1 or hop < 1:
        raise ValueError(f"window ({window}) and hop ({hop}) must be >= 1")
    return np.arange(0, n_samples - window + 1, hop)


def record_windows(n_samples: int, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Non-overlapping windows covering a record: (starts, n_keep_from).

    Starts are 0, W, 2W, ... plus one last window aligned to the record end when W does not
    divide the length. ``n_keep_from`` is an offset inside each window: the first sample not
    already covered by the previous window (0 except for that last window). Reassembly:
    ``out[start + k:start + W] = win[k:]`` with ``k = n_keep_from``.
    """
    if n_samples < window:
        raise ValueError(f"records of {n_samples} samples are shorter than window {window}")
    starts = list(range(0, n_samples - window + 1, window))
    keep = [0] * len(starts)
    covered = starts[-1] + window
    if covered < n_samples:
        starts.append(n_samples - window)
        keep.append(covered - (n_samples - window))
    return np.array(starts), np.array(keep)


def _windows(sig_block: np.ndarray, starts: np.ndarray, window: int, mask: np.ndarray) -> np.ndarray:
    """Channels-first windows (n, leads, window) of a (records, T, leads) block where ``mask``
    (records, n_starts) is True, in record-major order, gathered in one copy."""
    xt = np.ascontiguousarray(np.swapaxes(sig_block, 1, 2))
    views = np.lib.stride_tricks.sliding_window_view(xt, window, axis=-1)  # (B, L, T-W+1, W)
    r, w = np.nonzero(mask)
    return views[r, :, starts[w]]


def _pass_a(ds, starts_all, hop_idx, rec_idx, window, bounds):
    """Keep masks and failure counts for every record (streamed in blocks)."""
    n_rec, n_lead = ds.shape[0], ds.shape[2]
    keep = np.zeros((n_rec, len(hop_idx)), bool)
    rec_ok = np.zeros(n_rec, bool)
    win_fail = np.zeros((n_lead, len(REASONS)), np.int64)
    rec_fail = np.zeros((n_lead, len(REASONS)), np.int64)
    for b0 in range(0, n_rec, BLOCK_RECORDS):
        ptp, rms = window_stats(ds[b0 : b0 + BLOCK_RECORDS], starts_all, window)
        fails = check_bounds(ptp, rms, bounds)  # (B, n_starts, leads, reasons)
        hop_fail, rw_fail = fails[:, hop_idx], fails[:, rec_idx]
        keep[b0 : b0 + len(fails)] = ~hop_fail.any(axis=(2, 3))
        rec_ok[b0 : b0 + len(fails)] = ~rw_fail.any(axis=(1, 2, 3))
        win_fail += hop_fail.sum(axis=(0, 1))
        rec_fail += rw_fail.any(axis=1).sum(axis=0)
    return keep, rec_ok, win_fail, rec_fail


def _report(keep, rec_ok, win_fail, rec_fail) -> pd.DataFrame:
    """qc_report rows: level (window|record), lead, reason, count."""
    rows = []
    for level, fail in (("window", win_fail), ("record", rec_fail)):
        for j, lead in enumerate(LEADS12):
            rows += [(level, lead, r, int(fail[j, k])) for k, r in enumerate(REASONS)]
    n_win = int(keep.size)
    rows += [
        ("window", "all", "kept", int(keep.sum())),
        ("window", "all", "rejected", n_win - int(keep.sum())),
        ("window", "all", "total", n_win),
        ("record", "all", "eval_kept", int(rec_ok.sum())),
        ("record", "all", "eval_excluded", int((~rec_ok).sum())),
        ("record", "all", "no_window_kept", int((~keep.any(axis=1)).sum())),
        ("record", "all", "total", int(rec_ok.size)),
    ]
    return pd.DataFrame(rows, columns=["level", "lead", "reason", "count"])


def _meta_tables(meta, keep, rec_ok, starts, rec_starts, rec_keep_from):
    """Aligned metadata for kept segments and for the record-level windows."""
    r, w = np.nonzero(keep)
    seg = pd.DataFrame({"seg_id": np.arange(len(r), dtype=np.int64)})
    for col in ("ecg_id", "patient_id", "strat_fold"):
        seg[col] = meta[col].to_numpy()[r].astype(np.int64)
    seg["start"] = starts[w].astype(np.int64)
    for col in ("labels", "superclass", "subclass"):
        seg[col] = meta[col].to_numpy()[r]
    ok = np.flatnonzero(rec_ok)
    nw = len(rec_starts)
    rr = np.repeat(ok, nw)
    recs = pd.DataFrame({"win_id": np.arange(len(rr), dtype=np.int64)})
    for col in ("ecg_id", "patient_id", "strat_fold"):
        recs[col] = meta[col].to_numpy()[rr].astype(np.int64)
    recs["start"] = np.tile(rec_starts, len(ok)).astype(np.int64)
    recs["n_keep_from"] = np.tile(rec_keep_from, len(ok)).astype(np.int64)
    return seg, recs


def segment_dataset(clean_h5, qc_json, out_h5, report_csv, window: int, hop: int, log=print) -> dict:
    """Pass 2: write kept windows + record-level windows (``out_h5``) and the QC report."""
    t0 = time.perf_counter()
    bounds = load_bounds(qc_json, window)
    with h5py.File(clean_h5, "r") as src:
        ds = open_signals(src, clean_h5, window)
        meta = read_table(src["meta"])
        if len(meta) != ds.shape[0]:
            raise ValueError(f"{clean_h5}: meta has {len(meta)} rows for {ds.shape[0]} records")
        n_rec, n_t, n_lead = ds.shape
        starts = hop_starts(n_t, window, hop)
        rec_starts, rec_keep_from = record_windows(n_t, window)
        starts_all = np.union1d(starts, rec_starts)
        hop_idx, rec_idx = np.searchsorted(starts_all, starts), np.searchsorted(starts_all, rec_starts)
        log(f"segment: {n_rec} records, {len(starts)} windows each (window {window}, hop {hop}); pass A")
        keep, rec_ok, win_fail, rec_fail = _pass_a(ds, starts_all, hop_idx, rec_idx, window, bounds)
        n_seg, n_eval = int(keep.sum()), int(rec_ok.sum())
        log(f"segment: keeping {n_seg}/{keep.size} windows; {n_eval}/{n_rec} records pass for record-level evaluation; pass B")
        if n_seg == 0 or n_eval == 0:
            log(f"WARNING: segment: no {'windows' if n_seg == 0 else 'record-level windows'} pass the QC bounds of {qc_json}")
        seg_meta, rec_meta = _meta_tables(meta, keep, rec_ok, starts, rec_starts, rec_keep_from)
        with atomic_path(out_h5) as tmp:
            with h5py.File(tmp, "w") as out:
                x = out.create_dataset("x", shape=(n_seg, n_lead, window), dtype="f4")
                grp = out.create_group("records")
                rx = grp.create_dataset("x", shape=(n_eval * len(rec_starts), n_lead, window), dtype="f4")
                i_seg = i_rec = 0
                for b0 in range(0, n_rec, BLOCK_RECORDS):
                    block = ds[b0 : b0 + BLOCK_RECORDS]
                    win = _windows(block, starts, window, keep[b0 : b0 + len(block)])
                    x[i_seg : i_seg + len(win)] = win
                    i_seg += len(win)
                    ok = np.repeat(rec_ok[b0 : b0 + len(block), None], len(rec_starts), axis=1)
                    rwin = _windows(block, rec_starts, window, ok)
                    rx[i_rec : i_rec + len(rwin)] = rwin
                    i_rec += len(rwin)
                if i_seg != n_seg or i_rec != len(rx):
                    raise RuntimeError(f"segment accounting broken: wrote {i_seg}/{n_seg} segments, {i_rec}/{len(rx)} record windows")
                write_table(out, "meta", seg_meta)
                write_table(grp, "meta", rec_meta)
                out.attrs.update({"fs": float(src.attrs["fs"]), "window": int(window), "hop": int(hop), "leads": list(LEADS12)})
    report = _report(keep, rec_ok, win_fail, rec_fail)
    write_csv(report_csv, report)
    seconds = time.perf_counter() - t0
    summary = {
        "n_records": n_rec,
        "n_windows": int(keep.size),
        "n_kept": n_seg,
        "n_rejected": int(keep.size) - n_seg,
        "n_eval_records": n_eval,
        "n_eval_excluded": n_rec - n_eval,
        "seconds": round(seconds, 3),
        "segments_per_s": round(keep.size / max(seconds, 1e-9), 1),
    }
    log(f"segment: {json.dumps(summary)} -> {out_h5}, {report_csv}")
    return summary
