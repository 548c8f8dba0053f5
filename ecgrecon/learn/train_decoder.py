"""Train one lead decoder: variant C (signal only), Ch (signal + h) or ChA (GL anchor + Ch residual).

Input x: the input leads of each segment, z-scored per segment and lead (ChA: in mV, the model
z-scores them itself and feeds the raw leads to its frozen GL anchor); h: the encoder
representation standardised with the fold's train statistics (Ch, ChA); target: the lead in
mV. ChA is scored on validation before training (epoch 0 = GL) and keeps those weights unless
an epoch beats them. Loss = w_mse * MSE + w_mae * MAE, AdamW, early stopping on the validation
loss, best weights kept. ``epoch_fraction`` < 1: each epoch trains on a fresh seeded random subset
of that fraction of the train segments (overlapping windows make neighbours near-duplicates),
dividing the cost of an epoch; validation always uses every validation segment. ``precision``
(auto | fp32 | bf16): bf16 runs the training and validation forward passes under bfloat16
autocast (weights, gradients, optimiser state and the loss stay float32); the checkpoint records
the precision used, and evaluation always runs the saved float32 weights in float32. Per-epoch
resume state beside the checkpoint (``{lead}.resume.pt``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
import torch

from ecgrecon.data.datasets import ArtifactError, load_folds, load_h, read_leads, read_segment_meta, split_rows, zscore_segments
from ecgrecon.io.atomic import write_csv
from ecgrecon.io.download import sha256 as sha256_file
from ecgrecon.learn.device import autocast, bf16_native, derive_seed, inference_batch, resolve_device, resolve_precision, seed_everything
from ecgrecon.learn.fitloop import Budget, fingerprint, fit, load_checkpoint, resume_path, save_torch, step
from ecgrecon.learn.linear import GLAnchor, load_checked
from ecgrecon.learn.models import AnchoredDecoder, LeadDecoder, ResidualDenoiser, build_decoder, check_variant, count_params
from ecgrecon.learn.paper import PaperDecoder, decoder_arch


@dataclass
class DecoderData:
    """Arrays for one (variant, fold, lead): x z-scored (n, n_in, T), y in mV (n, T), h or None."""

    x_train: np.ndarray
    y_train: np.ndarray
    h_train: np.ndarray | None
    x_val: np.ndarray
    y_val: np.ndarray
    h_val: np.ndarray | None


def check_seg_ids(meta: pd.DataFrame, path) -> np.ndarray:
    """seg_id must equal the row index (the contract); returns it."""
    seg = meta["seg_id"].to_numpy(np.int64)
    if not np.array_equal(seg, np.arange(len(meta))):
        raise ArtifactError(f"{path}: meta seg_id is not the row index 0..n-1")
    return seg


def load_decoder_data(segments, folds, reps, *, variant: str, fold: str, lead: str, inputs, noise=None) -> DecoderData:
    """Read train and val arrays of one fold; h only for variants Ch and ChA; ChA keeps x in mV.

    ``noise`` (:class:`ecgrecon.noise.inputs.NoisyInputs`): the input leads get the noise of their split's part
    (train / val) at one of the task's levels per record and lead; the target stays clean."""
    method = check_variant(variant)
    meta, _ = read_segment_meta(segments)
    seg = check_seg_ids(meta, segments)
    rows = split_rows(meta, load_folds(folds, fold), segments)
    out = {}
    for split in ("train", "val"):
        r = rows[split]
        if len(r) == 0:
            raise ArtifactError(f"{segments}: fold '{fold}' has no {split} segments")
        sig = read_leads(segments, list(inputs) + [lead], r)
        if noise is not None:
            m = meta.iloc[r]
            sig[:, :-1], _ = noise.apply(sig[:, :-1], inputs, m["ecg_id"].to_numpy(), m["start"].to_numpy(), split)
        out[f"x_{split}"] = np.ascontiguousarray(sig[:, :-1]) if method.raw_inputs else zscore_segments(sig[:, :-1])
        out[f"y_{split}"] = np.ascontiguousarray(sig[:, -1])
        if method.uses_h:
            if reps is None:
                raise ValueError(f"variant {variant} needs reps.h5")
            out[f"h_{split}"] = load_h(reps, fold, seg[r])
        else:
            out[f"h_{split}"] = None
    return DecoderData(**out)


