"""CaLiNet-E's network (Zhang et al. 2026): a calibrated linear map plus a FiLM-conditioned 1-D U-Net residual.

Forward pass for target windows x (B, C, T) in mV, given each window's effective per-patient map
(W_eff (B, J, C, 2K+1), b_eff (B, J), built by :mod:`ecgrecon.learn.calinet` from PCM's ridge map,
the quality score rho and GL):

    Y = lin(x; W_eff, b_eff) + R_theta(x, e),    e = E(vec(W_eff - W_GL), b_eff - b_GL)

- ``lin``: exactly PCM's prediction (:func:`ecgrecon.learn.calibration.predict_pcm`): each target
  sample is linear in the inputs t-K..t+K, the edge sample repeated at the window borders.
- ``E`` (:class:`DeviationEmbedding`): a bias-free MLP (Linear - GELU - Linear, no bias anywhere,
  GELU(0) = 0), so e == 0 exactly when the patient's map equals the population map (rho = 0 or a
  calibration that reproduces GL). The source's embedding has biases and a LayerNorm, so its e is
  not zero there; ours is, which makes "no calibration information" mean "no modulation".
- ``R_theta`` (:class:`FiLMUNet`): the source's U-Net layout (their ``ResidualUNet``): per level a
  ConvBlock (conv k5 - GroupNorm - GELU, twice), a stride-2 conv down; a ConvBlock bottleneck;
  per level a stride-2 transposed conv up, concatenation with the skip, a ConvBlock; a 1x1 conv
  head to the J target leads. FiLM ``(1 + gamma) h + beta`` (gamma, beta = Linear(e)) after the
  last two encoder levels and the bottleneck, as in the source. The time axis is reflect-padded to
  a multiple of 2^levels (none for T = 256 at 4 levels). The FiLM generators and the head are
  zero-initialised, so the untrained model *is* the calibrated linear map (exactly: the head
  outputs 0.0).

Sizes: ``channels`` default (16, 32, 64, 128) with a 32-d embedding (sized for 2 CPU cores);
:data:`SOURCE_ARCH` is the source's (32, 64, 128, 256) with a 128-d embedding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

DEFAULT_ARCH = {"channels": [16, 32, 64, 128], "embed_dim": 32, "kernel": 5}
SOURCE_ARCH = {"channels": [32, 64, 128, 256], "embed_dim": 128, "kernel": 5}
"""The source's backbone size (``ResidualUNet(channels=(32, 64, 128, 256), embedding_dim=128)``)."""


