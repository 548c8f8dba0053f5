"""Stage ``clean``: raw database folder -> one cleaned HDF5 + quarantine list.

The database's adapter (:mod:`ecgrecon.io.adapters`, chosen by ``kind``) lists the records with
their metadata and reads each one; records are checked (NaN, flat leads, length, rate),
cropped to the first ``duration_s`` seconds (shorter ones are quarantined), cleaned in
batches (:func:`ecgrecon.signal.filters.clean_batch`) by ``threads`` workers and streamed into a
resizable ``signals`` dataset. Every input record is either kept or quarantined.
"""

from __future__ import annotations

import contextlib
import functools
import json
import multiprocessing
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from multiprocessing.pool import ThreadPool
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from ecgrecon import LEADS12
from ecgrecon.io.adapters import get_adapter
from ecgrecon.io.atomic import atomic_path, write_csv
from ecgrecon.io.h5io import write_table
from ecgrecon.io.wfdbio import Record, RecordError, read_record
from ecgrecon.signal.filters import check_rate, clean_batch

READ_STAGE = "clean.read"
SIGNAL_STAGE = "clean.signal"
FLAT_PTP_MV = 1e-4  # a lead whose peak-to-peak amplitude is below this is flat
BATCH_SIZE = 256
N_SHOWN = 3  # quarantined records named in the limit error
META_COLUMNS = ("ecg_id", "patient_id", "strat_fold", "scp_codes", "labels", "superclass", "subclass", "filename")


class QuarantineLimitError(RuntimeError):
    """More records were quarantined than ``clean.max_quarantine_fraction`` allows."""


@dataclass
class BatchResult:
    """Cleaned records of one batch (input order) and the batch's quarantine entries."""

    meta: list[dict] = field(default_factory=list)
    signals: np.ndarray | None = None
    quarantine: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def source_length(fs: float, duration_s: float, rel: str) -> int:
    """Samples covering ``duration_s`` at ``fs``; RecordError when that is not whole."""
    n = duration_s * fs
    if abs(n - round(n)) > 1e-6:
        raise RecordError(rel, f"cannot resample: {duration_s:g} s at {fs:g} Hz is not a whole number of samples")
    return int(round(n))


def check_signal(sig: np.ndarray, rel: str) -> None:
    """RecordError for NaN / infinite samples or a flat lead (``sig``: samples x 12)."""
    bad = ~np.isfinite(sig).all(axis=0)
    if bad.any():
        raise RecordError(rel, f"NaN samples in lead(s) {', '.join(np.asarray(LEADS12)[bad])}")
    flat = np.ptp(sig, axis=0) < FLAT_PTP_MV
    if flat.any():
        raise RecordError(rel, f"flat lead(s) {', '.join(np.asarray(LEADS12)[flat])}")


ReadFn = Callable[[Path, str], Record]


def _load(root: Path, rel: str, cfg: dict, read: ReadFn = read_record) -> tuple[float, np.ndarray]:
    """Read one record and crop it to the first ``duration_s`` seconds (stage-tagged RecordError)."""
    try:
        rec = read(root, rel)
    except RecordError as exc:
        exc.stage = READ_STAGE
        raise
    try:
        check_rate(rec.fs, cfg)
        n = source_length(rec.fs, cfg["duration_s"], rel)
    except ValueError as exc:
        raise RecordError(rel, f"cannot resample: {exc}") from None
    if len(rec.signal) < n:
        raise RecordError(rel, f"too short: {len(rec.signal) / rec.fs:g} s < {cfg['duration_s']:g} s")
    sig = rec.signal[:n]
    check_signal(sig, rel)
    return rec.fs, sig


