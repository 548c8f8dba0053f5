"""Networks: the contrastive signal encoder (+ projection head) and the lead decoder.

- ``SignalEncoder``: 1-D CNN on the input leads (mV) of one segment -> h in R^embed_dim.
- ``ProjectionHead``: h -> l2-normalised z (used only by the contrastive loss).
- ``LeadDecoder``: per-segment z-scored input leads (+ optionally the normalised h) -> one
  target lead, 256 samples in mV. x and h are projected to ``proj`` channels each, h is tiled
  over time, the two are concatenated (2*proj x T) and fused by a strided 1-D conv; a compact
  residual temporal decoder at T/stride and a transposed conv bring it back to T samples.
- ``AnchoredDecoder`` (variant ChA): a frozen GL prediction from the raw input leads (mV) plus
  a C-h decoder of the residual whose output layer starts at zero, so the untrained model *is*
  GL and training can only move away from it where validation says so.

Variants (the registry's ``decoder`` methods, :mod:`ecgrecon.methods.decoders`): C (signal only),
Ch (signal + h), ChA (GL anchor + Ch residual; inputs in mV).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ecgrecon.data.datasets import EPS_MV
from ecgrecon.learn.device import inference_batch
from ecgrecon.methods.registry import REGISTRY, Method


def check_variant(variant: str) -> Method:
    """The registry entry of decoder method ``variant`` (what it reads: h, inputs in mV, an anchor)."""
    m = REGISTRY.get(variant)
    if m is None or m.kind != "decoder":
        names = [n for n, d in REGISTRY.items() if d.kind == "decoder"]
        raise ValueError(f"unknown decoder variant {variant!r} (one of {', '.join(names)})")
    return m


def zscore(x: torch.Tensor) -> torch.Tensor:
    """Per segment and lead (x - mean) / max(std, EPS_MV) over time: the torch twin of datasets.zscore_segments."""
    mean = x.mean(dim=-1, keepdim=True)
    std = x.std(dim=-1, keepdim=True, unbiased=False)
    return (x - mean) / std.clamp_min(EPS_MV)


def count_params(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def conv_stack(chans: list[int], kernels: list[int]) -> nn.Sequential:
    """Conv-BN-ReLU blocks (``chans[i] -> chans[i + 1]``, kernel ``kernels[i]``, same padding), max-pooled by 2
    between blocks: the feature extractor of the encoder and of the diagnostic classifier."""
    layers: list[nn.Module] = []
    for i, k in enumerate(kernels):
        layers += [nn.Conv1d(chans[i], chans[i + 1], k, padding=k // 2, bias=False), nn.BatchNorm1d(chans[i + 1]), nn.ReLU()]
        if i < len(kernels) - 1:
            layers.append(nn.MaxPool1d(2))
    return nn.Sequential(*layers)


class SignalEncoder(nn.Module):
    """Conv blocks (conv-BN-ReLU-maxpool) then global average pooling and a linear layer."""

    def __init__(self, n_leads: int, embed_dim: int = 128, width: int = 32):
        super().__init__()
        chans = [n_leads, width, 2 * width, 4 * width, 4 * width]
        self.features = conv_stack(chans, [7, 5, 5, 3])
        self.out = nn.Linear(chans[-1], embed_dim)
        self.embed_dim = embed_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, n_leads, T) in mV -> h: (B, embed_dim)."""
        return self.out(self.features(x).mean(dim=-1))


class ProjectionHead(nn.Module):
    """Two-layer MLP h -> z on the unit sphere."""

    def __init__(self, embed_dim: int = 128, proj_dim: int = 64):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(embed_dim, embed_dim), nn.ReLU(), nn.Linear(embed_dim, proj_dim))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.net(h), dim=-1)


class _Residual(nn.Module):
    def __init__(self, channels: int, kernel: int, dilation: int):
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, kernel, padding=dilation * (kernel - 1) // 2, dilation=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + F.relu(self.conv(x))


