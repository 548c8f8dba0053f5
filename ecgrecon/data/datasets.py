"""Read the learning stages' inputs (segments.h5, folds.json, reps.h5) with clear errors.

Also the two normalisations of the decoder: per-segment, per-lead z-scoring of the input
signal (statistics over the window's samples) and standardisation of h with train statistics.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from ecgrecon import LEADS12
from ecgrecon.io.h5io import read_table

EPS_MV = 1e-3
"""Floor on a segment's per-lead standard deviation (mV) when z-scoring."""

SEGMENT_COLUMNS = ("seg_id", "ecg_id", "patient_id", "strat_fold", "labels", "superclass")
RECORD_COLUMNS = ("win_id", "ecg_id", "patient_id", "strat_fold", "start", "n_keep_from")
SPLITS = ("train", "val", "test")


class ArtifactError(ValueError):
    """An input artifact is missing, malformed or inconsistent (message names the file)."""


def _open(path) -> h5py.File:
    if not Path(path).is_file():
        raise ArtifactError(f"{path}: file not found")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise ArtifactError(f"{path}: not a readable HDF5 file ({exc})") from exc


def open_clean(path, what: str = "") -> tuple[h5py.File, pd.DataFrame]:
    """An open cleaned HDF5 file (``signals`` + ``meta``, results/clean/{dataset}.h5) and its meta.

    ArtifactError naming the file (and ``what``, e.g. the dataset) when unreadable or incomplete.
    """
    suffix = f" ({what})" if what else ""
    try:
        f = h5py.File(path, "r")
    except (FileNotFoundError, OSError) as exc:
        raise ArtifactError(f"{path}: not a readable cleaned HDF5 file{suffix} ({exc})") from exc
    if "signals" not in f or "meta" not in f:
        f.close()
        raise ArtifactError(f"{path}: missing 'signals' or 'meta'{suffix}")
    return f, read_table(f["meta"])


def lead_indices(names) -> list[int]:
    """Positions of lead names in ecgrecon.LEADS12 (case-insensitive)."""
    upper = [n.upper() for n in LEADS12]
    out = []
    for n in names:
        if str(n).upper() not in upper:
            raise ValueError(f"unknown lead {n!r}; expected one of {LEADS12}")
        out.append(upper.index(str(n).upper()))
    return out


def read_segment_meta(path, group: str = "") -> tuple[pd.DataFrame, dict]:
    """Meta table and attrs of segments.h5 (``group='records'`` for the record windows)."""
    with _open(path) as f:
        base = f[group] if group else f
        if group and group not in f:
            raise ArtifactError(f"{path}: missing group '{group}/'")
        for name in ("x", "meta"):
            if name not in base:
                raise ArtifactError(f"{path}: missing '{base.name.rstrip('/')}/{name}'")
        meta = read_table(base["meta"])
        shape = base["x"].shape
        attrs = {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in f.attrs.items()}
    needed = RECORD_COLUMNS if group == "records" else SEGMENT_COLUMNS
    missing = [c for c in needed if c not in meta.columns]
    if missing:
        raise ArtifactError(f"{path}: {group or ''}/meta lacks columns {missing}")
    if len(shape) != 3 or shape[1] != 12 or shape[0] != len(meta):
        raise ArtifactError(f"{path}: {group}/x has shape {shape}, expected ({len(meta)}, 12, window)")
    for key in ("fs", "window"):
        if key not in attrs:
            raise ArtifactError(f"{path}: missing attribute '{key}'")
    if shape[2] != int(attrs["window"]):
        raise ArtifactError(f"{path}: window attribute {attrs['window']} != x length {shape[2]}")
    return meta, attrs


def read_leads(path, leads, rows=None, group: str = "", chunk: int = 8192) -> np.ndarray:
    """float32 (n, len(leads), window) for the given rows (sorted unique int array; all if None)."""
    idx = lead_indices(leads)
    with _open(path) as f:
        ds = (f[group] if group else f)["x"]
        n = ds.shape[0]
        rows = np.arange(n) if rows is None else np.asarray(rows, dtype=np.int64)
        if len(rows) and (rows.min() < 0 or rows.max() >= n):
            raise ArtifactError(f"{path}: row index out of range (n={n})")
        out = np.empty((len(rows), len(idx), ds.shape[2]), dtype=np.float32)
        for lo in range(0, n, chunk):
            sel = (rows >= lo) & (rows < lo + chunk)
            if not sel.any():
                continue
            block = ds[lo : min(lo + chunk, n)]
            out[sel] = block[rows[sel] - lo][:, idx]
    if not np.isfinite(out).all():
        raise ArtifactError(f"{path}: non-finite values in {group}/x")
    return out