def process_batch(root: Path, batch: list[tuple[str, dict]], cfg: dict, read: ReadFn = read_record) -> BatchResult:
    """Read (with the adapter's ``read``), check and clean one batch of (record path, metadata) pairs."""
    out = BatchResult()
    loaded: dict[float, list[tuple[int, np.ndarray]]] = {}
    for i, (rel, _meta) in enumerate(batch):
        try:
            fs, sig = _load(root, rel, cfg, read)
        except RecordError as exc:
            stage = getattr(exc, "stage", SIGNAL_STAGE)
            out.quarantine.append({"record": rel, "stage": stage, "reason": exc.reason, "message": str(exc)})
            continue
        loaded.setdefault(fs, []).append((i, sig))
    n_out = int(round(cfg["duration_s"] * cfg["fs"]))
    parts = []
    for fs, items in loaded.items():
        y, notes = clean_batch(np.stack([s for _, s in items]), fs, cfg)
        out.notes += notes
        finite = np.isfinite(y).all(axis=(1, 2))
        for (i, _), ok, rec in zip(items, finite, y[:, :n_out]):
            if ok:
                parts.append((i, rec))
            else:
                rel = batch[i][0]
                out.quarantine.append(
                    {
                        "record": rel,
                        "stage": SIGNAL_STAGE,
                        "reason": "non-finite values after filtering",
                        "message": f"{rel}: non-finite values after filtering",
                    }
                )
    parts.sort(key=lambda p: p[0])
    out.meta = [batch[i][1] for i, _ in parts]
    out.signals = np.stack([p[1] for p in parts]).astype(np.float32) if parts else np.zeros((0, n_out, len(LEADS12)), np.float32)
    return out


def _worker_pool(workers: int):
    """Worker pool for ``workers > 1``: forked processes on Linux (the median filter holds
    the GIL, so threads would barely help; ``fork`` starts instantly and, unlike ``spawn``,
    does not re-run a Snakemake script in the children). Elsewhere a thread pool.
    Processes start here, before any HDF5 file is opened, and never touch HDF5."""
    if workers <= 1:
        return contextlib.nullcontext(None)
    if sys.platform.startswith("linux"):
        return multiprocessing.get_context("fork").Pool(processes=workers)
    return ThreadPool(processes=workers)


def _run_batches(pool, root: Path, records: list, cfg: dict, read: ReadFn) -> Iterator[BatchResult]:
    """Yield batch results in input order (in the pool's worker processes when given)."""
    batches = [records[i : i + BATCH_SIZE] for i in range(0, len(records), BATCH_SIZE)]
    if pool is None:
        return (process_batch(root, b, cfg, read) for b in batches)
    return pool.imap(functools.partial(process_batch, root, cfg=cfg, read=read), batches)


def _log_quarantine(rows: Iterable[dict], log: Callable[[str], None]) -> None:
    for q in rows:
        log(f"quarantine [{q['stage']}] {q.get('message') or q['record'] + ': ' + q['reason']}")


