"""Whole-record windows of the diffusion prior (``diffusion.prior.window: record``, Bedin et al.'s 10.24-s setting).

By default the prior models the 256-sample segment windows. With ``window: record`` it models whole 10-s records
padded to :data:`RECORD_SECONDS` (1024 samples at 100 Hz, a power of two the U-Net's down-sampling divides): the
record-level windows of segments.h5 (``records/``: non-overlapping, covering each record) are put back together
(:func:`ecgrecon.signal.metrics.reassemble`) and padded at the end by reflection (:func:`to_records`); posterior
samples of a record are cut back into its record-level windows (:func:`to_windows`), so that every table of the
task scores them on the same windows as the other methods. The padded tail is never observed (the sampler sees
only the record's own samples) and never scored.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ecgrecon import RECORD_WINDOW_S
from ecgrecon.signal.metrics import reassemble

RECORD_SECONDS = RECORD_WINDOW_S
WINDOWS = ("segment", "record")
"""The prior's window kinds: ``segment`` (the segment windows) | ``record`` (10.24 s, whole records padded)."""


def record_length(fs: float) -> int:
    """Samples of a 10.24-s record window at ``fs`` Hz (1024 at 100 Hz)."""
    return int(round(RECORD_SECONDS * float(fs)))


def to_records(windows: np.ndarray, meta: pd.DataFrame, length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Record-level windows (n, C, W) with their ``records/`` meta rows -> (ecg_ids (r,) ascending, records (r, C,
    length) padded at the end by reflection, n_samples (r,) of each record before padding). A record longer than
    ``length`` is a ValueError naming it (the prior's window holds 10.24 s)."""
    rec = reassemble(np.asarray(windows), meta)
    ids = np.array(sorted(rec), dtype=np.int64)
    out = np.empty((len(ids), np.asarray(windows).shape[1], int(length)), dtype=np.asarray(windows).dtype)
    n = np.empty(len(ids), dtype=np.int64)
    for k, i in enumerate(ids):
        x = rec[int(i)]
        n[k] = x.shape[-1]
        if n[k] > length:
            raise ValueError(f"record {i} has {n[k]} samples, more than the prior's record window of {length} ({RECORD_SECONDS} s)")
        pad = int(length - n[k])
        out[k] = np.pad(x, ((0, 0), (0, pad)), mode="reflect" if pad < n[k] else "edge") if pad else x
    return ids, out, n


def to_windows(records: np.ndarray, ids: np.ndarray, meta: pd.DataFrame, window: int) -> np.ndarray:
    """Records (..., r, C, L) in ``ids`` order -> their record-level windows (..., len(meta), C, window), the rows of
    ``meta`` (ecg_id, start): each window is the record's samples start .. start + window."""
    pos = pd.Index(np.asarray(ids, np.int64)).get_indexer(meta["ecg_id"].to_numpy(np.int64))
    if (pos < 0).any():
        raise ValueError(f"record {int(meta['ecg_id'].to_numpy()[pos < 0][0])} of the windows is not among the records")
    starts = meta["start"].to_numpy(np.int64)
    if (starts < 0).any() or (starts + window > records.shape[-1]).any():
        raise ValueError(f"record windows reach beyond the {records.shape[-1]}-sample record window")
    idx = starts[:, None] + np.arange(int(window))[None, :]  # (n, window)
    picked = records[..., pos, :, :]  # (..., n, C, L)
    return np.take_along_axis(picked, np.broadcast_to(idx[:, None, :], (*picked.shape[:-1], int(window))), axis=-1)