def _batch_loss(pred, y, w):
    err = pred - y
    return w["mse"] * (err**2).mean() + w["mae"] * err.abs().mean()


BF16_TOLERANCE = 0.02
"""Largest accepted RMS difference between a decoder's bf16-autocast and float32 outputs, relative to the
float32 outputs' standard deviation (bf16 rounding alone gives ~0.3 %)."""


@torch.no_grad()
def bf16_error(model: torch.nn.Module, x: torch.Tensor, h: torch.Tensor | None) -> float:
    """RMS(bf16-autocast output - float32 output) / std(float32 output) of ``model`` on one batch."""
    ref = model(x, h).double()
    with autocast("bf16", x.device):
        low = model(x, h).double()
    return float((low - ref).pow(2).mean().sqrt() / ref.std().clamp_min(1e-12))


def _checked_bf16(model, probes, requested: str, log) -> str:
    """``bf16`` if the untrained model's bf16 outputs match float32 on every probe batch (train and validation
    batch shapes); else ``fp32`` with a warning for ``precision: auto``, and an error for ``precision: bf16``.
    Guards against bf16 kernels that are wrong for some layer shapes (seen for a 16-channel stride-4 conv
    in oneDNN 3.12 on AMX)."""
    err = max(bf16_error(model, x, h) for x, h in probes)
    if err <= BF16_TOLERANCE:
        log(f"precision bf16: bf16 vs float32 output difference {err:.2%} of the output std on the probe batches")
        return "bf16"
    msg = (
        f"bf16 outputs of this decoder differ from float32 by {err:.1%} of the output std on this device "
        f"(> {BF16_TOLERANCE:.0%}: a bf16 kernel is inexact for these layer shapes)"
    )
    if requested == "bf16":
        raise RuntimeError(f"precision bf16: {msg}; set decoder.precision to fp32 or auto")
    log(f"warning: {msg}; training in fp32")
    return "fp32"


@dataclass
class _OnDevice:
    """One fit's train and validation tensors on the device (``h*`` None for variants without h)."""

    xt: torch.Tensor
    ht: torch.Tensor | None
    yt: torch.Tensor
    xv: torch.Tensor
    hv: torch.Tensor | None
    yv: torch.Tensor


def _on_device(data: DecoderData, dev) -> _OnDevice:
    def put(a):
        return None if a is None else torch.from_numpy(a).to(dev)

    return _OnDevice(put(data.x_train), put(data.h_train), put(data.y_train), put(data.x_val), put(data.h_val), put(data.y_val))


def _epoch_size(cfg: dict, n: int) -> int:
    """Train segments per epoch: ``epoch_fraction`` of the ``n`` train segments (at least one)."""
    fraction = float(cfg["epoch_fraction"])
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"decoder epoch_fraction must be in (0, 1], got {fraction}")
    return max(1, int(round(fraction * n)))


@dataclass
class _Step:
    """What every batch of one fit uses: the model, its optimiser, the autocast precision, the loss weights, the device."""

    model: torch.nn.Module
    opt: torch.optim.Optimizer
    precision: str
    w: dict
    dev: torch.device
    clip: float | None = None  # global gradient-norm clip (the authors' 1.0), None: no clipping
    select_on: str = "loss"  # the validation number early stopping and the checkpoint use: loss | mse


def _train_epoch(epoch: int, *, s: _Step, t: _OnDevice, n_epoch: int, bs: int, seed: int, key: tuple) -> float:
    """One epoch on a fresh seeded subset of ``n_epoch`` train segments; returns the mean batch loss."""
    g = torch.Generator().manual_seed(derive_seed(seed, "decoder-batches", *key, epoch))
    perm = torch.randperm(len(t.xt), generator=g)[:n_epoch].to(s.dev)
    total = 0.0
    for lo in range(0, n_epoch, bs):
        idx = perm[lo : lo + bs]
        with autocast(s.precision, s.dev):
            pred = s.model(t.xt[idx], None if t.ht is None else t.ht[idx])
        total += step(s.opt, _batch_loss(pred.float(), t.yt[idx], s.w), clip=s.clip) * len(idx)
    return total / n_epoch


