"""Extract the encoder representation h for every segment and record-level window.

reps.h5: ``h`` (n_seg, D) aligned with segments.h5 rows (``seg_id``), ``records/h`` aligned
with ``records/`` windows (``win_id``), and per fold of folds.json ``norm/{fold}/mean|std``
computed on that fold's train segments only (``norm_from``: copied from another reps.h5, e.g.
the training data set's, for a database evaluated with models trained elsewhere). With ``tile`` every h
is replaced by the mean h over all windows of the same record in the same group (the record tiled in time).
"""

from __future__ import annotations

import h5py
import numpy as np
import torch

from ecgrecon.data.datasets import ArtifactError, fold_names, load_folds, read_leads, read_segment_meta, split_rows
from ecgrecon.io.atomic import atomic_path
from ecgrecon.learn.device import resolve_device
from ecgrecon.learn.train_decoder import check_seg_ids
from ecgrecon.learn.train_encoder import load_encoder


def _norms_from(path, fold_ids, dim: int) -> dict:
    """(mean, std, n_train) per fold read from another reps.h5 (its train statistics)."""
    with h5py.File(path, "r") as f:
        out = {}
        for fold in fold_ids:
            if f"norm/{fold}" not in f:
                raise ArtifactError(f"{path}: no h statistics for fold '{fold}'")
            mean, std = f[f"norm/{fold}/mean"][...], f[f"norm/{fold}/std"][...]
            if mean.shape != (dim,):
                raise ArtifactError(f"{path}: h statistics of dimension {mean.shape} for h of dimension {dim}")
            out[fold] = (mean.astype(np.float64), std.astype(np.float64), int(f[f"norm/{fold}"].attrs["n_train"]))
    return out


@torch.no_grad()
def encode(encoder, x: np.ndarray, device, batch_size: int = 1024) -> np.ndarray:
    """h (n, D) float32 for input-lead segments x (n, L, T) in mV."""
    out = [encoder(torch.from_numpy(x[lo : lo + batch_size]).to(device)).cpu().numpy() for lo in range(0, len(x), batch_size)]
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, encoder.embed_dim), np.float32)


def tile_by_record(h: np.ndarray, ecg_ids: np.ndarray) -> np.ndarray:
    """Replace each row by the mean h of its record (rows sharing an ecg_id)."""
    uniq, inv = np.unique(ecg_ids, return_inverse=True)
    sums = np.zeros((len(uniq), h.shape[1]), dtype=np.float64)
    np.add.at(sums, inv, h)
    counts = np.bincount(inv, minlength=len(uniq))[:, None]
    return (sums / counts)[inv].astype(np.float32)


def extract_reps(
    segments, folds, encoder_path, out_h5, *, tile: bool = False, device="auto", chunk: int = 8192, log=print, norm_from=None
) -> dict:
    """Write reps.h5 (see module docstring); returns a summary."""
    dev = resolve_device(device)
    encoder, ckpt = load_encoder(encoder_path, dev)
    inputs = ckpt["inputs"]
    meta, _ = read_segment_meta(segments)
    seg_ids = check_seg_ids(meta, segments)
    h = (
        np.concatenate(
            [
                encode(encoder, read_leads(segments, inputs, np.arange(lo, min(lo + chunk, len(meta)))), dev)
                for lo in range(0, len(meta), chunk)
            ]
        )
        if len(meta)
        else np.zeros((0, ckpt["embed_dim"]), np.float32)
    )
    if tile:
        h = tile_by_record(h, meta["ecg_id"].to_numpy())
    with h5py.File(segments, "r") as f:
        has_records = "records" in f
    rec = None
    if has_records:
        rmeta, _ = read_segment_meta(segments, "records")
        win = rmeta["win_id"].to_numpy(np.int64)
        if not np.array_equal(win, np.arange(len(rmeta))):
            raise ArtifactError(f"{segments}: records/meta win_id is not the row index 0..n-1")
        rec = (
            encode(encoder, read_leads(segments, inputs, None, group="records"), dev)
            if len(rmeta)
            else np.zeros((0, h.shape[1]), np.float32)
        )
        if tile and len(rmeta):
            rec = tile_by_record(rec, rmeta["ecg_id"].to_numpy())
    fold_ids = fold_names(folds)
    norms = {} if norm_from is None else _norms_from(norm_from, fold_ids, h.shape[1])
    for fold in fold_ids if norm_from is None else ():
        train = split_rows(meta, load_folds(folds, fold), segments)["train"]
        if len(train) < 2:
            raise ArtifactError(f"{segments}: fold '{fold}' has {len(train)} train segment(s); need 2 for h statistics")
        norms[fold] = (h[train].mean(axis=0, dtype=np.float64), h[train].std(axis=0, dtype=np.float64), len(train))
    with atomic_path(out_h5) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("h", data=h)
        f.create_dataset("seg_id", data=seg_ids)
        if rec is not None:
            f.create_dataset("records/h", data=rec)
            f.create_dataset("records/win_id", data=win)
        for fold, (mean, std, n) in norms.items():
            f.create_dataset(f"norm/{fold}/mean", data=mean.astype(np.float32))
            f.create_dataset(f"norm/{fold}/std", data=std.astype(np.float32))
            f[f"norm/{fold}"].attrs["n_train"] = n
        f.attrs.update({"embed_dim": h.shape[1], "tile": bool(tile), "inputs": list(inputs), "encoder_best_epoch": ckpt["best_epoch"]})
    log(
        f"reps: h {h.shape} for segments, {None if rec is None else rec.shape} for record windows; "
        f"norm stats for folds {fold_ids}; tile={tile}"
    )
    return {"n_segments": len(h), "n_windows": 0 if rec is None else len(rec), "folds": fold_ids}
