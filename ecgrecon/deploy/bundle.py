"""The exported model bundle: one file that ``ecgrecon reconstruct`` needs, nothing else.

A bundle is a dict saved with ``torch.save`` that loads with ``torch.load(weights_only=True)``
(plain tensors and JSON-able values only):

- ``format`` = ``"ecgrecon-bundle"``, ``format_version`` = :data:`BUNDLE_VERSION`; a reader
  refuses any other version.
- ``meta``: JSON-able settings and provenance (see :func:`assemble_bundle`): variant, fold,
  input/target lead names, fs, window, hop, the cleaning settings, tile flag, the z-score floor,
  architectures, parameter counts, the SHA-256 of the settings that shape it (``settings_sha256``) and
  the metrics reached on validation and test.
- ``encoder``: the encoder's state dict (variants ``Ch``, ``ChA``) or None (variant ``C`` never uses h).
- ``h_norm``: ``{"mean", "std"}`` of h over the fold's train segments (``Ch``, ``ChA``) or None.
- ``decoders`` of variant ``ChA`` carry their frozen GL anchor (buffers ``anchor.weight``, ``anchor.bias``).
- ``decoders``: lead -> decoder state dict, one per target lead.
- ``gl`` (optional; bundles exported before it lack it): the task's population linear map GL of the
  same fold (``results/{task}/linear/{fold}/GL.json``): ``inputs``, ``targets``, ``context``, ``fold`` and
  float64 tensors ``weights`` (targets, inputs, 2 context + 1), ``intercept`` and ``alpha`` (targets,),
  so that ``ecgrecon evaluate`` scores the model beside GL on the same windows (:func:`bundle_gl`).

The model card (``.json`` beside the bundle) is ``meta`` plus the bundle's file name and SHA-256.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ecgrecon import __version__
from ecgrecon.data.datasets import EPS_MV, ArtifactError
from ecgrecon.io.atomic import atomic_path
from ecgrecon.io.wfdbio import PathError
from ecgrecon.learn.linear import GLAnchor, LinearMap, load_checked
from ecgrecon.learn.models import LeadDecoder, SignalEncoder, build_decoder, check_variant
from ecgrecon.methods import REGISTRY

BUNDLE_FORMAT = "ecgrecon-bundle"
BUNDLE_VERSION = 1
CLEAN_KEYS = ("fs", "notch_hz", "bandpass_hz", "filter_order", "filter_form", "median_window_s", "median_edges")
LEGACY_CLEAN = {"filter_form": "sos", "median_edges": "replicate"}
"""How bundles exported before these clean keys existed were cleaned (read_bundle fills them in)."""
SEGMENT_METRICS = ("rmse", "rmse_seg", "r2", "r2_seg", "pearson_seg", "pearson_pooled", "mae")  # pooled and seg-mean (authors')
RECORD_METRICS = ("rmse_mean", "rmse_ci95", "r2_mean", "r2_ci95", "pearson_mean", "pearson_ci95")
META_KEYS = (
    "ecgrecon_version",
    "variant",
    "fold",
    "inputs",
    "targets",
    "fs",
    "window",
    "hop",
    "clean",
    "tile_reps",
    "zscore_eps_mv",
    "h_dim",
    "encoder",
    "decoders",
    "settings_sha256",
    "metrics",
    "units",
    "output_names",
)
RECON_SUFFIX = "-rec"
"""Reconstructed leads are written as ``V1-rec``, ``V3-rec``, ... beside the measured ones."""


class BundleError(PathError, ValueError):
    """A bundle that cannot be built or used; ``str`` is ``"<path>: <reason>"``."""


def _json_safe(v):
    """NaN / inf -> None, numpy scalars -> Python (the card must be strict JSON)."""
    if isinstance(v, dict):
        return {str(k): _json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_json_safe(x) for x in v]
    if isinstance(v, (np.floating, float)):
        return float(v) if math.isfinite(v) else None
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def _cpu_state(module_or_state) -> dict:
    state = module_or_state.state_dict() if hasattr(module_or_state, "state_dict") else module_or_state
    return {k: v.detach().cpu().clone() for k, v in state.items()}


def assemble_bundle(
    *,
    variant: str,
    fold: str,
    settings: dict,
    decoders: dict,
    decoder_info: dict,
    encoder=None,
    encoder_info: dict | None = None,
    h_mean=None,
    h_std=None,
    metrics: dict | None = None,
    gl: LinearMap | None = None,
) -> dict:
    """The bundle dict from in-memory parts.

    ``settings``: inputs, targets, window, hop, tile_reps and ``clean`` (the pipeline's cleaning
    settings, :data:`CLEAN_KEYS`). ``decoders``: lead -> :class:`LeadDecoder` (or its state
    dict); ``decoder_info``: lead -> {arch, h_dim, n_params, ...}. Variant Ch also needs the
    encoder (module or state dict), ``encoder_info`` ({embed_dim, width, ...}) and h_mean/h_std.
    ``gl``: the population linear map of the same inputs and targets (stored under ``gl``, its
    context, fold and alphas also in ``meta["gl"]``), or None.
    """
    inputs, targets = [str(x) for x in settings["inputs"]], [str(x) for x in settings["targets"]]
    check_variant(variant)
    if sorted(decoders) != sorted(targets):
        raise ValueError(f"decoders for {sorted(decoders)} but targets are {targets}")
    clean = {k: settings["clean"][k] for k in CLEAN_KEYS}
    has_h = check_variant(variant).uses_h
    if has_h and (encoder is None or h_mean is None or h_std is None):
        raise ValueError(f"variant {variant} needs the encoder and the h normalisation statistics")
    meta = {
        "ecgrecon_version": __version__,
        "variant": variant,
        "fold": fold,
        "inputs": inputs,
        "targets": targets,
        "fs": float(clean["fs"]),
        "window": int(settings["window"]),
        "hop": int(settings["hop"]),
        "clean": clean,
        "tile_reps": bool(settings.get("tile_reps", False)) if has_h else False,
        "zscore_eps_mv": EPS_MV,
        "h_dim": int(encoder_info["embed_dim"]) if has_h else 0,
        "encoder": dict(encoder_info) if has_h else None,
        "decoders": {lead: dict(decoder_info[lead]) for lead in targets},
        "metrics": metrics or {},
        "units": "mV",
        "output_names": {lead: lead + RECON_SUFFIX for lead in targets},
    }
    if gl is not None:
        if (list(gl.inputs), list(gl.targets)) != (inputs, targets):
            raise ValueError(f"GL map of {gl.inputs} -> {gl.targets} does not fit the bundle's {inputs} -> {targets}")
        meta["gl"] = {
            "method": "GL",
            "fold": str(gl.info.get("fold", fold)),
            "context": int(gl.context),
            "alpha": {t: float(a) for t, a in zip(targets, gl.alpha)},
        }
    shaping = {k: meta[k] for k in ("variant", "fold", "inputs", "targets", "window", "hop", "clean", "tile_reps")}
    meta["settings_sha256"] = hashlib.sha256(json.dumps(_json_safe(shaping), sort_keys=True).encode()).hexdigest()
    bundle = {
        "format": BUNDLE_FORMAT,
        "format_version": BUNDLE_VERSION,
        "meta": _json_safe(meta),
        "encoder": _cpu_state(encoder) if has_h else None,
        "h_norm": (
            {"mean": torch.as_tensor(np.asarray(h_mean, np.float32)), "std": torch.as_tensor(np.asarray(h_std, np.float32))}
            if has_h
            else None
        ),
        "decoders": {lead: _cpu_state(decoders[lead]) for lead in targets},
    }
    if gl is not None:
        bundle["gl"] = {
            "inputs": inputs,
            "targets": targets,
            "context": int(gl.context),
            "fold": meta["gl"]["fold"],
            "weights": torch.as_tensor(np.asarray(gl.weights, np.float64)).clone(),
            "intercept": torch.as_tensor(np.asarray(gl.intercept, np.float64)).clone(),
            "alpha": torch.as_tensor(np.asarray(gl.alpha, np.float64)).clone(),
        }
    return bundle


def card_of(bundle: dict, data: bytes, file_name: str) -> dict:
    """The JSON model card: the bundle's meta plus format, file name and SHA-256."""
    return {
        "format": bundle["format"],
        "format_version": bundle["format_version"],
        "bundle_file": file_name,
        "bundle_sha256": hashlib.sha256(data).hexdigest(),
        **bundle["meta"],
    }


