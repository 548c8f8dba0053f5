"""QC pass 2 (stage ``segment``): windows inside the QC bounds, plus record-level windows.

Two streaming passes over the cleaned records: pass A computes every window's per-lead
statistics and decides what is kept (so the output size is known); pass B writes the kept
windows into preallocated, contiguous (unchunked) HDF5 datasets, channels first.

A window is rejected when more than ``max_bad_leads`` (config ``qc.max_bad_leads``) of its 12
leads are outside the bounds (0, ours: any lead; 3: Youssef & Singla's code); a record is
evaluated at record level when none of its record-level windows is rejected by the same test.
"""

from __future__ import annotations

import json
import time

import h5py
import numpy as np
import pandas as pd

from ecgrecon import LEADS12
from ecgrecon.data.qc import BLOCK_RECORDS, bad_leads, check_bounds, load_bounds, open_signals, reasons, window_stats
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


def check_max_bad_leads(max_bad_leads: int) -> int:
    """``max_bad_leads`` as an int in 0..11, else ValueError (12 would keep every window)."""
    if isinstance(max_bad_leads, bool) or not isinstance(max_bad_leads, (int, np.integer)) or not 0 <= max_bad_leads < len(LEADS12):
        raise ValueError(f"qc max_bad_leads must be an integer in 0..{len(LEADS12) - 1}, got {max_bad_leads!r}")
    return int(max_bad_leads)


def _pass_a(ds, starts_all, hop_idx, rec_idx, window, bounds, max_bad_leads=0):
    """Keep masks and counts for every record (streamed in blocks): (keep, rec_ok, win_fail,
    rec_fail, n_kept_bad, n_eval_bad). ``win_fail`` / ``rec_fail`` (leads, reasons): windows /
    records with that lead out of bounds for that reason, whether or not rejected; ``n_kept_bad`` /
    ``n_eval_bad``: kept windows / evaluated records that hold 1..max_bad_leads out-of-bounds leads."""
    n_rec, n_lead = ds.shape[0], ds.shape[2]
    n_reasons = len(reasons(bounds["statistic"]))
    keep = np.zeros((n_rec, len(hop_idx)), bool)
    rec_ok = np.zeros(n_rec, bool)
    win_fail = np.zeros((n_lead, n_reasons), np.int64)
    rec_fail = np.zeros((n_lead, n_reasons), np.int64)
    n_kept_bad = n_eval_bad = 0
    for b0 in range(0, n_rec, BLOCK_RECORDS):
        amp, rms = window_stats(ds[b0 : b0 + BLOCK_RECORDS], starts_all, window, statistic=bounds["statistic"])
        fails = check_bounds(amp, rms, bounds)  # (B, n_starts, leads, reasons)
        n_bad = bad_leads(fails)  # (B, n_starts)
        hop_bad, rw_bad = n_bad[:, hop_idx], n_bad[:, rec_idx]
        k, ok = hop_bad <= max_bad_leads, (rw_bad <= max_bad_leads).all(axis=1)
        keep[b0 : b0 + len(fails)], rec_ok[b0 : b0 + len(fails)] = k, ok
        n_kept_bad += int((k & (hop_bad > 0)).sum())
        n_eval_bad += int((ok & (rw_bad > 0).any(axis=1)).sum())
        win_fail += fails[:, hop_idx].sum(axis=(0, 1))
        rec_fail += fails[:, rec_idx].any(axis=1).sum(axis=0)
    return keep, rec_ok, win_fail, rec_fail, n_kept_bad, n_eval_bad


def _report(keep, rec_ok, win_fail, rec_fail, n_kept_bad, n_eval_bad, statistic="ptp", max_bad_leads=0) -> pd.DataFrame:
    """qc_report rows: level (window|record), lead, reason, count, counted (what the count is)."""
    rule = f"a window is rejected when more than {max_bad_leads} of the {len(LEADS12)} leads are out of bounds"
    per_lead = {
        "window": f"windows with this lead out of bounds for this reason, kept or rejected ({rule})",
        "record": "records with this lead out of bounds for this reason in at least one record-level window, evaluated or not",
    }
    rows = []
    for level, fail in (("window", win_fail), ("record", rec_fail)):
        for j, lead in enumerate(LEADS12):
            rows += [(level, lead, r, int(fail[j, k]), per_lead[level]) for k, r in enumerate(reasons(statistic))]
    n_win = int(keep.size)
    rows += [
        ("window", "all", "kept", int(keep.sum()), f"windows kept ({rule})"),
        ("window", "all", "kept_with_bad_leads", n_kept_bad, f"kept windows with 1 to {max_bad_leads} leads out of bounds"),
        ("window", "all", "rejected", n_win - int(keep.sum()), f"windows rejected ({rule})"),
        ("window", "all", "total", n_win, "windows cut (window / hop)"),
        ("record", "all", "eval_kept", int(rec_ok.sum()), "records whose record-level windows all pass (evaluated at record level)"),
        (
            "record",
            "all",
            "eval_kept_with_bad_leads",
            n_eval_bad,
            f"evaluated records with 1 to {max_bad_leads} leads out of bounds in a record-level window",
        ),
        ("record", "all", "eval_excluded", int((~rec_ok).sum()), "records with a rejected record-level window (not evaluated)"),
        ("record", "all", "no_window_kept", int((~keep.any(axis=1)).sum()), "records of which no window was kept"),
        ("record", "all", "total", int(rec_ok.size), "records"),
    ]
    return pd.DataFrame(rows, columns=["level", "lead", "reason", "count", "counted"])


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


def segment_dataset(
    clean_h5, qc_json, out_h5, report_csv, window: int, hop: int, log=print, statistic: str = "ptp", max_bad_leads: int = 0
) -> dict:
    """Pass 2: write kept windows + record-level windows (``out_h5``) and the QC report.

    ``statistic``: the amplitude statistic the bounds of ``qc_json`` must be for (ValueError
    otherwise); ``max_bad_leads``: a window is rejected when more leads than this are out of bounds."""
    t0 = time.perf_counter()
    max_bad_leads = check_max_bad_leads(max_bad_leads)
    bounds = load_bounds(qc_json, window, statistic)
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
        log(
            f"segment: {n_rec} records, {len(starts)} windows each (window {window}, hop {hop}); "
            f"bounds on {statistic} and rms, a window is rejected when more than {max_bad_leads} leads are out; pass A"
        )
        keep, rec_ok, win_fail, rec_fail, n_kept_bad, n_eval_bad = _pass_a(ds, starts_all, hop_idx, rec_idx, window, bounds, max_bad_leads)
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
    report = _report(keep, rec_ok, win_fail, rec_fail, n_kept_bad, n_eval_bad, statistic, max_bad_leads)
    write_csv(report_csv, report)
    seconds = time.perf_counter() - t0
    summary = {
        "n_records": n_rec,
        "n_windows": int(keep.size),
        "n_kept": n_seg,
        "n_rejected": int(keep.size) - n_seg,
        "n_kept_with_bad_leads": n_kept_bad,
        "n_eval_records": n_eval,
        "n_eval_excluded": n_rec - n_eval,
        "seconds": round(seconds, 3),
        "segments_per_s": round(keep.size / max(seconds, 1e-9), 1),
    }
    log(f"segment: {json.dumps(summary)} -> {out_h5}, {report_csv}")
    return summary