def _validate(*, s: _Step, t: _OnDevice, vb: int) -> dict:
    """Validation loss, RMSE and MAE (mV) over every validation segment, in chunks of ``vb``; ``val_loss`` is the
    training loss, or the MSE alone (``select_on: mse``, the authors')."""
    se = ae = 0.0
    for lo in range(0, len(t.xv), vb):
        with autocast(s.precision, s.dev):
            pred = s.model(t.xv[lo : lo + vb], None if t.hv is None else t.hv[lo : lo + vb])
        err = (pred.float() - t.yv[lo : lo + vb]).double()
        se += float((err**2).sum())
        ae += float(err.abs().sum())
    m = t.yv.numel()
    w = s.w
    loss = se / m if s.select_on == "mse" else w["mse"] * se / m + w["mae"] * ae / m
    return {"val_loss": loss, "val_rmse_mv": (se / m) ** 0.5, "val_mae_mv": ae / m}


def _fit_fingerprint(model, data: DecoderData, *, variant, key, seed, dev, precision, cfg) -> str:
    """What a resume state must match: settings, thread count, the GL anchor (ChA) and the data."""
    anchored = isinstance(model, AnchoredDecoder)
    settings = {
        "variant": variant,
        "key": list(key),
        "seed": seed,
        "device": dev.type,
        "precision": precision,
        "cfg": {k: cfg[k] for k in sorted(cfg)},
        "threads": torch.get_num_threads(),
        "anchor": None if not anchored else [float(v) for v in model.anchor.weight.flatten().tolist()] + [float(model.anchor.bias)],
    }
    return fingerprint(
        settings, data.x_train, data.y_train, data.x_val, data.y_val, *(a for a in (data.h_train, data.h_val) if a is not None)
    )


def fit_decoder(
    data: DecoderData,
    *,
    variant: str,
    cfg: dict,
    seed: int,
    key: tuple = (),
    device: str = "auto",
    state_path,
    log=print,
    epoch_hook: Callable[[int], None] | None = None,
    anchor: GLAnchor | None = None,
    lead_index: int | None = None,
    init: dict | None = None,
) -> tuple[LeadDecoder | AnchoredDecoder, dict]:
    """Train with early stopping; returns the model holding the best weights and the fit result.

    ``key`` (fold, lead) seeds initialisation and batch order; C and Ch of the same fold and
    lead see the same batches. ``anchor``: the fold's GL anchor of the lead (variant ChA only).
    ``lead_index``: a denoiser's own lead among its inputs (DN: the residual's base). ``init``: a pre-trained
    checkpoint of :func:`load_init` to start from (an anchored model keeps this run's anchor); epoch 0 of the
    history is then the pre-trained model, which stays the best unless fine-tuning beats it.
    Steps: device and precision, model and optimiser, tensors on the device, bf16 check, then the
    fit loop (:func:`ecgrecon.learn.fitloop.fit`) over :func:`_train_epoch` and :func:`_validate`.
    """
    dev = resolve_device(device)
    seed_everything(seed, dev)
    requested = cfg["precision"]
    precision = resolve_precision(requested, dev)
    if precision == "bf16" and not bf16_native(dev):
        log(f"warning: precision bf16 on a {dev.type} without native bfloat16: it runs, but slower than fp32")
    h_dim = 0 if data.h_train is None else data.h_train.shape[1]
    torch.manual_seed(derive_seed(seed, "decoder-init", variant, *key))
    model = build_decoder(variant, data.x_train.shape[1], h_dim, cfg, anchor=anchor, lead_index=lead_index).to(dev)
    if isinstance(model, PaperDecoder) and model.x_norm == "train":
        model.fit_input_stats(data.x_train)
    if init is not None:
        start_from(model, init)
    opt = torch.optim.AdamW(model.parameters(), lr=float(cfg["lr"]), weight_decay=float(cfg["weight_decay"]))
    w = {k: float(v) for k, v in cfg["loss_weights"].items()}
    bs = int(cfg["batch_size"])
    t = _on_device(data, dev)
    vb = inference_batch(dev)
    if precision == "bf16":
        precision = _checked_bf16(
            model, [(t.xt[:bs], None if t.ht is None else t.ht[:bs]), (t.xv[:vb], None if t.hv is None else t.hv[:vb])], requested, log
        )
    # the authors' training clips the gradients and selects on the validation MSE; ours does neither
    clip, select_on = (cfg["grad_clip"], cfg["select_on"]) if isinstance(model, PaperDecoder) else (None, "loss")
    s = _Step(model, opt, precision, w, dev, clip, select_on)
    train_epoch = partial(_train_epoch, s=s, t=t, n_epoch=_epoch_size(cfg, len(t.xt)), bs=bs, seed=seed, key=key)
    validate = partial(_validate, s=s, t=t, vb=vb)
    fp = _fit_fingerprint(model, data, variant=variant, key=key, seed=seed, dev=dev, precision=precision, cfg=cfg)
    if init is not None:
        fp = fingerprint({"fit": fp, "init": init["sha256"]})
    # scored before training: epoch 0 is the anchor (GL, or the noisy lead itself) alone, or the pre-trained model
    anchored = isinstance(model, AnchoredDecoder | ResidualDenoiser) or init is not None
    result = fit(
        {"model": model},
        opt,
        train_epoch,
        validate,
        budget=Budget.of(cfg),
        state_path=state_path,
        fp=fp,
        log=log,
        epoch_hook=epoch_hook,
        validate_initial=anchored,
    )
    model.load_state_dict(result["best"]["model"])
    model.eval()
    return model, {**result, "precision": precision}