def save_bundle(bundle: dict, path, card_path=None) -> dict:
    """Write the bundle (and its model card) atomically; returns the card.

    Serialised in memory first: ``torch.save`` names the archive after the file it writes, so
    saving straight to a temporary name would make the bytes depend on that name.
    """
    buf = io.BytesIO()
    torch.save(bundle, buf)
    data = buf.getvalue()
    card = card_of(bundle, data, Path(path).name)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    if card_path is not None:
        with atomic_path(card_path) as tmp:
            tmp.write_text(json.dumps(card, indent=2, allow_nan=False) + "\n")
    return card


def _need(cond: bool, path, reason: str) -> None:
    if not cond:
        raise BundleError(path, reason)


_TORCH_ADVICE = (
    "weights_only",
    "weights only load failed",
    "trusted source",
    "safe_globals",
    "file an issue",
    "documentation of torch.load",
)


def _load_failure(exc: Exception) -> str:
    """Why ``torch.load`` failed, in one line, without torch's advice on how to load it anyway
    (never retry a refused file with ``weights_only=False``: that can run code from it)."""
    sentences = re.split(r"(?<=[.!?])\s+", " ".join(str(exc).split()))
    kept = " ".join(x for x in sentences if x and not any(a in x.lower() for a in _TORCH_ADVICE))
    if "weights only load failed" in str(exc).lower():
        kept = "refused by the weights-only loader" + (f": {kept}" if kept else "")
    return f"{type(exc).__name__}: {kept}" if kept else type(exc).__name__


