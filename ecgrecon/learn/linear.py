"""GL: population ridge regression from the input leads to each target lead.

Model, per target lead j and time sample t of a segment or record x (channels first, mV):

    y_j[t] = b_j + sum_c sum_{d=-K..K} W_j[c, d] * x_c[clip(t + d, 0, T - 1)]

``K`` (``context``) samples of temporal context on each side (0: an instantaneous lead
transform); at the borders the edge sample is repeated. Because the model is the same for
any length T, it applies unchanged to 256-sample segments and to whole 10-s records.

Fitting (closed form, float64): the normal equations are accumulated over the *train* split
only, using interior samples (``K <= t < T - K``, where no padding is involved); features and
targets are centred with their train means so the intercept is not penalised. With
``G = X'X / n`` and ``c = X'y / n`` (centred), ``W = (G + alpha I)^-1 c`` (alpha in mV^2,
independent of n; alpha = 0 is a least-squares fit, solved as a pseudo-inverse when singular).
``alpha`` is chosen per target lead from a grid by the pooled squared error on the
*validation* split (all samples, as predicted); fold 10 / the test split is never seen here.

A fitted map is saved as a small JSON file (:meth:`LinearMap.save`, :func:`load`).
:func:`torch_predict` and :class:`GLAnchor` give the same prediction on torch tensors (e.g.
the fixed anchor of a residual decoder).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ecgrecon.data.datasets import ArtifactError, load_folds, read_json_artifact, read_leads, read_segment_meta, split_rows
from ecgrecon.io.atomic import write_json

DEFAULT_ALPHAS = (0.0, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)
"""Ridge penalties tried (mV^2, on the per-sample normalised Gram matrix)."""
EIG_FLOOR = 1e-12
"""Relative eigenvalue floor: directions below it are dropped (pseudo-inverse) when alpha = 0."""
FORMAT = "ecgrecon-gl-1"


def _check_x(x: np.ndarray, n_channels: int | None = None, what: str = "x") -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 3:
        raise ValueError(f"{what}: expected (n, channels, T), got shape {x.shape}")
    if n_channels is not None and x.shape[1] != n_channels:
        raise ValueError(f"{what}: expected {n_channels} channels, got {x.shape[1]}")
    if not np.isfinite(x).all():
        raise ValueError(f"{what}: contains non-finite values")
    return x


def lag_view(x: np.ndarray, context: int) -> np.ndarray:
    """(n, C, T) -> read-only view (n, C, T, 2K+1): ``[..., t, k] = x[..., clip(t + k - K)]``."""
    padded = np.pad(x, ((0, 0), (0, 0), (context, context)), mode="edge") if context else x
    return np.lib.stride_tricks.sliding_window_view(padded, 2 * context + 1, axis=-1)


def design(x: np.ndarray, context: int, interior: bool = False) -> np.ndarray:
    """Feature matrix (n * T', C * (2K+1)) in float64, features ordered (channel, lag -K..K).

    ``interior``: only samples K..T-K-1 (no edge padding involved), as used for fitting.
    """
    v = lag_view(x, context)
    if interior and context:
        v = v[:, :, context:-context]
    n, c, t, k = v.shape
    return np.ascontiguousarray(v.transpose(0, 2, 1, 3), dtype=np.float64).reshape(n * t, c * k)


@dataclass
class NormalEquations:
    """Running sums of the (uncentred) normal equations over chunks of data."""

    n_features: int
    n_targets: int
    n: int = 0
    sxx: np.ndarray = field(init=False)
    sx: np.ndarray = field(init=False)
    sxy: np.ndarray = field(init=False)
    sy: np.ndarray = field(init=False)

    def __post_init__(self):
        self.sxx = np.zeros((self.n_features, self.n_features))
        self.sx = np.zeros(self.n_features)
        self.sxy = np.zeros((self.n_features, self.n_targets))
        self.sy = np.zeros(self.n_targets)

    def add(self, feats: np.ndarray, y: np.ndarray) -> None:
        """Add rows: feats (m, p), y (m, n_targets), both float64."""
        self.n += len(feats)
        self.sxx += feats.T @ feats
        self.sx += feats.sum(axis=0)
        self.sxy += feats.T @ y
        self.sy += y.sum(axis=0)

    def centred(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(G, c, mean_x, mean_y) of the centred, per-sample normalised problem."""
        if self.n == 0:
            raise ValueError("no training samples")
        mx, my = self.sx / self.n, self.sy / self.n
        g = self.sxx / self.n - np.outer(mx, mx)
        c = self.sxy / self.n - np.outer(mx, my)
        return (g + g.T) / 2, c, mx, my


def _targets_interior(y: np.ndarray, context: int) -> np.ndarray:
    """(n, J, T) -> (n * T', J) float64 over interior samples."""
    if context:
        y = y[:, :, context:-context]
    return np.ascontiguousarray(y.transpose(0, 2, 1), dtype=np.float64).reshape(-1, y.shape[1])


def ridge_solutions(g: np.ndarray, c: np.ndarray, alphas, prior: np.ndarray | None = None) -> np.ndarray:
    """Weights (n_alphas, p, J) of ``(G + alpha I) W = c + alpha W0`` for every alpha (one eigendecomposition).

    ``prior`` W0 (p, J): the minimiser of ``E||y - x W||^2 + alpha ||W - W0||^2`` (a ridge shrunk toward W0, not
    toward zero); None: W0 = 0 (plain ridge)."""
    s, v = np.linalg.eigh(g)
    s = np.clip(s, 0.0, None)
    floor = EIG_FLOOR * max(float(s.max()), 1e-300)
    vc = v.T @ c
    vp = None if prior is None else v.T @ prior
    out = []
    for a in alphas:
        d = s + float(a)
        inv = np.where(d > floor, 1.0 / np.where(d > floor, d, 1.0), 0.0)
        rhs = vc if vp is None or a == 0 else vc + float(a) * vp
        out.append(v @ (inv[:, None] * rhs))
    return np.stack(out)


def check_prior(prior: LinearMap, inputs, targets, context: int, source="prior map") -> np.ndarray:
    """The flat weights (p, J) of a prior map for a fit of ``inputs`` -> ``targets`` with ``context``; refuses another
    lead set or context."""
    if list(prior.inputs) != list(inputs) or list(prior.targets) != list(targets) or int(prior.context) != int(context):
        raise ArtifactError(
            f"{source}: map is {prior.inputs} -> {prior.targets} (context {prior.context}), "
            f"expected {list(inputs)} -> {list(targets)} (context {context})"
        )
    return prior.flat_weights()


@dataclass
class LinearMap:
    """A fitted GL map: weights (J, C, 2K+1), intercept (J,), per-target alpha, selection record."""

    inputs: list[str]
    targets: list[str]
    context: int
    weights: np.ndarray
    intercept: np.ndarray
    alpha: np.ndarray
    alphas: list[float] = field(default_factory=list)
    val_rmse: np.ndarray | None = None  # (n_alphas, J) validation RMSE per alpha (mV)
    info: dict = field(default_factory=dict)

    def predict(self, x: np.ndarray, chunk: int = 512) -> np.ndarray:
        """Prediction (n, J, T) float32 in mV for inputs x (n, C, T) in mV (any T)."""
        x = _check_x(x, len(self.inputs))
        out = np.empty((x.shape[0], len(self.targets), x.shape[2]), dtype=np.float32)
        for lo in range(0, len(x), chunk):
            v = lag_view(x[lo : lo + chunk].astype(np.float64), self.context)
            y = np.tensordot(v, self.weights, axes=([1, 3], [1, 2]))  # (n, T, J)
            out[lo : lo + chunk] = y.transpose(0, 2, 1) + self.intercept[None, :, None]
        return out

    def flat_weights(self) -> np.ndarray:
        """(C * (2K+1), J) in the feature order of :func:`design`."""
        return self.weights.reshape(len(self.targets), -1).T

    def to_dict(self) -> dict:
        """JSON-serialisable form (floats round-trip exactly)."""
        return {
            "format": FORMAT,
            "method": "GL",
            "inputs": list(self.inputs),
            "targets": list(self.targets),
            "context": int(self.context),
            "alphas": [float(a) for a in self.alphas],
            "alpha": {t: float(a) for t, a in zip(self.targets, self.alpha)},
            "intercept": {t: float(b) for t, b in zip(self.targets, self.intercept)},
            "weights": {t: self.weights[j].tolist() for j, t in enumerate(self.targets)},
            "val_rmse": None if self.val_rmse is None else {t: self.val_rmse[:, j].tolist() for j, t in enumerate(self.targets)},
            "info": self.info,
        }

    def save(self, path) -> None:
        """Write the map as JSON, atomically."""
        write_json(path, self.to_dict())


def from_dict(d: dict, source="GL map") -> LinearMap:
    """Rebuild a :class:`LinearMap` from :meth:`LinearMap.to_dict` output."""
    try:
        if d.get("format") != FORMAT:
            raise ValueError(f"format is {d.get('format')!r}, expected {FORMAT!r}")
        targets = list(d["targets"])
        w = np.array([d["weights"][t] for t in targets], dtype=np.float64)
        k = 2 * int(d["context"]) + 1
        if w.shape != (len(targets), len(d["inputs"]), k):
            raise ValueError(f"weights have shape {w.shape}, expected {(len(targets), len(d['inputs']), k)}")
        vr = d.get("val_rmse")
        return LinearMap(
            inputs=list(d["inputs"]),
            targets=targets,
            context=int(d["context"]),
            weights=w,
            intercept=np.array([d["intercept"][t] for t in targets], dtype=np.float64),
            alpha=np.array([d["alpha"][t] for t in targets], dtype=np.float64),
            alphas=[float(a) for a in d.get("alphas", [])],
            val_rmse=None if vr is None else np.array([vr[t] for t in targets], dtype=np.float64).T,
            info=dict(d.get("info", {})),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(f"{source}: not a valid GL map ({exc})") from exc


def load(path) -> LinearMap:
    """Read a map written by :meth:`LinearMap.save`."""
    return from_dict(read_json_artifact(path, "GL map"), path)


def load_checked(path, fold: str, inputs) -> LinearMap:
    """:func:`load`, refusing a map fitted on other input leads or on another fold than ``fold``."""
    gl = load(path)
    if gl.inputs != [str(i) for i in inputs]:
        raise ArtifactError(f"{path}: GL map inputs {gl.inputs} differ from the expected inputs {list(inputs)}")
    if gl.info.get("fold", fold) != fold:
        raise ArtifactError(f"{path}: GL map was fitted on fold '{gl.info['fold']}', expected '{fold}'")
    return gl


def _chunks(n: int, size: int):
    for lo in range(0, n, size):
        yield slice(lo, min(lo + size, n))


def accumulate(batches, context: int, n_in: int, n_targets: int) -> NormalEquations:
    """Normal equations over an iterable of (x (n, C, T), y (n, J, T)) batches (interior samples)."""
    ne = NormalEquations(n_in * (2 * context + 1), n_targets)
    for x, y in batches:
        _check_x(x, n_in, "train inputs")
        _check_x(y, n_targets, "train targets")
        if x.shape[2] <= 2 * context:
            raise ValueError(f"segments of {x.shape[2]} samples are too short for context {context}")
        ne.add(design(x, context, interior=True), _targets_interior(y, context))
    return ne


def validation_sse(batches, context: int, w_all: np.ndarray, b_all: np.ndarray) -> tuple[np.ndarray, int]:
    """Pooled squared error (n_alphas, J) of every candidate on (x, y) batches; all samples."""
    n_alpha, p, n_t = w_all.shape
    wide = w_all.transpose(1, 0, 2).reshape(p, n_alpha * n_t)
    sse = np.zeros((n_alpha, n_t))
    n = 0
    for x, y in batches:
        feats = design(x, context)
        yt = np.ascontiguousarray(y.transpose(0, 2, 1), dtype=np.float64).reshape(-1, n_t)
        pred = (feats @ wide).reshape(-1, n_alpha, n_t) + b_all[None]
        sse += ((pred - yt[:, None, :]) ** 2).sum(axis=0)
        n += len(yt)
    return sse, n


def fit_streams(
    train_batches, val_batches, inputs, targets, context: int = 0, alphas=DEFAULT_ALPHAS, prior: LinearMap | None = None
) -> LinearMap:
    """Fit GL from iterables of (x (n, C, T), y (n, J, T)) batches; each is read once, train first.

    ``prior``: a map of the same leads and context (e.g. fitted on a pre-training cohort) the ridge shrinks toward
    (:func:`ridge_solutions`); its source is recorded in ``info``."""
    inputs, targets, alphas = list(inputs), list(targets), [float(a) for a in alphas]
    if context < 0:
        raise ValueError(f"context must be >= 0, got {context}")
    if not alphas or min(alphas) < 0:
        raise ValueError(f"alphas must be a non-empty list of values >= 0, got {alphas}")
    w0 = None if prior is None else check_prior(prior, inputs, targets, context)
    ne = accumulate(train_batches, context, len(inputs), len(targets))
    g, c, mx, my = ne.centred()
    w_all = ridge_solutions(g, c, alphas, w0)  # (A, p, J)
    b_all = my[None, :] - np.einsum("p,apj->aj", mx, w_all)  # (A, J)
    sse, n_val = validation_sse(val_batches, context, w_all, b_all)
    if n_val == 0:
        raise ValueError("no validation samples: alpha cannot be chosen")
    best = np.argmin(sse, axis=0)  # first (smallest) alpha on ties
    j = np.arange(len(targets))
    w = w_all[best, :, j]  # (J, p)
    return LinearMap(
        inputs=inputs,
        targets=targets,
        context=int(context),
        weights=w.reshape(len(targets), len(inputs), 2 * context + 1),
        intercept=b_all[best, j],
        alpha=np.array([alphas[i] for i in best]),
        alphas=alphas,
        val_rmse=np.sqrt(sse / n_val),
        info={"n_train_samples": int(ne.n), "n_val_samples": int(n_val)},
    )


def fit(x_train, y_train, x_val, y_val, inputs, targets, context: int = 0, alphas=DEFAULT_ALPHAS, chunk: int = 1024) -> LinearMap:
    """Fit GL on arrays: x (n, C, T) inputs and y (n, J, T) targets in mV (train and val)."""
    x_train = _check_x(x_train, len(inputs), "train inputs")
    y_train = _check_x(y_train, len(targets), "train targets")
    x_val = _check_x(x_val, len(inputs), "val inputs")
    y_val = _check_x(y_val, len(targets), "val targets")
    if len(x_train) != len(y_train) or len(x_val) != len(y_val):
        raise ValueError("inputs and targets have different numbers of segments")
    train = ((x_train[s], y_train[s]) for s in _chunks(len(x_train), chunk))
    val = [(x_val[s], y_val[s]) for s in _chunks(len(x_val), chunk)]
    return fit_streams(train, val, inputs, targets, context, alphas)


def _segment_batches(path, rows: np.ndarray, inputs, targets, chunk: int, noise=None, meta=None, split: str = "train"):
    for s in _chunks(len(rows), chunk):
        sig = read_leads(path, list(inputs) + list(targets), rows[s], chunk=chunk)
        x = sig[:, : len(inputs)]
        if noise is not None:
            m = meta.iloc[rows[s]]
            x, _ = noise.apply(x, inputs, m["ecg_id"].to_numpy(), m["start"].to_numpy(), split)
        yield x, sig[:, len(inputs) :]


def fit_from_segments(
    segments,
    folds,
    fold: str,
    inputs,
    targets,
    context: int = 0,
    alphas=DEFAULT_ALPHAS,
    chunk: int = 1024,
    log=print,
    noise=None,
    prior_path=None,
) -> LinearMap:
    """Fit GL on the train segments of ``fold`` in segments.h5, choose alpha on its val segments.

    Reads in chunks of ``chunk`` segments, so memory does not grow with the data set. ``noise``
    (:class:`ecgrecon.noise.inputs.NoisyInputs`): the inputs get the noise of their split's part.
    ``prior_path``: a GL map JSON (same leads and context) the ridge shrinks toward (:func:`fit_streams`).
    """
    prior = None
    if prior_path is not None:
        prior = load(prior_path)
        check_prior(prior, inputs, targets, context, prior_path)
    meta, _ = read_segment_meta(segments)
    rows = split_rows(meta, load_folds(folds, fold), segments)
    for split in ("train", "val"):
        if len(rows[split]) == 0:
            raise ArtifactError(f"{segments}: fold '{fold}' has no {split} segments")
    val = _segment_batches(segments, rows["val"], inputs, targets, chunk, noise, meta, "val")
    train = _segment_batches(segments, rows["train"], inputs, targets, chunk, noise, meta, "train")
    gl = fit_streams(train, val, inputs, targets, context, alphas, prior)
    gl.info.update(fold=fold, n_train_segments=int(len(rows["train"])), n_val_segments=int(len(rows["val"])))
    if prior is not None:
        gl.info["prior"] = {"path": str(prior_path), "fold": prior.info.get("fold")}
        log(f"GL {fold}: ridge toward the prior map {prior_path}")
    log(
        f"GL {fold}: {len(rows['train'])} train / {len(rows['val'])} val segments, context {context}; alpha "
        + ", ".join(f"{t} {a:g}" for t, a in zip(gl.targets, gl.alpha))
    )
    return gl


def torch_predict(gl: LinearMap, x: torch.Tensor) -> torch.Tensor:
    """GL prediction (B, J, T) for a tensor x (B, C, T) in mV, on x's device and dtype."""
    if x.ndim != 3 or x.shape[1] != len(gl.inputs):
        raise ValueError(f"expected (B, {len(gl.inputs)}, T), got {tuple(x.shape)}")
    w = torch.as_tensor(gl.weights, dtype=x.dtype, device=x.device)
    b = torch.as_tensor(gl.intercept, dtype=x.dtype, device=x.device)
    k = gl.context
    xp = F.pad(x, (k, k), mode="replicate") if k else x
    return F.conv1d(xp, w, b)


class GLAnchor(nn.Module):
    """Frozen GL prediction of one target lead as a torch module: x (B, C, T) mV -> (B, T) mV.

    The weights are buffers (moved by ``.to(device)``, saved in ``state_dict``, never trained).
    Build it with :meth:`from_map`; ``GLAnchor(n_in, context)`` makes a zero anchor of the right
    shape for ``load_state_dict`` (a checkpoint carries the fitted weights).
    """

    def __init__(self, n_in: int, context: int):
        super().__init__()
        self.context = int(context)
        self.register_buffer("weight", torch.zeros(1, int(n_in), 2 * self.context + 1))
        self.register_buffer("bias", torch.zeros(1))

    @classmethod
    def from_map(cls, gl: LinearMap, target: str) -> GLAnchor:
        """The anchor of lead ``target`` of a fitted GL map."""
        if target not in gl.targets:
            raise ValueError(f"GL map has no target {target!r} (has {gl.targets})")
        j = gl.targets.index(target)
        anchor = cls(len(gl.inputs), gl.context)
        anchor.weight.copy_(torch.tensor(gl.weights[j : j + 1], dtype=torch.float32))
        anchor.bias.copy_(torch.tensor(gl.intercept[j : j + 1], dtype=torch.float32))
        return anchor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.context
        xp = F.pad(x, (k, k), mode="replicate") if k else x
        return F.conv1d(xp, self.weight.to(x.dtype), self.bias.to(x.dtype))[:, 0]