def model_arch(model: LeadDecoder | AnchoredDecoder | PaperDecoder) -> dict:
    """The constructor settings of a decoder (stored in its checkpoint)."""
    if isinstance(model, PaperDecoder):
        return decoder_arch(model)
    if isinstance(model, AnchoredDecoder):
        return {**model_arch(model.decoder), "gl_context": int(model.anchor.context)}
    if isinstance(model, ResidualDenoiser):
        return {**model_arch(model.decoder), "lead_index": model.lead_index}
    return {"proj": model.proj, "hidden": model.fuse.out_channels, "stride": model.stride, "out_channels": model.up.out_channels}


def load_init(path, *, variant: str, lead: str, inputs) -> dict:
    """A pre-trained decoder checkpoint to fine-tune from (:attr:`ecgrecon.methods.Method.pretrained`): refuses one
    of another method, lead or input-lead set; adds the file's sha256 (resume fingerprint, provenance)."""
    ckpt = load_checkpoint(path, "decoder")
    want = check_variant(variant).pretrained
    if ckpt["variant"] != want or ckpt["lead"] != lead or ckpt["inputs"] != [str(i) for i in inputs]:
        raise ArtifactError(
            f"{path}: pre-trained checkpoint is {ckpt['variant']} {ckpt['inputs']} -> {ckpt['lead']}, "
            f"{variant} needs {want} {list(inputs)} -> {lead}"
        )
    return {**ckpt, "sha256": sha256_file(path), "path": str(path)}


def start_from(model: torch.nn.Module, init: dict) -> None:
    """Load a pre-trained checkpoint's weights into ``model`` (same architecture, checked); an anchored model's
    anchor buffers are kept (they are this run's GL map, not the pre-training run's)."""
    have = model_arch(model)
    if init["arch"] != have or int(init["h_dim"]) != int(model.h_dim):
        raise ArtifactError(
            f"{init['path']}: pre-trained decoder has arch {init['arch']} (h {init['h_dim']}), "
            f"the configured one {have} (h {model.h_dim}): pre-train with the same `decoder` settings"
        )
    own = model.state_dict()
    keep = {k for k in own if k.startswith("anchor.")}
    state = {k: (own[k] if k in keep else v) for k, v in init["state_dict"].items()}
    model.load_state_dict(state)


def load_anchor(gl_path, fold: str, lead: str, inputs) -> GLAnchor:
    """The GL anchor of ``lead`` from the fold's GL map (rule fit_gl), checked against fold and inputs."""
    gl = load_checked(gl_path, fold, inputs)
    if lead not in gl.targets:
        raise ArtifactError(f"{gl_path}: GL map has no target lead {lead} (has {gl.targets})")
    return GLAnchor.from_map(gl, lead)