def _tensors(obj, where: str = ""):
    """(key path, tensor) of every tensor in nested dicts / lists / tuples."""
    if isinstance(obj, torch.Tensor):
        yield where, obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _tensors(v, f"{where}.{k}" if where else str(k))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from _tensors(v, f"{where}[{i}]")


def _positive_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0


def _check_numbers(b: dict, p: Path) -> None:
    """Refuse non-finite weights or statistics and a rate / window that cannot be used."""
    for where, t in _tensors(b):
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise BundleError(p, f"non-finite values (NaN or inf) in {where}: the bundle is corrupt; re-export it")
    meta = b["meta"]
    for key, v in (("fs", meta["fs"]), ("clean.fs", meta["clean"]["fs"])):
        _need(_positive_number(v), p, f"invalid model sampling rate meta.{key} = {v!r} (must be a positive number of Hz)")
    _need(meta["fs"] == meta["clean"]["fs"], p, f"meta.fs {meta['fs']!r} differs from meta.clean.fs {meta['clean']['fs']!r}")
    for key in ("window", "hop"):
        v = meta[key]
        _need(isinstance(v, int) and not isinstance(v, bool) and v > 0, p, f"invalid meta.{key} = {v!r} (must be a positive integer)")


def read_bundle(path) -> dict:
    """Load a bundle file (``weights_only``) and check format, version and structure."""
    p = Path(path)
    _need(p.is_file(), p, "model bundle not found")
    try:
        b = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is a bad bundle
        raise BundleError(p, f"not a readable ecgrecon model bundle ({_load_failure(exc)})") from None
    _need(
        isinstance(b, dict) and b.get("format") == BUNDLE_FORMAT,
        p,
        f"not an ecgrecon model bundle (no format tag {BUNDLE_FORMAT!r}; decoder checkpoints are not bundles, use `ecgrecon export`)",
    )
    v = b.get("format_version")
    _need(
        v == BUNDLE_VERSION,
        p,
        f"incompatible bundle format version {v!r}: this ecgrecon {__version__} reads "
        f"version {BUNDLE_VERSION}; re-export the model with this version (`ecgrecon export`)",
    )
    meta = b.get("meta")
    _need(isinstance(meta, dict), p, "bundle has no meta dict")
    missing = [k for k in META_KEYS if k not in meta]
    _need(not missing, p, f"bundle meta lacks {missing}")
    _need(isinstance(meta["clean"], dict), p, "bundle meta clean is not a dict of cleaning settings")
    meta["clean"] = {**LEGACY_CLEAN, **meta["clean"]}
    missing = [k for k in CLEAN_KEYS if k not in meta["clean"]]
    _need(not missing, p, f"bundle cleaning settings lack {missing}")
    _need(
        all(isinstance(meta[k], list) and all(isinstance(x, str) for x in meta[k]) for k in ("inputs", "targets")),
        p,
        "bundle meta inputs/targets are not lists of lead names",
    )
    _need(
        isinstance(b.get("decoders"), dict) and sorted(b["decoders"]) == sorted(meta["targets"]),
        p,
        f"bundle decoders {sorted(b.get('decoders') or {})} do not match its targets {meta['targets']}",
    )
    _need(_is_variant(meta["variant"]), p, f"unknown variant {meta['variant']!r}")
    if check_variant(meta["variant"]).uses_h:
        _need(
            isinstance(b.get("encoder"), dict) and isinstance(b.get("h_norm"), dict),
            p,
            f"variant {meta['variant']} bundle lacks the encoder or the h normalisation statistics",
        )
    _check_numbers(b, p)
    return b


