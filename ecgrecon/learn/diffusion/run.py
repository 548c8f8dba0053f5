"""The diffusion prior in the pipeline (rule ``train_prior``): one prior per run, trained on a fold's train segments.

The prior models clean windows of the 8 independent leads; it reads no task (a task is only an observation
operator at sampling time), so one checkpoint serves every task of the run. The ``diffusion.prior`` config section
holds the :class:`ecgrecon.learn.diffusion.prior.PriorSettings` fields. Train and validation windows are the segment
windows (results/segments/segments.h5) of the fold's train and val records (``window: record``: their whole records,
padded to 10.24 s, :mod:`ecgrecon.learn.diffusion.records`); early stopping on the val loss (fold 9
for the official fold); the test records are never read. Writes the checkpoint and a log per validation.
"""

from __future__ import annotations

import pandas as pd

from ecgrecon.io.atomic import write_csv
from ecgrecon.learn.classifier import CLASSES
from ecgrecon.learn.diffusion.prior import PriorSettings, load_prior_windows, train_prior


def train_from_files(segments_h5, folds_json, out_model, out_log, cfg: dict, *, fold: str, seed: int, device: str, log=print) -> dict:
    """Train the prior on ``fold``'s train segments (early stop on val); returns the checkpoint dict."""
    settings = PriorSettings.of(dict(cfg))
    train = load_prior_windows(segments_h5, folds_json, fold, "train", kind=settings.window)
    val = load_prior_windows(segments_h5, folds_json, fold, "val", kind=settings.window)
    overlap = set(train.meta["patient_id"]) & set(val.meta["patient_id"])
    if overlap:
        raise ValueError(f"{folds_json}: patient {min(overlap)} is in both train and val of fold {fold}")
    labels = (train.labels(CLASSES), val.labels(CLASSES)) if settings.conditional else (None, None)
    log(
        f"prior {fold}: {len(train.x)} train / {len(val.x)} val {settings.window} windows of {train.x.shape[1]} leads x {train.window} at "
        f"{train.fs:g} Hz; {settings.max_steps} steps max, validation every {settings.eval_every}"
    )
    _, ckpt = train_prior(
        train.x, val.x, settings, seed=seed, out_path=out_model, device=device, log=log,
        labels=labels[0], val_labels=labels[1], fs=train.fs,
    )  # fmt: skip
    hist = pd.DataFrame(ckpt["history"])
    hist.insert(0, "n_train_windows", len(train.x))
    hist.insert(1, "n_params", ckpt["n_params"])
    write_csv(out_log, hist)
    log(f"prior: {ckpt['n_params']} parameters, best step {ckpt['best_step']}, {ckpt['seconds']:.1f} s")
    return ckpt
