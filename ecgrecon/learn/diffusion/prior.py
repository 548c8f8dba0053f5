"""The diffusion prior of 8-lead ECG windows (issue #16): a 1-D U-Net epsilon predictor, its training, checkpoints.

Leads: the prior models the 8 independent leads :data:`PRIOR_LEADS` (I, II, V1-V6); the other four limb leads are
linear in I and II (Einthoven, Goldberger) and :func:`derive_12` builds the 12 leads in ``LEADS12`` order from them.

Spaces: the network sees windows in *scaled* units, x / scale, with ``scale`` one global number per run (mV): the
RMS of the training windows (:func:`data_scale`), saved in the checkpoint, so the training data has unit second
moment, as the VP forward process (x_T ~ N(0, I)) assumes. Every sampler here and in :mod:`.samplers` works in the
scaled space: a :class:`Denoiser` maps scaled x_t to scaled x0_hat; an observation in mV, and its noise standard
deviation, must be divided by ``scale`` first (:meth:`Denoiser.to_scaled`), and samples go back to mV with
:meth:`Denoiser.to_mv`. :func:`sample_unconditional` returns mV.

Network (:class:`EpsUNet`): an input conv, then per level ``blocks`` residual blocks (GroupNorm - SiLU - conv,
FiLM ``(1 + scale) h + shift`` from the embedding, GroupNorm - SiLU - conv, zero-initialised last conv) and a
stride-2 conv down; a bottleneck of two blocks around a multi-head self-attention (optional); per level a
concatenation with the skip, ``blocks`` blocks and a nearest x2 upsampling with a conv; a zero-initialised head to
the 8 leads. The embedding is an MLP of the sinusoidal embedding of t plus, with class conditioning, a linear
embedding of the multi-hot superclasses (all-zero = "no superclass", a valid label) or a learned null embedding
(classifier-free guidance: labels dropped with probability ``cfg_drop`` in training, the null embedding at
sampling for the unconditional branch). Window length: any multiple of 2 ** (len(channels) - 1).

Training (:func:`train_prior`): epsilon MSE at uniformly drawn t, Adam, gradient-norm clipping, an exponential
moving average of the weights (``ema``; bias-corrected warm-up), in chunks of ``eval_every`` optimiser steps (the
"epochs" of :func:`ecgrecon.learn.fitloop.fit`, which resumes them and stops early); every chunk's batches, t, eps
and label drops depend only on (seed, chunk), so a resumed run ends bitwise identical to an uninterrupted one on
CPU. Validation loss: the epsilon MSE of the (EMA) weights on a fixed, seeded set of (t, eps) pairs per validation
window, hence deterministic. The checkpoint (atomic, weights_only-loadable) holds the best weights; :func:`load_prior`
checks them against the task's leads, rate and window.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import partial

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from ecgrecon import LEADS12
from ecgrecon.data.datasets import ArtifactError, label_lists, load_folds, read_leads, read_segment_meta, split_rows
from ecgrecon.learn.classifier import CLASSES, multi_hot
from ecgrecon.learn.device import derive_seed, inference_batch, resolve_device, seed_everything
from ecgrecon.learn.diffusion.records import WINDOWS, record_length, to_records
from ecgrecon.learn.diffusion.schedule import SCHEDULES, Schedule, make_schedule
from ecgrecon.learn.fitloop import Budget, fingerprint, fit, load_checkpoint, plain, resume_path, save_torch, step
from ecgrecon.learn.models import count_params
from ecgrecon.tasks import INDEPENDENT

PRIOR_LEADS = INDEPENDENT
"""The 8 independent leads the prior models, in this order (:data:`ecgrecon.tasks.INDEPENDENT`)."""
FORMAT = "ecgrecon-diffusion-prior-1"
LR_SCHEDULES = ("constant", "cosine")
PREDICTIONS = ("v", "eps")
"""The network's target. v (Salimans & Ho 2022) gives x0 = sqrt(abar) x_t - sqrt(1 - abar) v, bounded near t = T; eps gives
x0 = (x_t - sqrt(1 - abar) eps) / sqrt(abar), which multiplies the error of eps by 1 / sqrt(abar) ~ 2e4 at the last
step of the cosine schedule: a short training budget then samples noise of tens of mV."""


@dataclass(frozen=True)
class PriorSettings:
    """Everything a prior fit depends on besides the data and the seed (saved in the checkpoint)."""

    T: int = 1000  # diffusion steps
    schedule: str = "cosine"  # cosine | linear
    channels: tuple = (32, 64, 128)  # U-Net widths per level (2 ** (len - 1) divides the window)
    blocks: int = 1  # residual blocks per level (encoder and decoder)
    time_dim: int = 128  # sinusoidal / embedding size
    kernel: int = 5
    attention: bool = True  # self-attention at the bottleneck
    heads: int = 4
    lr: float = 5e-4
    lr_schedule: str = "constant"  # constant | cosine (per chunk of eval_every steps)
    batch_size: int = 64
    max_steps: int = 20000
    eval_every: int = 500  # optimiser steps between validations (one resumable "epoch")
    patience: int = 10  # validations without a lower validation loss before stopping
    ema: float = 0.999  # EMA decay of the weights (0: off; the checkpoint holds the EMA weights)
    clip: float = 1.0  # gradient-norm clipping (0: off)
    val_repeats: int = 1  # fixed (t, eps) draws per validation window
    conditional: bool = False  # class conditioning on multi-hot superclasses
    n_classes: int = len(CLASSES)
    cfg_drop: float = 0.1  # label dropout (classifier-free guidance)
    prediction: str = "v"  # what the network predicts: v (sqrt(abar) eps - sqrt(1 - abar) x0) | eps
    window: str = "segment"  # segment (the segment windows) | record (whole records padded to 10.24 s: records.py)

    def __post_init__(self):
        if self.window not in WINDOWS:
            raise ValueError(f"window must be one of {', '.join(WINDOWS)}, got {self.window!r}")
        if self.prediction not in PREDICTIONS:
            raise ValueError(f"prediction must be one of {', '.join(PREDICTIONS)}, got {self.prediction!r}")
        if self.T < 2 or self.schedule not in SCHEDULES:
            raise ValueError(f"need T >= 2 and schedule in {SCHEDULES}, got T {self.T}, schedule {self.schedule!r}")
        if not self.channels or any(int(c) < 1 for c in self.channels) or self.blocks < 1:
            raise ValueError(f"need channels >= 1 per level and blocks >= 1, got {self.channels}, blocks {self.blocks}")
        if self.time_dim < 2 or self.time_dim % 2 or self.kernel < 1 or self.kernel % 2 == 0:
            raise ValueError(f"need an even time_dim >= 2 and an odd kernel, got {self.time_dim}, {self.kernel}")
        if self.attention and (self.heads < 1 or int(self.channels[-1]) % self.heads):
            raise ValueError(f"attention heads {self.heads} must divide the bottleneck width {self.channels[-1]}")
        if not self.lr > 0 or self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"need lr > 0 and lr_schedule in {LR_SCHEDULES}, got {self.lr}, {self.lr_schedule!r}")
        if min(self.batch_size, self.max_steps, self.eval_every, self.patience, self.val_repeats) < 1:
            raise ValueError("batch_size, max_steps, eval_every, patience and val_repeats must be >= 1")
        if not 0.0 <= self.ema < 1.0 or self.clip < 0:
            raise ValueError(f"need 0 <= ema < 1 and clip >= 0, got {self.ema}, {self.clip}")
        if self.conditional and (self.n_classes < 1 or not 0.0 <= self.cfg_drop < 1.0):
            raise ValueError(f"class conditioning needs n_classes >= 1 and 0 <= cfg_drop < 1, got {self.n_classes}, {self.cfg_drop}")

    @classmethod
    def of(cls, cfg: dict) -> PriorSettings:
        """From a config section (any subset of the fields; lists become tuples)."""
        extra = set(cfg) - set(cls.__dataclass_fields__)
        if extra:
            raise ValueError(f"unknown diffusion prior settings {sorted(extra)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in cfg.items()})

    def arch(self, n_leads: int = len(PRIOR_LEADS)) -> dict:
        """Keyword arguments of :class:`EpsUNet`."""
        return {
            "n_leads": int(n_leads),
            "channels": [int(c) for c in self.channels],
            "blocks": int(self.blocks),
            "time_dim": int(self.time_dim),
            "kernel": int(self.kernel),
            "attention": bool(self.attention),
            "heads": int(self.heads),
            "n_classes": int(self.n_classes) if self.conditional else 0,
        }

    def make_schedule(self) -> Schedule:
        return make_schedule(int(self.T), self.schedule)

    def budget(self) -> Budget:
        return Budget(math.ceil(self.max_steps / self.eval_every), int(self.patience), self.lr_schedule)


# ---------------------------------------------------------------- leads


def derive_12(x8):
    """12 leads (..., 12, W) in ``LEADS12`` order from the 8 of :data:`PRIOR_LEADS` (..., 8, W); numpy or torch.

    III = II - I, aVR = -(I + II) / 2, aVL = I - II / 2, aVF = II - I / 2; V1-V6 copied.
    """
    if x8.shape[-2] != len(PRIOR_LEADS):
        raise ValueError(f"derive_12 needs (..., 8, W) leads {PRIOR_LEADS}, got shape {tuple(x8.shape)}")
    i, ii = x8[..., 0, :], x8[..., 1, :]
    limb = {"I": i, "II": ii, "III": ii - i, "AVR": -(i + ii) / 2, "AVL": i - ii / 2, "AVF": ii - i / 2}
    rows = [limb[name] if name in limb else x8[..., PRIOR_LEADS.index(name), :] for name in LEADS12]
    return torch.stack(rows, dim=-2) if isinstance(x8, torch.Tensor) else np.stack(rows, axis=-2)


# ---------------------------------------------------------------- network


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding (n, dim) of step indices t (n,) (Vaswani et al.; DDPM's frequencies 10000^(-k / half))."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    a = t.to(torch.float32)[:, None] * freqs[None]
    return torch.cat([torch.sin(a), torch.cos(a)], dim=1)


def _groups(c: int) -> int:
    return math.gcd(8, c)


class ResBlock(nn.Module):
    """GroupNorm - SiLU - conv, FiLM from the embedding, GroupNorm - SiLU - conv (zero-initialised), plus a skip."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int, kernel: int):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(_groups(c_in), c_in), nn.Conv1d(c_in, c_out, kernel, padding=kernel // 2)
        self.film = nn.Linear(emb_dim, 2 * c_out)
        self.norm2, self.conv2 = nn.GroupNorm(_groups(c_out), c_out), nn.Conv1d(c_out, c_out, kernel, padding=kernel // 2)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.film(F.silu(emb))[:, :, None].chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift
        return self.skip(x) + self.conv2(F.silu(h))


class SelfAttention(nn.Module):
    """Multi-head self-attention over time with a residual connection (zero-initialised output projection)."""

    def __init__(self, c: int, heads: int):
        super().__init__()
        self.heads, self.norm = heads, nn.GroupNorm(_groups(c), c)
        self.qkv, self.out = nn.Conv1d(c, 3 * c, 1), nn.Conv1d(c, c, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, n = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, self.heads, c // self.heads, n).transpose(-1, -2).unbind(1)
        h = F.scaled_dot_product_attention(q, k, v)  # (b, heads, n, c / heads)
        return x + self.out(h.transpose(-1, -2).reshape(b, c, n))


class EpsUNet(nn.Module):
    """1-D U-Net epsilon predictor eps_hat(x_t, t[, labels]) for (B, n_leads, W) windows (module docstring)."""

    def __init__(
        self,
        n_leads: int = len(PRIOR_LEADS),
        channels: Sequence[int] = (32, 64, 128),
        blocks: int = 1,
        time_dim: int = 128,
        kernel: int = 5,
        attention: bool = True,
        heads: int = 4,
        n_classes: int = 0,
    ):
        super().__init__()
        ch = [int(c) for c in channels]
        self.arch = {
            "n_leads": int(n_leads),
            "channels": ch,
            "blocks": int(blocks),
            "time_dim": int(time_dim),
            "kernel": int(kernel),
            "attention": bool(attention),
            "heads": int(heads),
            "n_classes": int(n_classes),
        }
        self.depth, self.time_dim, self.n_classes = len(ch) - 1, int(time_dim), int(n_classes)
        emb = self.time_dim
        self.time_mlp = nn.Sequential(nn.Linear(self.time_dim, emb), nn.SiLU(), nn.Linear(emb, emb))
        if self.n_classes:
            self.label_emb = nn.Linear(self.n_classes, emb)
            self.null_emb = nn.Parameter(torch.zeros(emb))
        self.inp = nn.Conv1d(n_leads, ch[0], kernel, padding=kernel // 2)
        self.down_blocks, self.downs = nn.ModuleList(), nn.ModuleList()
        for i, c in enumerate(ch):
            c_prev = ch[max(i - 1, 0)]
            self.down_blocks.append(nn.ModuleList([ResBlock(c_prev if j == 0 else c, c, emb, kernel) for j in range(blocks)]))
            if i < self.depth:
                self.downs.append(nn.Conv1d(c, c, 3, stride=2, padding=1))
        self.mid1 = ResBlock(ch[-1], ch[-1], emb, kernel)
        self.attn = SelfAttention(ch[-1], heads) if attention else None
        self.mid2 = ResBlock(ch[-1], ch[-1], emb, kernel)
        self.up_blocks, self.ups = nn.ModuleList(), nn.ModuleList()
        for i, c in enumerate(ch):
            self.up_blocks.append(nn.ModuleList([ResBlock(2 * c if j == 0 else c, c, emb, kernel) for j in range(blocks)]))
            self.ups.append(nn.Conv1d(c, ch[i - 1], 3, padding=1) if i > 0 else nn.Identity())
        self.out_norm = nn.GroupNorm(_groups(ch[0]), ch[0])
        self.out = nn.Conv1d(ch[0], n_leads, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def embed(self, t: torch.Tensor, labels: torch.Tensor | None = None, drop: torch.Tensor | None = None) -> torch.Tensor:
        """(B, emb) embedding of steps t (B,) and, for a conditional net, labels (B, n_classes) (None: the null label
        for every row; ``drop`` (B,) bool: the null label for those rows)."""
        e = self.time_mlp(timestep_embedding(t, self.time_dim))
        if not self.n_classes:
            if labels is not None:
                raise ValueError("labels given to an unconditional EpsUNet (n_classes 0)")
            return e
        null = self.null_emb.to(e.dtype)[None].expand_as(e)
        if labels is None:
            return e + null
        if labels.shape != (len(t), self.n_classes):
            raise ValueError(f"labels must be ({len(t)}, {self.n_classes}) multi-hot, got {tuple(labels.shape)}")
        lab = self.label_emb(labels.to(e.dtype))
        if drop is not None:
            lab = torch.where(drop.to(torch.bool)[:, None], null, lab)
        return e + lab

    def forward(self, x: torch.Tensor, t, labels: torch.Tensor | None = None, drop: torch.Tensor | None = None) -> torch.Tensor:
        """eps_hat (B, n_leads, W) of x_t (B, n_leads, W) at steps t (int or (B,))."""
        b, _, w = x.shape
        if w % 2**self.depth:
            raise ValueError(f"window length {w} is not a multiple of 2**{self.depth} = {2**self.depth} (EpsUNet depth)")
        t = torch.as_tensor(t, device=x.device)
        t = t.reshape(1).expand(b) if t.dim() == 0 else t
        e = self.embed(t, labels, drop)
        h, skips = self.inp(x), []
        for i, level in enumerate(self.down_blocks):
            for blk in level:
                h = blk(h, e)
            skips.append(h)
            if i < self.depth:
                h = self.downs[i](h)
        h = self.mid1(h, e)
        if self.attn is not None:
            h = self.attn(h)
        h = self.mid2(h, e)
        for i in range(self.depth, -1, -1):
            h = torch.cat([h, skips[i]], dim=1)
            for blk in self.up_blocks[i]:
                h = blk(h, e)
            if i > 0:
                h = self.ups[i](F.interpolate(h, scale_factor=2, mode="nearest"))
        return self.out(F.silu(self.out_norm(h)))


def build_model(settings: PriorSettings, n_leads: int = len(PRIOR_LEADS)) -> EpsUNet:
    return EpsUNet(**settings.arch(n_leads))


# ---------------------------------------------------------------- scaling, denoiser, sampling


def x0_clip(windows: np.ndarray, scale: float) -> float:
    """The range x0_hat is clamped to (scaled units): 1.5 x the 99.99th percentile of |x| / scale of the train windows."""
    return float(1.5 * np.quantile(np.abs(np.asarray(windows, dtype=np.float64)), 0.9999) / scale)


def data_scale(windows: np.ndarray) -> float:
    """The run's global scale (mV): RMS of the training windows over all leads and samples (float64)."""
    s = float(np.sqrt(np.mean(np.square(np.asarray(windows, dtype=np.float64)))))
    if not np.isfinite(s) or s <= 0:
        raise ValueError(f"training windows have no usable scale (RMS {s})")
    return s


class Denoiser:
    """``x0_hat = denoiser(x_t, t)`` of an epsilon network, in the *scaled* space (x / scale), with classifier-free
    guidance: eps = eps_null + guidance (eps_label - eps_null) (guidance 1: the conditional net alone; 0: the
    unconditional one; ``labels`` None: unconditional). ``labels``: (n_classes,) or (1, n_classes) for every row,
    or (B, n_classes) per row. :meth:`to_mv` / :meth:`to_scaled` convert between the spaces."""

    def __init__(
        self, model: EpsUNet, schedule: Schedule, scale: float, labels=None, guidance: float = 1.0, clip: float | None = None,
        prediction: str = "eps",
    ):  # fmt: skip
        self.model, self.schedule, self.scale, self.guidance = model, schedule, float(scale), float(guidance)
        self.clip, self.prediction = (None if clip is None else float(clip)), prediction
        if labels is not None and not model.n_classes:
            raise ValueError("labels given for an unconditional prior")
        if labels is not None:
            labels = labels.detach().float() if isinstance(labels, torch.Tensor) else torch.as_tensor(np.asarray(labels, dtype=np.float32))
            labels = labels.reshape(-1, model.n_classes)
        self.labels = labels

    def eps(self, x_t: torch.Tensor, t) -> torch.Tensor:
        """Guided eps_hat in the dtype of x_t (from the network's v when it predicts v)."""
        out = self.output(x_t, t)
        if self.prediction == "eps":
            return out
        s, n = self.schedule.coef(t, x_t)
        return n * x_t + s * out

    def output(self, x_t: torch.Tensor, t) -> torch.Tensor:
        """The network's guided output (eps or v) in the dtype of x_t."""
        p = next(self.model.parameters())
        x = x_t.to(device=p.device, dtype=p.dtype)
        b = len(x)
        t = torch.as_tensor(t, device=p.device, dtype=torch.long)
        t = t.reshape(1).expand(b) if t.dim() == 0 else t
        if self.labels is None:
            out = self.model(x, t)
        else:
            lab = self.labels.to(p.device).expand(b, -1) if len(self.labels) == 1 else self.labels.to(p.device)
            if self.guidance == 1.0:
                out = self.model(x, t, lab)
            else:
                both = self.model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([lab, lab]), torch.arange(2 * b, device=p.device) >= b)
                cond, null = both[:b], both[b:]
                out = null + self.guidance * (cond - null)
        return out.to(x_t.dtype)

    def __call__(self, x_t: torch.Tensor, t) -> torch.Tensor:
        if self.prediction == "eps":
            x0 = self.schedule.x0_from_eps(x_t, t, self.output(x_t, t))
        else:
            s, n = self.schedule.coef(t, x_t)
            x0 = s * x_t - n * self.output(x_t, t)
        return x0 if self.clip is None else x0.clamp(-self.clip, self.clip)

    def to_mv(self, x):
        return x * self.scale

    def to_scaled(self, x):
        return x / self.scale


def denoiser(
    model: EpsUNet, schedule: Schedule, scale: float, labels=None, guidance: float = 1.0, clip: float | None = None, prediction: str = "eps"
) -> Denoiser:
    """The :class:`Denoiser` (scaled space) of a model; gradients flow through it unless called under no_grad. ``clip``:
    x0_hat is clamped to [-clip, clip] (the checkpoint's ``x0_clip``, from the training data's range): near t = T,
    abar_t ~ 1e-9 and x0 = (x_t - sqrt(1 - abar_t) eps_hat) / sqrt(abar_t) multiplies any error of eps_hat by ~2e4,
    which a coarse sampling grid carries into the next step (the clipping of DDPM's x0)."""
    return Denoiser(model, schedule, scale, labels, guidance, clip, prediction)


def ddim_timesteps(T: int, steps: int) -> list[int]:  # noqa: N803
    """``steps`` distinct indices from T - 1 down to 0, evenly spaced."""
    if not 1 <= steps <= T:
        raise ValueError(f"sampling steps must be in 1..{T}, got {steps}")
    return sorted({int(round(v)) for v in np.linspace(0, T - 1, steps)}, reverse=True)


@torch.no_grad()
def ddim_sample(
    den: Callable, schedule: Schedule, shape: tuple, *, steps: int, generator: torch.Generator, eta: float = 0.0, device="cpu"
) -> torch.Tensor:
    """DDIM (Song et al. 2021; ``eta`` 0 deterministic, 1 DDPM-like) from x_T ~ N(0, I) of ``shape`` with denoiser
    ``den`` (scaled space); all noise from the CPU ``generator``, so samples do not depend on the device."""
    ts = ddim_timesteps(schedule.T, steps)
    abar = schedule.abar.to(torch.float64)
    x = torch.randn(shape, generator=generator).to(device)
    x0 = x
    for k, t in enumerate(ts):
        x0 = den(x, t)
        if k == len(ts) - 1:
            break
        a, a_next = abar[t], abar[ts[k + 1]]
        eps = schedule.eps_from_x0(x, t, x0)
        sigma = float(eta * torch.sqrt((1 - a_next) / (1 - a) * (1 - a / a_next)))
        x = float(a_next.sqrt()) * x0 + math.sqrt(max(float(1 - a_next) - sigma**2, 0.0)) * eps
        if sigma > 0:
            x = x + sigma * torch.randn(shape, generator=generator).to(device)
    return x0


def sample_unconditional(
    model: EpsUNet,
    schedule: Schedule,
    n: int,
    *,
    steps: int,
    generator: torch.Generator,
    scale: float,
    window: int = 256,
    eta: float = 0.0,
    labels=None,
    guidance: float = 1.0,
    batch: int | None = None,
    clip: float | None = None,
    prediction: str = "eps",
) -> np.ndarray:
    """n samples (n, n_leads, window) float32 in mV by DDIM (no observation; ``labels`` for a class-conditional
    draw, guided by ``guidance``), in batches of ``batch`` (noise drawn batch after batch from ``generator``)."""
    model.eval()
    dev = next(model.parameters()).device
    batch = batch or inference_batch(dev)
    out = []
    for lo in range(0, n, batch):
        m = min(batch, n - lo)
        lab = labels
        if labels is not None and np.ndim(labels) == 2 and len(labels) == n:
            lab = np.asarray(labels)[lo : lo + m]
        den = denoiser(model, schedule, scale, lab, guidance, clip, prediction)
        x = ddim_sample(den, schedule, (m, model.arch["n_leads"], int(window)), steps=steps, generator=generator, eta=eta, device=dev)
        out.append(den.to_mv(x).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, model.arch["n_leads"], int(window)), np.float32)


# ---------------------------------------------------------------- training


def target(schedule: Schedule, x0, t, eps, prediction: str = "eps") -> torch.Tensor:
    """The network's training target at (x0, t, eps): eps, or v = sqrt(abar_t) eps - sqrt(1 - abar_t) x0."""
    if prediction == "eps":
        return eps
    s, n = schedule.coef(t, x0)
    return s * eps - n * x0


def eps_loss(model: EpsUNet, schedule: Schedule, x0, t, eps, labels=None, drop=None, prediction: str = "eps") -> torch.Tensor:
    """Mean squared error of the network's output at x_t = q_sample(x0, t, eps) against its target (scaled space)."""
    return torch.mean((model(schedule.q_sample(x0, t, eps), t, labels, drop) - target(schedule, x0, t, eps, prediction)) ** 2)


def _ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    with torch.no_grad():
        for pe, pm in zip(ema.parameters(), model.parameters()):
            pe.lerp_(pm, 1.0 - decay)
        for be, bm in zip(ema.buffers(), model.buffers()):
            be.copy_(bm)


def _train_chunk(chunk: int, *, model, ema, opt, schedule, x, labels, settings: PriorSettings, seed: int, dev) -> float:
    """``eval_every`` optimiser steps (fewer in a last, partial chunk); randomness from (seed, chunk) only."""
    g = torch.Generator().manual_seed(derive_seed(seed, "prior-steps", chunk))
    s, bs = settings, int(settings.batch_size)
    first = chunk * s.eval_every
    n_steps = min(s.eval_every, s.max_steps - first)
    total = 0.0
    for k in range(n_steps):
        i = torch.randint(len(x), (bs,), generator=g)
        t = torch.randint(s.T, (bs,), generator=g)
        eps = torch.randn((bs, *x.shape[1:]), generator=g)
        drop = (torch.rand(bs, generator=g) < s.cfg_drop).to(dev) if labels is not None else None
        lab = labels[i.to(dev)] if labels is not None else None
        loss = eps_loss(model, schedule, x[i.to(dev)], t.to(dev), eps.to(dev), lab, drop, settings.prediction)
        total += step(opt, loss, s.clip or None)
        if ema is not None:
            n = first + k + 1
            _ema_update(ema, model, min(s.ema, (1 + n) / (10 + n)))
    return total / n_steps


def val_draws(n: int, shape: tuple, settings: PriorSettings, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The fixed validation set: (rows, t, eps) for ``val_repeats`` draws per window, seeded."""
    g = torch.Generator().manual_seed(derive_seed(seed, "prior-val"))
    rows = torch.arange(n).repeat(settings.val_repeats)
    t = torch.randint(settings.T, (len(rows),), generator=g)
    return rows, t, torch.randn((len(rows), *shape), generator=g)


def _validate(*, net, schedule, x, labels, draws, vb: int, prediction: str = "eps") -> dict:
    rows, t, eps = draws
    se = 0.0
    for lo in range(0, len(rows), vb):
        r = rows[lo : lo + vb].to(x.device)
        lab = labels[r] if labels is not None else None
        e = eps[lo : lo + vb].to(x.device)
        tt = t[lo : lo + vb].to(x.device)
        pred = net(schedule.q_sample(x[r], tt, e), tt, lab)
        se += float(((pred - target(schedule, x[r], tt, e, prediction)).double() ** 2).sum())
    return {"val_loss": se / eps.numel()}


def _labels_tensor(labels, n: int, settings: PriorSettings, what: str, dev) -> torch.Tensor | None:
    if not settings.conditional:
        if labels is not None:
            raise ValueError(f"{what} labels given but the settings are unconditional (conditional: false)")
        return None
    if labels is None:
        raise ValueError(f"class conditioning needs {what} labels ({n}, {settings.n_classes})")
    y = np.asarray(labels, dtype=np.float32)
    if y.shape != (n, settings.n_classes):
        raise ValueError(f"{what} labels must be ({n}, {settings.n_classes}) multi-hot, got {y.shape}")
    return torch.from_numpy(y).to(dev)


def train_prior(
    train_windows: np.ndarray,
    val_windows: np.ndarray,
    settings: PriorSettings,
    *,
    seed: int,
    out_path,
    device: str = "auto",
    log=print,
    labels=None,
    val_labels=None,
    classes: Sequence[str] = CLASSES,
    leads: Sequence[str] = PRIOR_LEADS,
    fs: float = 100.0,
    epoch_hook: Callable[[int], None] | None = None,
) -> tuple[EpsUNet, dict]:
    """Train the prior on windows (n, 8, W) mV (``leads`` order), stop early on ``val_windows``; write the checkpoint.

    ``labels`` / ``val_labels``: (n, n_classes) multi-hot superclasses (``classes``), needed exactly when
    ``settings.conditional``. Resumes from ``{out_path stem}.resume.pt`` when it was made for the same settings,
    seed, device, thread count and data (removed at the end); ``epoch_hook(chunk)`` runs after each chunk's state
    is saved. Returns the model (best weights: the EMA's when ``ema`` > 0; eval mode) and the checkpoint dict:
    format, arch, state_dict, settings, schedule, leads, fs, window, scale, classes, n_params, seconds, best_step,
    best_val_loss, history (rows with ``step``), seed.
    """
    t0 = time.perf_counter()
    xt, xv = np.asarray(train_windows, dtype=np.float32), np.asarray(val_windows, dtype=np.float32)
    leads = [str(v) for v in leads]
    if xt.ndim != 3 or xv.ndim != 3 or xt.shape[1:] != xv.shape[1:] or xt.shape[1] != len(leads) or not len(xt) or not len(xv):
        raise ValueError(f"need non-empty train / val windows (n, {len(leads)}, W) alike, got {xt.shape}, {xv.shape}")
    if not (np.isfinite(xt).all() and np.isfinite(xv).all()):
        raise ValueError("non-finite values in the prior's training or validation windows")
    window = int(xt.shape[2])
    dev = resolve_device(device)
    seed_everything(seed, dev)
    scale = data_scale(xt)
    torch.manual_seed(derive_seed(seed, "prior-init"))
    model = build_model(settings, len(leads)).to(dev)
    if window % 2**model.depth:
        raise ValueError(f"window {window} is not a multiple of 2**{model.depth} (channels {settings.channels})")
    ema = None
    if settings.ema > 0:
        ema = build_model(settings, len(leads)).to(dev)
        ema.load_state_dict(model.state_dict())
        ema.requires_grad_(False)
    schedule = settings.make_schedule()
    x_train = torch.from_numpy(xt / np.float32(scale)).to(dev)
    x_val = torch.from_numpy(xv / np.float32(scale)).to(dev)
    lab_t = _labels_tensor(labels, len(xt), settings, "train", dev)
    lab_v = _labels_tensor(val_labels, len(xv), settings, "validation", dev)
    opt = torch.optim.Adam(model.parameters(), lr=float(settings.lr))
    fp = fingerprint(
        {"settings": asdict(settings), "seed": seed, "device": dev.type, "threads": torch.get_num_threads(), "leads": leads, "fs": fs},
        xt,
        xv,
        *(np.asarray(a, dtype=np.float32) for a in (labels, val_labels) if a is not None),
    )
    n_params = count_params(model)
    log(f"diffusion prior: {len(xt)} train / {len(xv)} val windows of {window} samples, {n_params} parameters, scale {scale:.4f} mV")
    modules = {"model": model} if ema is None else {"model": model, "ema": ema}
    net = model if ema is None else ema
    result = fit(
        modules,
        opt,
        partial(
            _train_chunk, model=model, ema=ema, opt=opt, schedule=schedule, x=x_train, labels=lab_t, settings=settings, seed=seed, dev=dev
        ),
        partial(
            _validate,
            net=net,
            schedule=schedule,
            x=x_val,
            labels=lab_v,
            draws=val_draws(len(xv), xv.shape[1:], settings, seed),
            vb=inference_batch(dev),
            prediction=settings.prediction,
        ),
        budget=settings.budget(),
        state_path=resume_path(out_path),
        fp=fp,
        log=log,
        epoch_hook=epoch_hook,
    )
    best = result["best"]["ema" if ema is not None else "model"]
    model.load_state_dict(best)
    model.eval()
    history = [{**row, "step": min(int(row["epoch"]) * settings.eval_every, settings.max_steps)} for row in result["history"]]
    best_step = min(int(result["best_epoch"]) * settings.eval_every, settings.max_steps)
    seconds = time.perf_counter() - t0
    ckpt = {
        "format": FORMAT,
        "arch": model.arch,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "settings": plain(asdict(settings)),
        "schedule": {"T": int(settings.T), "kind": settings.schedule},
        "leads": leads,
        "fs": float(fs),
        "window": window,
        "scale": float(scale),
        "x0_clip": x0_clip(xt, scale),
        "classes": [str(c) for c in classes] if settings.conditional else [],
        "n_params": n_params,
        "seconds": round(seconds, 3),
        "best_step": best_step,
        "best_val_loss": float(result["best_val"]),
        "history": history,
        "seed": int(seed),
    }
    save_torch(out_path, ckpt)
    resume_path(out_path).unlink(missing_ok=True)
    log(f"diffusion prior: best step {best_step} (val eps-MSE {result['best_val']:.5f}) of {history[-1]['step']}, {seconds:.0f} s")
    return model, ckpt


# ---------------------------------------------------------------- checkpoints and data


@dataclass
class Prior:
    """A loaded prior: the network (eval mode), its schedule, scale (mV), leads, rate, window, settings, checkpoint."""

    model: EpsUNet
    schedule: Schedule
    scale: float
    leads: list[str]
    fs: float
    window: int
    settings: PriorSettings
    classes: list[str]
    ckpt: dict

    def denoiser(self, labels=None, guidance: float = 1.0) -> Denoiser:
        return denoiser(self.model, self.schedule, self.scale, labels, guidance, self.ckpt.get("x0_clip"), self.settings.prediction)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def require_match(path, have: tuple, *, leads=None, fs: float | None = None, window: int | None = None) -> None:
    """One-line ArtifactError naming ``path`` when a prior's ``have`` = (leads, fs, window) differs from the expected
    leads / rate / window (None: not checked)."""
    want = (
        list(have[0]) if leads is None else [str(v) for v in leads],
        float(have[1]) if fs is None else float(fs),
        int(have[2]) if window is None else int(window),
    )
    if [v.upper() for v in have[0]] != [v.upper() for v in want[0]] or float(have[1]) != want[1] or int(have[2]) != want[2]:
        raise ArtifactError(
            f"{path}: prior trained on leads {', '.join(have[0])} at {float(have[1]):g} Hz, window {int(have[2])}; "
            f"task needs leads {', '.join(want[0])} at {want[1]:g} Hz, window {want[2]}"
        )


def load_prior(path, *, leads=None, fs: float | None = None, window: int | None = None, device="cpu") -> Prior:
    """The prior of a checkpoint written by :func:`train_prior`; one-line ArtifactError naming the file when it is
    unreadable or not a prior checkpoint, or when its leads / rate / window differ from the expected ones (None:
    not checked)."""
    try:
        ckpt = load_checkpoint(path, "diffusion prior")
    except ArtifactError as exc:
        raise ArtifactError(_one_line(exc)) from exc
    keys = ("arch", "state_dict", "settings", "leads", "fs", "window", "scale")
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT or any(k not in ckpt for k in keys):
        got = ckpt.get("format") if isinstance(ckpt, dict) else type(ckpt).__name__
        raise ArtifactError(f"{path}: not a diffusion prior checkpoint (format {got!r}, expected {FORMAT})")
    have = (list(ckpt["leads"]), float(ckpt["fs"]), int(ckpt["window"]))
    require_match(path, have, leads=leads, fs=fs, window=window)
    try:
        settings = PriorSettings.of(ckpt["settings"])
        model = EpsUNet(**ckpt["arch"])
        model.load_state_dict(ckpt["state_dict"])
    except (TypeError, ValueError, RuntimeError, KeyError) as exc:
        raise ArtifactError(f"{path}: diffusion prior checkpoint does not match its network ({_one_line(exc)[:300]})") from exc
    sched = ckpt.get("schedule", {"T": settings.T, "kind": settings.schedule})
    return Prior(
        model.to(device).eval(),
        make_schedule(int(sched["T"]), sched["kind"]),
        float(ckpt["scale"]),
        list(have[0]),
        have[1],
        have[2],
        settings,
        list(ckpt.get("classes", [])),
        ckpt,
    )


@dataclass
class PriorWindows:
    """Segment windows of one split: x (n, 8, W) float32 mV in :data:`PRIOR_LEADS` order, their meta rows, fs, window."""

    x: np.ndarray
    meta: pd.DataFrame
    fs: float
    window: int
    path: str = ""

    def labels(self, classes: Sequence[str] = CLASSES) -> np.ndarray:
        """(n, len(classes)) float32 multi-hot superclasses of the windows."""
        return multi_hot(label_lists(self.meta, "superclass", self.path), classes)


def load_prior_windows(
    segments_h5, folds_json, fold: str, split: str, *, leads: Sequence[str] = PRIOR_LEADS, group: str = "", kind: str = "segment"
) -> PriorWindows:
    """The ``leads`` of the segment windows (results/segments/segments.h5: ``x`` and ``meta`` at the root; ``group=
    'records'`` for the record windows) whose records are in ``split`` of ``fold`` (folds.json), in file order.
    ``kind='record'``: the split's whole records instead (the record windows put together, padded to 10.24 s:
    :func:`ecgrecon.learn.diffusion.records.to_records`), one meta row per record (its first window's)."""
    if kind not in WINDOWS:
        raise ValueError(f"window must be one of {', '.join(WINDOWS)}, got {kind!r}")
    if kind == "record":
        w = load_prior_windows(segments_h5, folds_json, fold, split, leads=leads, group="records")
        try:
            ids, x, _ = to_records(w.x, w.meta, record_length(w.fs))
        except ValueError as exc:
            raise ArtifactError(f"{segments_h5}: {exc}") from exc
        first = w.meta.sort_values(["ecg_id", "start"]).drop_duplicates("ecg_id").set_index("ecg_id").loc[ids]
        seg_meta, _ = read_segment_meta(segments_h5)  # labels live in the segment meta (one record, one label set)
        labels = seg_meta.drop_duplicates("ecg_id").set_index("ecg_id")
        for col in ("labels", "superclass", "subclass"):
            if col in labels and col not in first:
                first[col] = labels[col].reindex(first.index).to_numpy()
        return PriorWindows(x, first.reset_index(), w.fs, x.shape[-1], w.path)
    meta, attrs = read_segment_meta(segments_h5, group)
    split_ids = load_folds(folds_json, fold)
    if split not in split_ids:
        raise ArtifactError(f"{folds_json}: fold '{fold}' has no split '{split}'")
    rows = split_rows(meta, split_ids, segments_h5)[split]
    if not len(rows):
        raise ArtifactError(f"{segments_h5}: no {group or 'segment'} windows of fold '{fold}' split '{split}'")
    x = read_leads(segments_h5, list(leads), rows, group)
    return PriorWindows(x, meta.iloc[rows].reset_index(drop=True), float(attrs["fs"]), int(attrs["window"]), str(segments_h5))