def bundle_gl(bundle: dict, path="bundle") -> LinearMap | None:
    """The population linear map GL stored in a bundle (:func:`read_bundle` output), or None for a
    bundle exported before GL was included. BundleError when the stored map is damaged."""
    g = bundle.get("gl")
    if g is None:
        return None
    meta = bundle["meta"]
    try:
        w = g["weights"].numpy().astype(np.float64)
        gl = LinearMap(
            inputs=[str(x) for x in g["inputs"]],
            targets=[str(x) for x in g["targets"]],
            context=int(g["context"]),
            weights=w,
            intercept=g["intercept"].numpy().astype(np.float64),
            alpha=g["alpha"].numpy().astype(np.float64),
            info={"fold": str(g.get("fold", meta["fold"]))},
        )
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise BundleError(path, f"bundle GL map is damaged ({type(exc).__name__}: {exc})") from None
    k = 2 * gl.context + 1
    _need(
        (gl.inputs, gl.targets) == (list(meta["inputs"]), list(meta["targets"])),
        path,
        f"bundle GL map {gl.inputs} -> {gl.targets} does not fit the model's {meta['inputs']} -> {meta['targets']}",
    )
    _need(
        w.shape == (len(gl.targets), len(gl.inputs), k) and gl.intercept.shape == gl.alpha.shape == (len(gl.targets),),
        path,
        f"bundle GL weights of shape {w.shape} for {len(gl.targets)} targets, {len(gl.inputs)} inputs, context {gl.context}",
    )
    _need(np.isfinite(w).all() and np.isfinite(gl.intercept).all(), path, "bundle GL map holds non-finite weights")
    return gl


def _is_variant(name) -> bool:
    """An exportable decoder method of the registry."""
    m = REGISTRY.get(name) if isinstance(name, str) else None
    return m is not None and m.kind == "decoder" and m.exportable


