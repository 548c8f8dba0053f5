"""Whole 12-lead records from record-level windows (segments.h5 ``records/``, predictions.h5).

The record-level windows of a record are non-overlapping and cover it completely
(``ecgrecon.data.segment.record_windows``); :func:`ecgrecon.signal.metrics.reassemble` puts them back
together. A method's reconstruction replaces the target leads of the true 12-lead record
(:func:`ecgrecon.signal.morphology.replace_leads`), so the input and the untouched leads stay true.
"""

from __future__ import annotations

import h5py
import numpy as np
import pandas as pd

from ecgrecon.data.datasets import ArtifactError
from ecgrecon.signal.metrics import reassemble
from ecgrecon.signal.morphology import replace_leads


def reassembled_records(
    truth_windows: np.ndarray, meta: pd.DataFrame, preds: dict[str, np.ndarray], targets
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """(ecg_ids (n,), truth12 (n, 12, T), method -> (n, 12, T) with ``targets`` replaced).

    ``truth_windows`` (n_windows, 12, W) in LEADS12 order and every ``preds[method]``
    (n_windows, len(targets), W) are aligned with the rows of ``meta`` (``records/`` meta:
    ecg_id, start, n_keep_from). Records come out in ascending ecg_id order.
    """
    if len(meta) == 0:
        raise ValueError("no record-level windows to reassemble")
    truth = reassemble(truth_windows, meta)
    ids = sorted(truth)
    truth12 = np.stack([truth[i] for i in ids])
    recon = {}
    for method, windows in preds.items():
        pred = reassemble(windows, meta)
        recon[method] = replace_leads(truth12, np.stack([pred[i] for i in ids]), targets)
    return np.asarray(ids, dtype=np.int64), truth12, recon


def read_record_predictions(path, fold: str) -> tuple[np.ndarray, dict[str, np.ndarray], list[str]]:
    """(win_id, method -> (n_windows, n_targets, W) in mV, targets) of ``{fold}/records/`` in predictions.h5.

    Methods are every dataset of the group except ``win_id``, in file order. A fold without
    record-level windows gives empty ``win_id`` and no methods.
    """
    try:
        f = h5py.File(path, "r")
    except (FileNotFoundError, OSError) as exc:
        raise ArtifactError(f"{path}: not a readable predictions file ({exc})") from exc
    with f:
        if fold not in f:
            raise ArtifactError(f"{path}: fold '{fold}' not found (have {sorted(f)}); add it to evaluation.folds")
        targets = [str(t) for t in f.attrs.get("targets", [])]
        if not targets:
            raise ArtifactError(f"{path}: missing attribute 'targets'")
        if "records" not in f[fold]:
            return np.zeros(0, np.int64), {}, targets
        g = f[fold]["records"]
        if "win_id" not in g:
            raise ArtifactError(f"{path}: missing '{fold}/records/win_id'")
        win_id = g["win_id"][()].astype(np.int64)
        preds = {name: g[name][()] for name in g if name != "win_id"}
    for name, p in preds.items():
        if p.ndim != 3 or p.shape[:2] != (len(win_id), len(targets)):
            raise ArtifactError(f"{path}: '{fold}/records/{name}' has shape {p.shape}, expected ({len(win_id)}, {len(targets)}, window)")
    return win_id, preds, targets
