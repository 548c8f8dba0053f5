"""Train the contrastive encoder on the official train split; early-stop on validation loss.

Batches come from the class-balanced sampler; each segment contributes a morphology-centred
view and a signal-augmented view; the loss is the supervised contrastive loss with positives =
the other view and every sample sharing a label (``labels.level``, likelihood >= min).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import torch

from ecgrecon.data.datasets import ArtifactError, class_vocab, label_lists, load_folds, read_leads, read_segment_meta, split_rows
from ecgrecon.io.atomic import write_csv
from ecgrecon.io.download import sha256 as sha256_file
from ecgrecon.learn.device import derive_seed, resolve_device, seed_everything
from ecgrecon.learn.fitloop import Budget, fingerprint, fit, load_checkpoint, resume_path, save_torch
from ecgrecon.learn.losses import supcon_loss
from ecgrecon.learn.models import SignalEncoder, build_encoder, count_params
from ecgrecon.learn.sampler import ClassBalancedBatchSampler, multi_hot
from ecgrecon.learn.views import augment, morphology_view

ENCODER_FOLD = "official"
TRAIN_KEYS = (
    "embed_dim",
    "proj_dim",
    "width",
    "temperature",
    "batch_size",
    "lr",
    "weight_decay",
    "max_epochs",
    "patience",
    "augment",
    "lr_schedule",
)


def load_encoder_data(segments, folds, *, inputs, level: str) -> dict:
    """Input leads (mV) and multi-hot labels of the official train and val splits."""
    meta, attrs = read_segment_meta(segments)
    rows = split_rows(meta, load_folds(folds, ENCODER_FOLD), segments)
    lists = label_lists(meta, level, segments)
    classes = class_vocab([lists[i] for i in rows["train"]])
    if not classes:
        raise ArtifactError(f"{segments}: no {level} label in the train split: nothing to contrast")
    out = {"classes": classes, "fs": float(attrs["fs"])}
    for split in ("train", "val"):
        if len(rows[split]) == 0:
            raise ArtifactError(f"{segments}: the official fold has no {split} segments")
        out[f"x_{split}"] = read_leads(segments, inputs, rows[split])
        out[f"y_{split}"] = multi_hot([lists[i] for i in rows[split]], classes)
    return out


def fit_encoder(
    data: dict,
    *,
    cfg: dict,
    seed: int,
    device: str = "auto",
    state_path,
    log=print,
    epoch_hook: Callable[[int], None] | None = None,
    init: dict | None = None,
):
    """Train encoder + projection head; returns (encoder, head, fit result) with best weights.

    ``init``: a checkpoint of :func:`load_init` (pre-trained weights of the same architecture) to start from
    instead of the seeded random initialisation; epoch 0 of the history is then the pre-trained model."""
    dev = resolve_device(device)
    seed_everything(seed, dev)
    fs, aug, tau = data["fs"], cfg["augment"], float(cfg["temperature"])
    torch.manual_seed(derive_seed(seed, "encoder-init"))
    enc, head = build_encoder(data["x_train"].shape[1], cfg)
    if init is not None:
        enc.load_state_dict(init["encoder"])
        head.load_state_dict(init["head"])
    enc, head = enc.to(dev), head.to(dev)
    params = list(enc.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=float(cfg["lr"]), weight_decay=float(cfg["weight_decay"]))

    def prepared(split):
        x = torch.from_numpy(data[f"x_{split}"])
        y = torch.from_numpy(data[f"y_{split}"])
        n_lab = int(y.any(dim=1).sum())
        if n_lab < 2:
            raise ArtifactError(f"encoder {split} split has {n_lab} labelled segment(s); need at least 2")
        morph = torch.cat([morphology_view(x[lo : lo + 8192], fs) for lo in range(0, len(x), 8192)])
        return x, morph, y, n_lab

    xt, mt, yt, n_lab = prepared("train")
    xv, mv, yv, n_lab_v = prepared("val")
    bs = min(int(cfg["batch_size"]), n_lab)
    log(f"encoder: {len(xt)} train ({n_lab} labelled), {len(xv)} val ({n_lab_v} labelled) segments; classes {data['classes']}; batch {bs}")
    sampler = ClassBalancedBatchSampler(data["y_train"], bs, derive_seed(seed, "encoder-sampler"))
    # Validation: fixed batches and fixed augmentations, identical at every epoch.
    vs = ClassBalancedBatchSampler(
        data["y_val"],
        min(int(cfg["batch_size"]), n_lab_v),
        derive_seed(seed, "encoder-val"),
        n_batches=max(1, -(-n_lab_v // min(int(cfg["batch_size"]), n_lab_v))),
    )
    g_val = torch.Generator().manual_seed(derive_seed(seed, "encoder-val-aug"))
    val_batches = [(torch.from_numpy(b), augment(xv[torch.from_numpy(b)], fs, aug, g_val)) for b in vs]

    def loss_of(idx, x_aug, morph, labels):
        v = torch.cat([morph[idx], x_aug]).to(dev)
        z = head(enc(v))
        lab = labels[idx].repeat(2, 1).to(dev)
        ids = idx.repeat(2).to(dev)
        return supcon_loss(z, lab, ids, tau)

    def train_epoch(epoch: int) -> float:
        sampler.set_epoch(epoch)
        g = torch.Generator().manual_seed(derive_seed(seed, "encoder-aug", epoch))
        total = 0.0
        for b in sampler:
            idx = torch.from_numpy(b)
            loss = loss_of(idx, augment(xt[idx], fs, aug, g), mt, yt)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item()
        return total / len(sampler)

    def validate() -> dict:
        losses = [float(loss_of(idx, xa, mv, yv)) for idx, xa in val_batches]
        return {"val_loss": float(np.mean(losses))}

    settings = {
        "seed": seed,
        "device": dev.type,
        "classes": data["classes"],
        "fs": fs,
        "cfg": {k: cfg[k] for k in TRAIN_KEYS},
        "threads": torch.get_num_threads(),
        "init": None if init is None else init["sha256"],
    }
    fp = fingerprint(settings, data["x_train"], data["x_val"], data["y_train"], data["y_val"])
    modules = {"encoder": enc, "head": head}
    result = fit(
        modules,
        opt,
        train_epoch,
        validate,
        budget=Budget.of(cfg),
        state_path=state_path,
        fp=fp,
        log=log,
        epoch_hook=epoch_hook,
        validate_initial=init is not None,
    )
    enc.load_state_dict(result["best"]["encoder"])
    head.load_state_dict(result["best"]["head"])
    return enc.eval(), head.eval(), result


ARCH_KEYS = ("embed_dim", "proj_dim", "width")


def load_init(path, inputs, cfg: dict) -> dict:
    """A pre-trained encoder.pt (our design) to fine-tune from: refuses another input-lead set or architecture; adds
    the file's sha256 (the resume fingerprint and the checkpoint's provenance)."""
    ckpt = load_checkpoint(path, "encoder")
    if ckpt.get("design", "ours") != "ours":
        raise ArtifactError(f"{path}: pre-trained encoder is of design {ckpt.get('design')!r}; only ours can be fine-tuned")
    if ckpt["inputs"] != [str(i) for i in inputs]:
        raise ArtifactError(f"{path}: pre-trained encoder reads {ckpt['inputs']}, this run's task reads {list(inputs)}")
    wrong = {k: (ckpt[k], cfg[k]) for k in ARCH_KEYS if int(ckpt[k]) != int(cfg[k])}
    if wrong:
        raise ArtifactError(f"{path}: pre-trained encoder differs from config `encoder` in {wrong} (pre-trained, config)")
    return {**ckpt, "sha256": sha256_file(path), "path": str(path)}


def train_encoder(
    segments, folds, out_model, out_log, out_png, *, inputs, level, cfg, seed, device="auto", log=print, epoch_hook=None, init=None
) -> dict:
    """Train and write encoder.pt (best weights), train_log.csv and the loss-curve PNG.

    ``init``: path of a pre-trained encoder.pt to fine-tune (:func:`load_init`)."""
    data = load_encoder_data(segments, folds, inputs=inputs, level=level)
    state = resume_path(out_model)
    start = None if init is None else load_init(init, inputs, cfg)
    if start is not None:
        log(f"encoder: fine-tuning from {init} (pre-trained best epoch {start['best_epoch']}, val loss {start['best_val_loss']:.4f})")
    enc, head, result = fit_encoder(data, cfg=cfg, seed=seed, device=device, state_path=state, log=log, epoch_hook=epoch_hook, init=start)
    settings = {
        "inputs": [str(i) for i in inputs],
        "classes": list(data["classes"]),
        "level": level,
        "fs": data["fs"],
        "embed_dim": int(cfg["embed_dim"]),
        "proj_dim": int(cfg["proj_dim"]),
        "width": int(cfg["width"]),
        "temperature": float(cfg["temperature"]),
    }
    if start is not None:
        settings["init"] = {"path": start["path"], "sha256": start["sha256"]}
    ckpt = write_encoder(
        enc, head, result, settings, seed, out_model, out_log, out_png, title=f"contrastive encoder (tau={cfg['temperature']})"
    )
    log(f"encoder: {ckpt['n_params']} parameters; best epoch {ckpt['best_epoch']} of {ckpt['epochs_run']}")
    return ckpt


def write_encoder(enc, head, result: dict, settings: dict, seed: int, out_model, out_log, out_png, *, title: str) -> dict:
    """Write an encoder's outputs (shared by both designs): encoder.pt (best weights of encoder and head, ``settings``,
    parameter counts, best epoch and loss), train_log.csv and the loss-curve PNG; then drop the resume state."""
    from ecgrecon.learn.curves import loss_curve

    ckpt = {
        "encoder": {k: v.detach().cpu() for k, v in enc.state_dict().items()},
        "head": {k: v.detach().cpu() for k, v in head.state_dict().items()},
        **settings,
        "n_params": count_params(enc),
        "n_params_head": count_params(head),
        "best_epoch": int(result["best_epoch"]),
        "best_val_loss": float(result["best_val"]),
        "epochs_run": sum(1 for r in result["history"] if r["epoch"] > 0),  # epoch 0: the untrained / pre-trained weights
        "seed": int(seed),
    }
    history = pd.DataFrame(result["history"])
    write_csv(out_log, history)
    loss_curve(history, out_png, title=title)
    save_torch(out_model, ckpt)
    resume_path(out_model).unlink(missing_ok=True)
    return ckpt


def load_encoder(path, device="cpu") -> tuple[SignalEncoder, dict]:
    """Rebuild the encoder from encoder.pt (``torch.load(weights_only=True)``): ours, or the authors'
    (``design: paper``, :mod:`ecgrecon.learn.paper`)."""
    ckpt = load_checkpoint(path, "encoder")
    if ckpt.get("design") == "paper":
        from ecgrecon.learn import paper

        return paper.load_encoder(path, device)
    enc, _ = build_encoder(len(ckpt["inputs"]), {"embed_dim": ckpt["embed_dim"], "proj_dim": ckpt["proj_dim"], "width": ckpt["width"]})
    enc.load_state_dict(ckpt["encoder"])
    return enc.to(device).eval(), ckpt