@dataclass
class ReconModel:
    """A loaded bundle: modules in eval mode on ``device`` plus the bundle's meta."""

    path: Path
    meta: dict
    encoder: SignalEncoder | None
    decoders: dict[str, LeadDecoder]
    h_mean: np.ndarray | None
    h_std: np.ndarray | None
    device: torch.device

    @property
    def inputs(self) -> list[str]:
        return list(self.meta["inputs"])

    @property
    def targets(self) -> list[str]:
        return list(self.meta["targets"])

    def label(self) -> str:
        """One line naming the model (written into every output record)."""
        m = self.meta
        return (
            f"model {self.path.name} (ecgrecon bundle v{BUNDLE_VERSION}, variant {m['variant']}, fold {m['fold']}, "
            f"settings sha256 {str(m['settings_sha256'])[:12]}, ecgrecon {m['ecgrecon_version']})"
        )


def load_model(path, device: str | torch.device = "cpu") -> ReconModel:
    """Read a bundle and rebuild its encoder and decoders (BundleError on any mismatch)."""
    p = Path(path)
    b = read_bundle(p)
    meta = b["meta"]
    dev = torch.device(device)
    n_in = len(meta["inputs"])
    decoders = {}
    try:
        for lead in meta["targets"]:
            info = meta["decoders"][lead]
            anchor = GLAnchor(n_in, int(info["arch"]["gl_context"])) if check_variant(meta["variant"]).anchor else None
            dec = build_decoder(meta["variant"], n_in, int(info["h_dim"]), info["arch"], anchor=anchor)
            dec.load_state_dict(b["decoders"][lead])
            _need(meta["window"] % dec.stride == 0, p, f"window {meta['window']} is not a multiple of the decoder stride {dec.stride}")
            decoders[lead] = dec.to(dev).eval()
        encoder = h_mean = h_std = None
        if check_variant(meta["variant"]).uses_h:
            e = meta["encoder"]
            encoder = SignalEncoder(n_in, int(e["embed_dim"]), int(e["width"]))
            encoder.load_state_dict(b["encoder"])
            encoder = encoder.to(dev).eval()
            h_mean = b["h_norm"]["mean"].numpy()
            h_std = b["h_norm"]["std"].numpy()
            _need(
                h_mean.shape == h_std.shape == (int(e["embed_dim"]),),
                p,
                f"h statistics of shape {tuple(h_mean.shape)} for embed_dim {e['embed_dim']}",
            )
    except (KeyError, TypeError, RuntimeError, ValueError) as exc:
        if isinstance(exc, BundleError):
            raise
        raise BundleError(p, f"bundle weights do not fit its architecture ({type(exc).__name__}: {str(exc).splitlines()[0]})") from None
    return ReconModel(p, meta, encoder, decoders, h_mean, h_std, dev)


# --- building a bundle from the pipeline's artifacts ---------------------------------------


def settings_from_config(cfg: dict, task: str = "paper", path="config") -> dict:
    """What shapes a bundle, from a config dict (the task's leads, clean, segment, encoder.tile_reps)."""
    try:
        spec = cfg["tasks"][task]
        return {
            "inputs": list(spec["inputs"]),
            "targets": list(spec["targets"]),
            "clean": {k: cfg["clean"][k] for k in CLEAN_KEYS},
            "window": int(cfg["segment"]["window"]),
            "hop": int(cfg["segment"]["hop"]),
            "tile_reps": bool(cfg["encoder"]["tile_reps"]),
        }
    except (KeyError, TypeError) as exc:
        raise BundleError(path, f"config lacks {exc} (needed: tasks.{task}, clean, segment, encoder.tile_reps)") from None