def read_json_artifact(path, what: str = "file"):
    """Parse a JSON artifact; a missing or malformed file is an ArtifactError naming it."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError as exc:
        raise ArtifactError(f"{path}: {what} not found") from exc
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{path}: invalid JSON ({exc})") from exc


def _read_folds(path) -> dict:
    doc = read_json_artifact(path)
    folds = doc.get("folds") if isinstance(doc, dict) else None
    if not isinstance(folds, dict) or not folds:
        raise ArtifactError(f"{path}: no 'folds' object")
    return folds


def fold_names(path) -> list[str]:
    """Sorted fold ids of folds.json."""
    return sorted(_read_folds(path))


def load_folds(path, fold: str) -> dict[str, np.ndarray]:
    """{train, val, test} -> sorted ecg_id arrays of one fold of folds.json; checks disjointness."""
    folds = _read_folds(path)
    if fold not in folds:
        raise ArtifactError(f"{path}: fold '{fold}' not found (have {sorted(folds)})")
    out = {}
    for split in SPLITS:
        if split not in folds[fold]:
            raise ArtifactError(f"{path}: fold '{fold}' has no '{split}' list")
        out[split] = np.asarray(sorted(int(e) for e in folds[fold][split]), dtype=np.int64)
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        common = np.intersect1d(out[a], out[b])
        if len(common):
            raise ArtifactError(f"{path}: fold '{fold}': ecg_id {int(common[0])} is in both {a} and {b}")
    return out


def split_rows(meta: pd.DataFrame, split_ids: dict[str, np.ndarray], path="segments") -> dict[str, np.ndarray]:
    """Row indices of ``meta`` per split; patients must not cross splits."""
    ecg = meta["ecg_id"].to_numpy(np.int64)
    rows = {s: np.flatnonzero(np.isin(ecg, ids)) for s, ids in split_ids.items()}
    pats = {s: set(meta["patient_id"].to_numpy()[r].tolist()) for s, r in rows.items()}
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        if a in pats and b in pats and pats[a] & pats[b]:
            raise ArtifactError(f"{path}: patient {min(pats[a] & pats[b])} has segments in both {a} and {b}")
    return rows


def label_lists(meta: pd.DataFrame, level: str, path="segments") -> list[list[str]]:
    """Per row, the list of labels at ``level`` (superclass | subclass | code)."""
    column = {"superclass": "superclass", "subclass": "subclass", "code": "labels"}[level]
    if column not in meta.columns:
        raise ArtifactError(f"{path}: meta has no '{column}' column (needed for labels.level={level})")
    try:
        return [sorted(set(json.loads(v))) for v in meta[column]]
    except (TypeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{path}: meta column '{column}' is not JSON lists ({exc})") from exc


def class_vocab(lists) -> list[str]:
    """Sorted class names occurring in ``lists``."""
    return sorted({c for labs in lists for c in labs})


def zscore_segments(x: np.ndarray) -> np.ndarray:
    """Per segment and lead: (x - mean) / max(std, EPS_MV), statistics over the time axis."""
    mean = x.mean(axis=-1, keepdims=True, dtype=np.float64)
    std = x.std(axis=-1, keepdims=True, dtype=np.float64)
    return ((x - mean) / np.maximum(std, EPS_MV)).astype(np.float32)


def read_reps(path, fold: str, group: str = "") -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(h, ids, mean, std) from reps.h5: h rows aligned with segments (or records/ windows)."""
    with _open(path) as f:
        base = f[group] if group else f
        key = "win_id" if group == "records" else "seg_id"
        for name in ("h", key):
            if name not in base:
                raise ArtifactError(f"{path}: missing '{group}/{name}'")
        if f"norm/{fold}" not in f:
            raise ArtifactError(f"{path}: no normalisation statistics for fold '{fold}' (norm/{fold})")
        return base["h"][...], base[key][...], f[f"norm/{fold}/mean"][...], f[f"norm/{fold}/std"][...]


def normalise_h(h: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Standardise h with (train) statistics."""
    return ((h - mean) / np.maximum(std, 1e-6)).astype(np.float32)


def load_h(reps_path, fold: str, ids: np.ndarray, group: str = "") -> np.ndarray:
    """Normalised h for the given segment (or window) ids, checking alignment."""
    h, h_ids, mean, std = read_reps(reps_path, fold, group)
    if len(h_ids) == 0 or ids.max(initial=-1) >= len(h_ids) or not np.array_equal(h_ids[ids], ids):
        raise ArtifactError(f"{reps_path}: {group or 'segment'} ids are not aligned with segments.h5 (rerun extract_reps)")
    return normalise_h(h[ids], mean, std)