def linear_map(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-window linear prediction (B, J, T): ``y[n, j, t] = b[n, j] + sum_{c,k} w[n, j, c, k] x[n, c, clip(t + k - K)]``.

    x (B, C, T) mV, w (B, J, C, 2K+1), b (B, J): the same lag convention as
    :func:`ecgrecon.learn.linear.lag_view` (edge padding), hence as PCM's ``predict_pcm``.
    """
    k = (w.shape[-1] - 1) // 2
    xp = F.pad(x, (k, k), mode="replicate") if k else x
    v = xp.unfold(-1, 2 * k + 1, 1)  # (B, C, T, 2K+1)
    return torch.einsum("nctk,njck->njt", v, w) + b[:, :, None]


class ConvBlock(nn.Module):
    """Conv - GroupNorm - GELU, twice (the source's block)."""

    def __init__(self, c_in: int, c_out: int, kernel: int):
        super().__init__()
        pad = kernel // 2
        self.net = nn.Sequential(
            nn.Conv1d(c_in, c_out, kernel, padding=pad),
            nn.GroupNorm(min(8, c_out), c_out),
            nn.GELU(),
            nn.Conv1d(c_out, c_out, kernel, padding=pad),
            nn.GroupNorm(min(8, c_out), c_out),
            nn.GELU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class FiLM(nn.Module):
    """``(1 + gamma) h + beta`` with (gamma, beta) = Linear(e), zero-initialised (identity at start)."""

    def __init__(self, channels: int, embed_dim: int):
        super().__init__()
        self.proj = nn.Linear(embed_dim, 2 * channels)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, h: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.proj(e).chunk(2, dim=-1)
        return (1.0 + gamma[..., None]) * h + beta[..., None]


class DeviationEmbedding(nn.Module):
    """e = W2 GELU(W1 d), no biases: e(0) == 0 exactly. d = (vec(W_eff - W_GL), b_eff - b_GL)."""

    def __init__(self, n_dev: int, embed_dim: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_dev, embed_dim, bias=False), nn.GELU(), nn.Linear(embed_dim, embed_dim, bias=False))

    def forward(self, d: torch.Tensor) -> torch.Tensor:
        return self.net(d)


class FiLMUNet(nn.Module):
    """R_theta: (B, n_in, T) mV and e (B, embed_dim) -> (B, n_out, T) mV; zero head (output 0 at init)."""

    def __init__(self, n_in: int, n_out: int, channels, embed_dim: int, kernel: int = 5):
        super().__init__()
        channels = [int(c) for c in channels]
        if not channels:
            raise ValueError("the U-Net needs at least one level")
        self.channels, self.multiple = channels, 2 ** len(channels)
        self.encoders, self.down = nn.ModuleList(), nn.ModuleList()
        c_prev = n_in
        for c in channels:
            self.encoders.append(ConvBlock(c_prev, c, kernel))
            self.down.append(nn.Conv1d(c, c, 2, stride=2))
            c_prev = c
        self.bottleneck = ConvBlock(channels[-1], channels[-1], kernel)
        self.up, self.decoders = nn.ModuleList(), nn.ModuleList()
        for c in reversed(channels):
            self.up.append(nn.ConvTranspose1d(c_prev, c, 2, stride=2))
            self.decoders.append(ConvBlock(2 * c, c, kernel))
            c_prev = c
        self.head = nn.Conv1d(channels[0], n_out, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        # FiLM after the last two encoder levels and the bottleneck (the source's film_layers)
        self.film_levels = sorted({max(len(channels) - 2, 0), len(channels) - 1})
        self.film_enc = nn.ModuleDict({str(i): FiLM(channels[i], embed_dim) for i in self.film_levels})
        self.film_bottleneck = FiLM(channels[-1], embed_dim)

    def forward(self, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        t = x.shape[-1]
        pad = (-t) % self.multiple
        h = F.pad(x, (0, pad), mode="reflect") if pad else x
        skips = []
        for i, (enc, down) in enumerate(zip(self.encoders, self.down)):
            h = enc(h)
            if str(i) in self.film_enc:
                h = self.film_enc[str(i)](h, e)
            skips.append(h)
            h = down(h)
        h = self.film_bottleneck(self.bottleneck(h), e)
        for up, dec, skip in zip(self.up, self.decoders, reversed(skips)):
            h = dec(torch.cat([up(h), skip], dim=1))
        return self.head(h)[..., :t]


class CaLiNetE(nn.Module):
    """lin(x; W_eff, b_eff) + R_theta(x, E(W_eff - W_GL, b_eff - b_GL)); GL's weights are buffers.

    ``forward(x, w_eff, b_eff)``: x (B, C, T) mV, w_eff (B, J, C, 2K+1), b_eff (B, J) -> (B, J, T) mV.
    Build with :meth:`from_gl` (or ``CaLiNetE(n_in, n_out, context, **arch)`` before
    ``load_state_dict``: the buffers come with the checkpoint).
    """

    def __init__(self, n_in: int, n_out: int, context: int, channels=(16, 32, 64, 128), embed_dim: int = 32, kernel: int = 5):
        super().__init__()
        self.n_in, self.n_out, self.context = int(n_in), int(n_out), int(context)
        taps = 2 * self.context + 1
        self.register_buffer("w_global", torch.zeros(self.n_out, self.n_in, taps))
        self.register_buffer("b_global", torch.zeros(self.n_out))
        self.embed = DeviationEmbedding(self.n_out * self.n_in * taps + self.n_out, int(embed_dim))
        self.unet = FiLMUNet(self.n_in, self.n_out, channels, int(embed_dim), int(kernel))
        self.arch = {"channels": [int(c) for c in channels], "embed_dim": int(embed_dim), "kernel": int(kernel)}

    @classmethod
    def from_gl(cls, gl, **arch) -> CaLiNetE:
        """The model for a GL map (:class:`ecgrecon.learn.linear.LinearMap`): its leads, context and weights."""
        model = cls(len(gl.inputs), len(gl.targets), gl.context, **arch)
        model.w_global.copy_(torch.as_tensor(gl.weights, dtype=torch.float32))
        model.b_global.copy_(torch.as_tensor(gl.intercept, dtype=torch.float32))
        return model

    def embedding(self, w_eff: torch.Tensor, b_eff: torch.Tensor) -> torch.Tensor:
        """e (B, embed_dim) of the patients' deviation from the population map."""
        d = torch.cat([(w_eff - self.w_global.to(w_eff.dtype)).flatten(1), b_eff - self.b_global.to(b_eff.dtype)], dim=1)
        return self.embed(d)

    def forward(self, x: torch.Tensor, w_eff: torch.Tensor, b_eff: torch.Tensor) -> torch.Tensor:
        if x.ndim != 3 or x.shape[1] != self.n_in:
            raise ValueError(f"expected x of shape (B, {self.n_in}, T), got {tuple(x.shape)}")
        if tuple(w_eff.shape[1:]) != tuple(self.w_global.shape) or tuple(b_eff.shape[1:]) != (self.n_out,):
            raise ValueError(f"maps {tuple(w_eff.shape)}, {tuple(b_eff.shape)} do not fit {tuple(self.w_global.shape)}")
        return linear_map(x, w_eff, b_eff) + self.unet(x, self.embedding(w_eff, b_eff))