def train_decoder(
    segments,
    folds,
    reps,
    out_model,
    out_curve,
    *,
    variant,
    fold,
    lead,
    inputs,
    cfg,
    seed,
    device="auto",
    log=print,
    epoch_hook=None,
    gl_path=None,
    noise=None,
    init=None,
) -> dict:
    """Load data, train, write the checkpoint (best weights) and the validation curve CSV.

    ``gl_path``: the fold's GL map (variant ChA only: its anchor). ``noise``: train with noisy inputs
    (:func:`load_decoder_data`). ``init``: a pre-trained checkpoint to fine-tune (:func:`load_init`; methods with
    ``pretrained``).
    """
    anchored = check_variant(variant).anchor is not None
    if anchored and gl_path is None:
        raise ValueError(f"variant {variant} needs the fold's GL map (gl_path)")
    anchor = load_anchor(gl_path, fold, lead, inputs) if anchored else None
    method = check_variant(variant)
    if method.pretrained and init is None:
        raise ValueError(f"variant {variant} starts from a pre-trained {method.pretrained} checkpoint (init)")
    start = None if init is None else load_init(init, variant=variant, lead=lead, inputs=inputs)
    if method.neighbours and lead not in inputs:
        raise ValueError(f"variant {variant} denoises its own lead: {lead} must be among the inputs {list(inputs)}")
    data = load_decoder_data(segments, folds, reps, variant=variant, fold=fold, lead=lead, inputs=inputs, noise=noise)
    noisy = "" if noise is None else f"; noisy inputs ({noise.kind}, {noise.source}, levels {list(noise.levels)})"
    log(f"{variant}/{fold}/{lead}: {len(data.x_train)} train, {len(data.x_val)} val segments; inputs {list(inputs)}{noisy}")
    state = resume_path(out_model)
    model, result = fit_decoder(
        data,
        variant=variant,
        cfg=cfg,
        seed=seed,
        key=(fold, lead),
        device=device,
        state_path=state,
        log=log,
        epoch_hook=epoch_hook,
        anchor=anchor,
        lead_index=list(inputs).index(lead) if method.neighbours else None,
        init=start,
    )
    n_params = count_params(model)
    ckpt = {
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "variant": variant,
        "fold": fold,
        "lead": lead,
        "inputs": [str(i) for i in inputs],
        "h_dim": int(model.h_dim),
        "arch": model_arch(model),
        "n_params": n_params,
        "precision": result["precision"],
        "best_epoch": int(result["best_epoch"]),
        "best_val_loss": float(result["best_val"]),
        "epochs_run": sum(1 for r in result["history"] if r["epoch"] > 0),
        "seed": int(seed),
        "train_target_mean": torch.from_numpy(data.y_train.mean(axis=0, dtype=np.float64).astype(np.float32)),
    }
    if start is not None:
        ckpt["init"] = {"path": start["path"], "sha256": start["sha256"]}
    write_csv(out_curve, pd.DataFrame(result["history"]))
    save_torch(out_model, ckpt)
    state.unlink(missing_ok=True)
    log(
        f"{variant}/{fold}/{lead}: {n_params} parameters, best epoch {result['best_epoch']} "
        f"(val loss {result['best_val']:.5f}) of {len(result['history'])}"
    )
    return {"n_params": n_params, "best_epoch": result["best_epoch"], "best_val": result["best_val"], "precision": result["precision"]}


def load_decoder(path, device="cpu") -> tuple[LeadDecoder | AnchoredDecoder, dict]:
    """Rebuild a decoder from its checkpoint (``torch.load(weights_only=True)``)."""
    ckpt = load_checkpoint(path, "decoder")
    n_in = len(ckpt["inputs"])
    anchored = check_variant(ckpt["variant"]).anchor is not None
    anchor = GLAnchor(n_in, ckpt["arch"]["gl_context"]) if anchored else None
    model = build_decoder(ckpt["variant"], n_in, ckpt["h_dim"], ckpt["arch"], anchor=anchor, lead_index=ckpt["arch"].get("lead_index"))
    model.load_state_dict(ckpt["state_dict"])
    return model.to(device).eval(), ckpt