def evaluation_metrics(segment_csv, record_csv, variant: str, fold: str, targets: list[str]) -> dict:
    """Test-split metrics of one variant and fold from the evaluate tables (per lead + Mean)."""
    out = {}
    for name, path, cols in (("segment", segment_csv, SEGMENT_METRICS), ("record", record_csv, RECORD_METRICS)):
        try:
            t = pd.read_csv(path)
        except FileNotFoundError:
            raise ArtifactError(f"{path}: file not found") from None
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise ArtifactError(f"{path}: not a readable CSV ({exc})") from None
        need = {"fold", "variant", "lead", *cols}
        if not need <= set(t.columns):
            raise ArtifactError(f"{path}: lacks columns {sorted(need - set(t.columns))}")
        t = t[(t["fold"].astype(str) == fold) & (t["variant"].astype(str) == variant)].set_index("lead")
        leads = list(targets) + ["Mean"]
        absent = [x for x in leads if x not in t.index]
        if absent:
            raise ArtifactError(f"{path}: no rows for fold {fold!r}, variant {variant!r}, lead(s) {absent}")
        count = "n_segments" if name == "segment" else "n_records"
        out[name] = {lead: {c: float(t.loc[lead, c]) for c in cols} for lead in leads}
        if count in t.columns:
            out[f"n_test_{count[2:]}"] = int(t.loc["Mean", count])
    return out


def validation_metrics(ckpt: dict, curve_csv) -> dict:
    """Best epoch and validation loss / RMSE / MAE of one decoder (checkpoint + its _val.csv)."""
    out = {"best_epoch": int(ckpt["best_epoch"]), "epochs_run": int(ckpt["epochs_run"]), "val_loss": float(ckpt["best_val_loss"])}
    try:
        curve = pd.read_csv(curve_csv)
    except FileNotFoundError:
        raise ArtifactError(f"{curve_csv}: file not found") from None
    row = curve[curve["epoch"] == out["best_epoch"]] if "epoch" in curve.columns else curve.iloc[:0]
    if row.empty:
        raise ArtifactError(f"{curve_csv}: no row for the checkpoint's best epoch {out['best_epoch']}")
    for c in ("val_rmse_mv", "val_mae_mv"):
        if c in row.columns:
            out[c] = float(row[c].iloc[0])
    return out


def _load_ckpt(path, what: str) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ArtifactError(f"{path}: {what} not found") from None
    except Exception as exc:  # noqa: BLE001
        raise ArtifactError(f"{path}: not a readable {what} ({type(exc).__name__})") from None