class LeadDecoder(nn.Module):
    """Reconstruct one lead from z-scored input leads (variant C) or leads + h (variant Ch).

    The fusion conv has kernel = stride, so its response to the time-tiled h projection is the
    same at every output step: it is computed exactly as ``sum_k W_h[:, :, k] @ h_proj``, which
    equals convolving the concatenated (2*proj x T) tensor at half the cost.
    """

    def __init__(self, n_in: int, h_dim: int = 0, proj: int = 128, hidden: int = 128, stride: int = 4, out_channels: int = 32):
        super().__init__()
        self.n_in, self.h_dim, self.proj, self.stride = n_in, h_dim, proj, stride
        self.x_proj = nn.Conv1d(n_in, proj, 7, padding=3)
        self.h_proj = nn.Linear(h_dim, proj) if h_dim else None
        fuse_in = 2 * proj if h_dim else proj
        self.fuse = nn.Conv1d(fuse_in, hidden, stride, stride=stride)
        self.blocks = nn.Sequential(_Residual(hidden, 3, 1), _Residual(hidden, 3, 2))
        self.up = nn.ConvTranspose1d(hidden, out_channels, stride, stride=stride)
        self.out = nn.Conv1d(out_channels + n_in, 1, 5, padding=2)

    def fused(self, x: torch.Tensor, h: torch.Tensor | None) -> torch.Tensor:
        """The fusion conv output (B, hidden, T/stride)."""
        xp = F.relu(self.x_proj(x))
        w = self.fuse.weight
        f = F.conv1d(xp, w[:, : self.proj], self.fuse.bias, stride=self.stride)
        if self.h_proj is not None:
            if h is None:
                raise ValueError("variant Ch decoder needs h")
            hp = F.relu(self.h_proj(h))
            f = f + (hp @ w[:, self.proj :].sum(dim=-1).T)[..., None]
        return F.relu(f)

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B, n_in, T) z-scored, T divisible by stride; h: (B, h_dim) -> (B, T) in mV."""
        if x.shape[-1] % self.stride:
            raise ValueError(f"segment length {x.shape[-1]} is not a multiple of the decoder stride {self.stride}")
        u = F.relu(self.up(self.blocks(self.fused(x, h))))
        return self.out(torch.cat([u, x], dim=1))[:, 0]


@torch.no_grad()
def predict(model, x: np.ndarray, h: np.ndarray | None, device, batch: int | None = None) -> np.ndarray:
    """Decoder output (n, T) in mV, in float32, ``batch`` segments per pass (default: :func:`inference_batch`)."""
    batch = batch or inference_batch(torch.device(device))
    out = []
    for lo in range(0, len(x), batch):
        xb = torch.from_numpy(x[lo : lo + batch]).to(device)
        hb = None if h is None else torch.from_numpy(h[lo : lo + batch]).to(device)
        out.append(model(xb, hb).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, x.shape[-1]), np.float32)


def build_encoder(n_leads: int, cfg: dict) -> tuple[SignalEncoder, ProjectionHead]:
    """Encoder and head from the ``encoder`` config section."""
    enc = SignalEncoder(n_leads, int(cfg["embed_dim"]), int(cfg["width"]))
    return enc, ProjectionHead(int(cfg["embed_dim"]), int(cfg["proj_dim"]))


class AnchoredDecoder(nn.Module):
    """ChA: ``GL(x) + decoder(zscore(x), h)`` for inputs x in mV; the decoder's output conv starts at zero."""

    def __init__(self, decoder: LeadDecoder, anchor: nn.Module):
        super().__init__()
        if not decoder.h_dim:
            raise ValueError("the anchored decoder's residual network must take h (a Ch decoder)")
        self.decoder, self.anchor = decoder, anchor
        self.h_dim, self.n_in, self.stride = decoder.h_dim, decoder.n_in, decoder.stride
        nn.init.zeros_(decoder.out.weight)
        nn.init.zeros_(decoder.out.bias)

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B, n_in, T) in mV; h: (B, h_dim) -> (B, T) in mV. The GL anchor always runs in float32 (also
        under bf16 autocast), so the untrained model is GL exactly."""
        with torch.autocast(x.device.type, enabled=False):
            gl = self.anchor(x.float())
        return gl + self.decoder(zscore(x), h)


class ResidualDenoiser(nn.Module):
    """DN: ``x[:, lead] + decoder(x)`` for noisy inputs x in mV (the lead and its neighbours): the decoder estimates
    minus the noise of the lead; its output conv starts at zero, so the untrained model is the noisy lead itself."""

    def __init__(self, decoder: LeadDecoder, lead_index: int):
        super().__init__()
        if not 0 <= lead_index < decoder.n_in:
            raise ValueError(f"lead index {lead_index} outside the {decoder.n_in} inputs")
        self.decoder, self.lead_index = decoder, int(lead_index)
        self.h_dim, self.n_in, self.stride = decoder.h_dim, decoder.n_in, decoder.stride
        nn.init.zeros_(decoder.out.weight)
        nn.init.zeros_(decoder.out.bias)

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        return x[:, self.lead_index] + self.decoder(x, h)


def build_decoder(
    variant: str, n_in: int, h_dim: int, cfg: dict, anchor: nn.Module | None = None, lead_index: int | None = None
) -> nn.Module:
    """Decoder for variant C, Ch or ChA from the ``decoder`` config; ChA needs its GL ``anchor``
    (:class:`ecgrecon.learn.linear.GLAnchor`). Methods of the authors' design (Cpaper, Chpaper) get their
    network from :mod:`ecgrecon.learn.paper` and the ``decoder_paper`` config."""
    method = check_variant(variant)
    if method.design == "paper":
        from ecgrecon.learn import paper

        return paper.build_decoder(n_in, h_dim if method.uses_h else 0, cfg)
    dec = LeadDecoder(
        n_in,
        h_dim if method.uses_h else 0,
        proj=int(cfg["proj"]),
        hidden=int(cfg["hidden"]),
        stride=int(cfg["stride"]),
        out_channels=int(cfg["out_channels"]),
    )
    if method.neighbours:  # a denoiser: residual on its own noisy lead
        if lead_index is None:
            raise ValueError(f"variant {variant} needs the index of its lead among the inputs")
        return ResidualDenoiser(dec, lead_index)
    if method.anchor is None:
        return dec
    if anchor is None:
        raise ValueError("variant ChA needs a GL anchor")
    return AnchoredDecoder(dec, anchor)
