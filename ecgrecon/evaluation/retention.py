"""Diagnostic retention of the reconstructions (rule ``retention``).

The superclass classifier of :mod:`ecgrecon.learn.classifier` (trained on the fold's train records
of the cleaned file) scores the fold's test records twice over: as recorded ("original") and
with the reconstructed leads replaced by each method's reconstruction from predictions.h5 (every
dataset of ``{fold}/records/`` except ``win_id``: GL, C, C-h, ...). Both are the records
reassembled from the record-level windows of segments.h5 (:mod:`ecgrecon.data.records`), so they
cover the same samples; labels are the records' superclasses in the cleaned file.
Retention = reconstructed / original, for macro-F1 (at the validation thresholds) and macro-AUC.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ecgrecon import LEADS12
from ecgrecon.data.datasets import ArtifactError, read_leads, read_segment_meta
from ecgrecon.data.records import read_record_predictions, reassembled_records
from ecgrecon.evaluation.cells import fmt
from ecgrecon.io.atomic import atomic_path, write_csv
from ecgrecon.learn.classifier import load_classifier, load_labels, retention_table
from ecgrecon.learn.device import resolve_device
from ecgrecon.methods import baseline, display


def record_labels(clean_h5, ids: np.ndarray, classes) -> tuple[np.ndarray, int]:
    """(y aligned with ``ids``, samples per cleaned record) from the cleaned file."""
    y, ecg, n_samples = load_labels(clean_h5, ids, tuple(classes))
    missing = np.setdiff1d(ids, ecg)
    if len(missing):
        raise ArtifactError(f"{clean_h5}: ecg_id {int(missing[0])} of the predictions is not a cleaned record")
    order = np.argsort(ecg)
    return y[order[np.searchsorted(ecg[order], ids)]], n_samples


def retention_from_predictions(
    classifier_pt, predictions_h5, segments_h5, clean_h5, fold: str = "official", device: str = "auto", log=print
) -> tuple[pd.DataFrame, dict]:
    """Retention table (one row per method: original first) and a summary for the markdown.

    Summary: fold, n_records, n_samples (scored span per record), fs, record_samples (length
    of the cleaned records), full_record (whether the scored span is the whole record).
    """
    dev = resolve_device(device)
    model, thresholds, classes = load_classifier(classifier_pt, dev)
    win_id, preds, targets = read_record_predictions(predictions_h5, fold)
    rmeta, attrs = read_segment_meta(segments_h5, "records")
    summary = {"fold": fold, "n_records": 0, "n_samples": 0, "fs": float(attrs["fs"]), "record_samples": None, "full_record": None}
    if len(win_id) == 0:
        log(f"retention: {predictions_h5} has no record-level windows for fold {fold}; empty table")
        return pd.DataFrame(columns=["fold", "method", "n_records", "macro_f1", "macro_auc", "f1_retention", "auc_retention"]), summary
    pos = pd.Series(np.arange(len(rmeta)), index=rmeta["win_id"].to_numpy(np.int64))
    unknown = np.setdiff1d(win_id, pos.index.to_numpy())
    if len(unknown):
        raise ArtifactError(f"{predictions_h5}: win_id {int(unknown[0])} is not a record window of {segments_h5}")
    rows = pos.loc[win_id].to_numpy()
    order = np.argsort(rows, kind="stable")  # read_leads wants ascending rows
    rows = rows[order]
    m = rmeta.iloc[rows].reset_index(drop=True)
    truth_windows = read_leads(segments_h5, list(LEADS12), rows, group="records")
    methods = sorted(preds, key=lambda k: k != baseline())  # the baseline (GL) first, then the file's order
    ids, truth12, recon = reassembled_records(truth_windows, m, {k: preds[k][order] for k in methods}, targets)
    y, record_samples = record_labels(clean_h5, ids, classes)
    log(
        f"retention {fold}: {len(ids)} test records of {truth12.shape[-1]} samples; methods {methods}; "
        "positives per class " + ", ".join(f"{c} {int(v)}" for c, v in zip(classes, y.sum(axis=0)))
    )
    table = retention_table(model, thresholds, y, {"original": truth12, **recon}, classes=tuple(classes), device=dev)
    table.insert(0, "fold", fold)
    summary.update(
        n_records=len(ids),
        n_samples=int(truth12.shape[-1]),
        record_samples=record_samples,
        full_record=bool(truth12.shape[-1] == record_samples),
    )
    for _, r in table.iterrows():
        log(
            f"retention {fold} {r['method']}: macro-F1 {r['macro_f1']:.3f} macro-AUC {r['macro_auc']:.3f} "
            f"(retention F1 {r['f1_retention']:.3f}, AUC {r['auc_retention']:.3f})"
        )
    return table, summary


def retention_markdown(table: pd.DataFrame, summary: dict, title: str | None = None, note: str = "") -> str:
    """Short markdown table: method, n_records, macro-F1, macro-AUC, F1 and AUC retention (``note``: a paragraph after the intro)."""
    parts = [title or f"# Diagnostic retention ({summary['fold']} test split)", ""]
    if len(table) == 0:
        return "\n".join(parts + ["No record-level windows in the predictions: nothing to score.", ""])
    n, fs = summary["n_samples"], summary["fs"]
    span = (
        f"the whole record ({n} samples, {n / fs:g} s)"
        if summary["full_record"]
        else f"the reassembled record span ({n} samples, {n / fs:g} s), not the full {summary['record_samples'] / fs:g}-s record"
    )
    parts += [
        f"Retention = reconstructed / original (macro-F1 at the validation thresholds, macro-AUC); the "
        f"superclass classifier scores {span}, with the reconstructed leads replaced by each method's "
        f"reconstruction.",
        "",
    ] + ([note, ""] if note else [])
    header = ["method", "n_records", "macro-F1", "macro-AUC", "F1 retention", "AUC retention"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, r in table.iterrows():
        cells = [display(r["method"]), str(int(r["n_records"]))] + [
            fmt(r[k]) for k in ("macro_f1", "macro_auc", "f1_retention", "auc_retention")
        ]
        lines.append("| " + " | ".join(cells) + " |")
    left_out = sorted({c for v in table.get("classes_undefined", pd.Series(dtype=str)).fillna("") for c in str(v).split(",") if c})
    note = (
        [f"Left out of the macro means (no positive or no negative test record for F1 / AUC): {', '.join(left_out)}.", ""]
        if left_out
        else []
    )
    return "\n".join(parts + lines + [""] + note)


def write_retention(table: pd.DataFrame, summary: dict, out_csv, out_md) -> None:
    write_csv(out_csv, table)
    with atomic_path(out_md) as tmp:
        tmp.write_text(retention_markdown(table, summary))