def build_bundle(
    *,
    variant: str,
    fold: str,
    settings: dict,
    decoder_paths: dict,
    curve_paths: dict,
    segment_csv,
    record_csv,
    encoder_path=None,
    reps_path=None,
    gl_path=None,
) -> dict:
    """The bundle of one variant and fold from the pipeline's checkpoints, reps.h5 and tables.

    Checks that every checkpoint matches the settings (inputs, lead, variant, fold, window,
    tile flag) so a bundle never mixes models of different runs. ``gl_path``: the task's GL map
    of the same fold (``linear/{fold}/GL.json``), packed in too (None: a bundle without GL).
    """
    from ecgrecon.data.datasets import read_reps

    inputs, targets = [str(x) for x in settings["inputs"]], list(settings["targets"])
    dec_states, dec_info, val = {}, {}, {}
    for lead in targets:
        path = decoder_paths[lead]
        ck = _load_ckpt(path, "decoder checkpoint")
        got = (ck.get("variant"), ck.get("fold"), ck.get("lead"), ck.get("inputs"))
        if got != (variant, fold, lead, inputs):
            raise ArtifactError(f"{path}: checkpoint is variant/fold/lead/inputs {got}, expected {(variant, fold, lead, inputs)}")
        if len(ck["train_target_mean"]) != int(settings["window"]):
            raise ArtifactError(f"{path}: trained on {len(ck['train_target_mean'])}-sample segments, config window is {settings['window']}")
        dec_states[lead] = ck["state_dict"]
        dec_info[lead] = {"arch": dict(ck["arch"]), "h_dim": int(ck["h_dim"]), "n_params": int(ck["n_params"]), "seed": int(ck["seed"])}
        val[lead] = validation_metrics(ck, curve_paths[lead])
    metrics = {"validation": val, "test": evaluation_metrics(segment_csv, record_csv, variant, fold, targets)}
    enc_state = enc_info = mean = std = None
    if check_variant(variant).uses_h:
        ek = _load_ckpt(encoder_path, "encoder checkpoint")
        if [str(x) for x in ek["inputs"]] != inputs:
            raise ArtifactError(f"{encoder_path}: encoder inputs {ek['inputs']} != {inputs}")
        enc_state = ek["encoder"]
        enc_info = {k: ek[k] for k in ("embed_dim", "width", "n_params", "best_epoch", "best_val_loss", "classes", "level")}
        enc_info["n_params"] = int(enc_info["n_params"])
        mismatch = [lead for lead in targets if dec_info[lead]["h_dim"] != int(ek["embed_dim"])]
        if mismatch:
            raise ArtifactError(
                f"{encoder_path}: embed_dim {ek['embed_dim']} does not match the h_dim of the "
                f"{mismatch} decoders (rerun extract_reps and train_decoder)"
            )
        _, _, mean, std = read_reps(reps_path, fold)
        import h5py

        with h5py.File(reps_path, "r") as f:
            tile = bool(f.attrs.get("tile", False))
        if tile != bool(settings["tile_reps"]):
            raise ArtifactError(
                f"{reps_path}: made with tile={tile}, config says encoder.tile_reps={settings['tile_reps']} (rerun extract_reps)"
            )
    gl = None
    if gl_path is not None:
        gl = load_checked(gl_path, fold, inputs)
        if gl.targets != targets:
            raise ArtifactError(f"{gl_path}: GL map targets {gl.targets} differ from the bundle's targets {targets}")
    return assemble_bundle(
        variant=variant,
        fold=fold,
        settings=settings,
        decoders=dec_states,
        decoder_info=dec_info,
        encoder=enc_state,
        encoder_info=enc_info,
        h_mean=mean,
        h_std=std,
        metrics=metrics,
        gl=gl,
    )


def artifact_paths(results, task: str, variant: str, fold: str, inputs, targets) -> dict:
    """Where the pipeline writes what a bundle is built from (docs/artifacts.md), below ``results``."""
    r, enc = Path(results), Path(results) / "encoders" / "-".join(inputs)
    dec = {lead: r / task / "decoders" / variant / fold / f"{lead}.pt" for lead in targets}
    return {
        "decoder_paths": dec,
        "curve_paths": {lead: p.with_name(f"{lead}_val.csv") for lead, p in dec.items()},
        "segment_csv": r / task / "tables" / "segment_metrics.csv",
        "record_csv": r / task / "tables" / "record_metrics.csv",
        "encoder_path": enc / "encoder.pt",
        "reps_path": enc / "reps.h5",
        "gl_path": r / task / "linear" / fold / "GL.json",
    }


def export_model(out_bundle, out_card, *, variant: str, fold: str, settings: dict, log=print, **paths) -> dict:
    """Build and write the bundle and its card; ``paths`` as returned by :func:`artifact_paths`."""
    bundle = build_bundle(variant=variant, fold=fold, settings=settings, **paths)
    card = save_bundle(bundle, out_bundle, out_card)
    n = sum(d["n_params"] for d in card["decoders"].values()) + (card["encoder"]["n_params"] if card["encoder"] else 0)
    mean = card["metrics"]["test"]["segment"]["Mean"]
    log(
        f"export: {out_bundle} (variant {variant}, fold {fold}, {len(card['targets'])} decoders, {n:,} parameters, "
        f"test RMSE {mean['rmse']:.4f} mV, R2 {mean['r2']:.3f}"
        f"{', with the GL map' if 'gl' in card else ', without a GL map'}); card {out_card}"
    )
    return card