def clean_dataset(
    raw_dir,
    out_h5,
    quarantine_csv,
    clean_cfg: dict,
    labels_cfg: dict,
    records_subdir: str | None = None,
    threads: int = 1,
    log=print,
    kind: str = "ptbxl",
    failed_list=None,
) -> dict:
    """Clean every record of ``raw_dir``; write ``out_h5`` and ``quarantine_csv``; return counts.

    ``kind`` picks the database adapter (:func:`ecgrecon.io.adapters.get_adapter`);
    ``records_subdir`` is its records folder (``None``: the adapter's default, ``records100``
    for PTB-XL). Raises :class:`QuarantineLimitError` (after writing the quarantine list) when
    more than ``clean_cfg['max_quarantine_fraction']`` of the input records were quarantined;
    the list is then also written to ``failed_list`` (when given: a path that outlives the failed
    job, such as one beside the rule's log, whereas Snakemake deletes the outputs of a failed job)
    and the message names that file and the first rows.
    """
    t0 = time.perf_counter()
    adapter = get_adapter(kind)
    records_subdir = records_subdir or adapter.default_records
    root = Path(raw_dir).resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"{raw_dir}: raw data folder not found")
    cands = adapter.candidates(root, records_subdir, labels_cfg["min_likelihood"])
    where = f"under {records_subdir}/" if records_subdir else "in the folder"
    if cands.n_input == 0:
        raise ValueError(f"{raw_dir}: no records found (no metadata rows, no {kind} records {where})")
    log(
        f"clean: {cands.n_input} input records in {raw_dir} ({kind}, {records_subdir or 'all folders'}); "
        f"{len(cands.records)} to read, {len(cands.quarantine)} quarantined from metadata"
    )
    if cands.unmapped:
        log(
            f"note: {len(cands.unmapped)} diagnosis statement(s) outside the {kind} label table "
            f"(kept as labels, no superclass), records per statement: {dict(sorted(cands.unmapped.items()))}"
        )
    _log_quarantine(cands.quarantine, log)
    quarantine = list(cands.quarantine)
    n_out = int(round(clean_cfg["duration_s"] * clean_cfg["fs"]))
    metas, notes, done, n_total = [], set(), 0, len(cands.records)
    next_report = 0.0
    with _worker_pool(max(1, int(threads))) as pool, atomic_path(out_h5) as tmp:
        with h5py.File(tmp, "w") as h5:
            ds = h5.create_dataset(
                "signals",
                shape=(0, n_out, len(LEADS12)),
                dtype="f4",
                maxshape=(None, n_out, len(LEADS12)),
                chunks=(16, n_out, len(LEADS12)),
            )
            for res in _run_batches(pool, root, cands.records, clean_cfg, adapter.read):
                k = len(res.meta)
                ds.resize(ds.shape[0] + k, axis=0)
                ds[ds.shape[0] - k :] = res.signals
                metas += res.meta
                quarantine += res.quarantine
                _log_quarantine(res.quarantine, log)
                for note in res.notes:
                    if note not in notes:
                        notes.add(note)
                        log(f"note: {note}")
                done += k + len(res.quarantine)
                elapsed = time.perf_counter() - t0
                if elapsed >= next_report or done == n_total:
                    log(f"clean: {done}/{n_total} records read ({done / max(elapsed, 1e-9):.0f} records/s)")
                    next_report = elapsed + 5.0
            summary = _finish(cands.n_input, len(metas), quarantine, quarantine_csv, clean_cfg, log, failed_list)
            h5.attrs["fs"] = float(clean_cfg["fs"])
            h5.attrs["leads"] = list(LEADS12)
            write_table(
                h5,
                "meta",
                pd.DataFrame(metas, columns=list(META_COLUMNS)).astype({"ecg_id": "int64", "patient_id": "int64", "strat_fold": "int64"}),
            )
    seconds = time.perf_counter() - t0
    summary.update(
        fs=float(clean_cfg["fs"]),
        n_samples=n_out,
        notes=sorted(notes),
        seconds=round(seconds, 3),
        records_per_s=round(cands.n_input / max(seconds, 1e-9), 1),
        kind=kind,
        superclass_counts=_superclass_counts(metas),
        unmapped_statements=dict(sorted(cands.unmapped.items())),
    )
    log(
        f"clean: kept {summary['n_kept']}, quarantined {summary['n_quarantined']} of "
        f"{summary['n_input']} in {seconds:.1f} s -> {out_h5}; superclasses {summary['superclass_counts']}"
    )
    return summary


def _superclass_counts(metas: list[dict]) -> dict[str, int]:
    """Kept records per diagnostic superclass (``"none"``: records without one)."""
    counts = Counter()
    for m in metas:
        counts.update(json.loads(m["superclass"]) or ["none"])
    return dict(sorted(counts.items()))


def _finish(n_input: int, n_kept: int, quarantine: list[dict], quarantine_csv, cfg: dict, log, failed_list=None) -> dict:
    """Check kept + quarantined = input, write the quarantine list, enforce the limit."""
    n_q = len(quarantine)
    if n_kept + n_q != n_input:
        raise RuntimeError(f"record accounting broken: kept {n_kept} + quarantined {n_q} != input {n_input}")
    table = pd.DataFrame(quarantine, columns=["record", "stage", "reason"]).sort_values(["record", "stage"], kind="stable")
    write_csv(quarantine_csv, table)
    frac = n_q / n_input
    limit = float(cfg["max_quarantine_fraction"])
    reasons = Counter(q["reason"].split(":")[0] for q in quarantine)
    if frac > limit:
        where = quarantine_csv
        if failed_list is not None:
            write_csv(failed_list, table)
            where = failed_list
        first = "; ".join(f"{r.record}: {r.reason}" for r in table.head(N_SHOWN).itertuples())
        raise QuarantineLimitError(
            f"{n_q} of {n_input} records quarantined ({frac:.1%}) exceeds "
            f"clean.max_quarantine_fraction = {limit:g}; reasons: {dict(reasons)}; "
            f"the list: {where}; first {min(N_SHOWN, n_q)}: {first}"
        )
    if failed_list is not None:
        Path(failed_list).unlink(missing_ok=True)  # a list left by an earlier failed run is stale now
    log(f"clean: quarantined {n_q}/{n_input} ({frac:.1%}, limit {limit:.1%})")
    return {"n_input": n_input, "n_kept": n_kept, "n_quarantined": n_q, "quarantine_fraction": round(frac, 6), "reasons": dict(reasons)}
