"""Learned digitiser: a single-lead printout image -> the lead's samples (the source's architecture, CPU-sized).

- ``ResNet18Trunk``: the standard ResNet-18 feature extractor (7x7 stem, max-pool, four stages of
  two BasicBlocks, 64-128-256-512 channels, stride 32), randomly initialised; defined here because
  PyPI's torchvision does not import beside the pinned torch build, and nothing is downloaded.
  With a 1000-class linear head it has torchvision's 11,689,512 parameters (checked in the tests).
- ``LeadImageDigitizer``: trunk -> mean over the image height -> one token per feature column ->
  linear to ``d_model`` + learned position embedding -> a 2-layer transformer encoder (the bridge)
  -> a 1-D transposed-conv decoder (stride-2 up-sampling blocks) -> linear interpolation to
  ``n_out`` samples (mV).
- ``ColumnDigitizer`` (``printout.learned.arch: columns``, what the benchmark showed the source's
  model needs at a CPU-sized strip): the same parts with the trunk's width stride removed. At
  96 x 384 px the source's stride-32 trunk leaves 12 tokens for 1,000 samples (83 per token) and
  the trace, 0.3 mm wide, falls below a pixel; here a lighter trunk of BasicBlocks strides only in
  height (``column_channels``, default 16-32-64-96), the features of each pixel column (all rows
  flattened) become one token, the same transformer bridge runs over every column, and a linear
  head gives ``ceil(n_out / W)`` samples per column, interpolated to ``n_out``.
- :func:`build_digitizer`: either model from its settings (``arch`` and the sizes).
- :func:`images_to_tensor`, :func:`train_step`: batches of uint8 images and one optimiser step on
  the mean squared error.

Default input 96 x 384 px (``render_single_lead(..., size=(384, 96))``): 3 x 12 trunk features, 12 tokens
(``columns``: 3 x 384 features, 384 tokens).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

IMAGE_MEAN = (0.485, 0.456, 0.406)  # ImageNet statistics, the usual normalisation of a ResNet input
IMAGE_STD = (0.229, 0.224, 0.225)
ARCHS = ("source", "columns")
ARCH_DEFAULTS = {"arch": "source", "column_channels": [16, 32, 64, 96]}  # what a settings dict without them means


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with an identity (or 1x1 conv-BN projection) shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int | tuple[int, int] = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


class ResNet18Trunk(nn.Module):
    """ResNet-18 without its pooling and classifier: (B, 3, H, W) -> (B, 512, H/32, W/32)."""

    out_channels = 512

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        chans = [64, 64, 128, 256, 512]
        self.layer1, self.layer2, self.layer3, self.layer4 = (
            nn.Sequential(BasicBlock(chans[i], chans[i + 1], 1 if i == 0 else 2), BasicBlock(chans[i + 1], chans[i + 1])) for i in range(4)
        )
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


class LeadImageDigitizer(nn.Module):
    """ResNet-18 trunk + transformer bridge + 1-D transposed-conv decoder: (B, 3, H, W) in [0, 1] -> (B, n_out) mV."""

    def __init__(self, image_size: tuple[int, int] = (96, 384), n_out: int = 1000, d_model: int = 256, n_heads: int = 4, n_layers: int = 2):
        super().__init__()
        self.image_size, self.n_out = tuple(image_size), int(n_out)
        self.trunk = ResNet18Trunk()
        self.n_tokens = math.ceil(image_size[1] / 32)
        self.proj = nn.Linear(ResNet18Trunk.out_channels, d_model)
        self.pos = nn.Parameter(torch.zeros(1, self.n_tokens, d_model))
        nn.init.normal_(self.pos, std=0.02)
        layer = nn.TransformerEncoderLayer(d_model, n_heads, dim_feedforward=2 * d_model, dropout=0.0, batch_first=True)
        self.bridge = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        n_up = max(0, math.ceil(math.log2(n_out / self.n_tokens)))
        chans = [max(16, d_model // 2**i) for i in range(n_up + 1)]
        ups: list[nn.Module] = []
        for i in range(n_up):
            ups += [nn.ConvTranspose1d(chans[i], chans[i + 1], 4, stride=2, padding=1), nn.BatchNorm1d(chans[i + 1]), nn.GELU()]
        self.decoder = nn.Sequential(*ups)
        self.head = nn.Conv1d(chans[-1], 1, 5, padding=2)
        self.register_buffer("mean", torch.tensor(IMAGE_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGE_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images: (B, 3, H, W) floats in [0, 1] (H, W = ``image_size``) -> (B, n_out) samples in mV."""
        feats = self.trunk((images - self.mean) / self.std)  # (B, 512, H/32, W/32)
        tokens = self.proj(feats.mean(dim=2).transpose(1, 2)) + self.pos[:, : feats.shape[-1]]
        seq = self.bridge(tokens).transpose(1, 2)  # (B, d_model, n_tokens)
        out = self.head(self.decoder(seq))
        return F.interpolate(out, size=self.n_out, mode="linear", align_corners=False)[:, 0]


class ColumnDigitizer(nn.Module):
    """Height-only-stride BasicBlock trunk -> one token per pixel column -> transformer bridge -> samples per column.

    (B, 3, H, W) in [0, 1] -> (B, n_out) mV; H must be a multiple of ``2 ** (len(column_channels) + 1)``.
    """

    def __init__(self, image_size: tuple[int, int] = (96, 384), n_out: int = 1000, d_model: int = 64, n_heads: int = 4,
                 n_layers: int = 2, column_channels: tuple[int, ...] = tuple(ARCH_DEFAULTS["column_channels"])):  # fmt: skip
        super().__init__()
        self.image_size, self.n_out = tuple(image_size), int(n_out)
        h, w = int(image_size[0]), int(image_size[1])
        chans = [int(c) for c in column_channels]
        if not chans or h % 2 ** (len(chans) + 1):
            raise ValueError(f"image height {h} is not a multiple of {2 ** (len(chans) + 1)} (column_channels {chans})")
        self.stem = nn.Sequential(nn.Conv2d(3, chans[0], 3, stride=(2, 1), padding=1, bias=False), nn.BatchNorm2d(chans[0]), nn.ReLU())
        self.trunk = nn.Sequential(*(BasicBlock(c_in, c_out, (2, 1)) for c_in, c_out in zip(chans, chans[1:] + chans[-1:])))
        rows = h // 2 ** (len(chans) + 1)
        self.n_tokens, self.per_column = w, math.ceil(n_out / w)
        self.proj = nn.Linear(chans[-1] * rows, d_model)
        self.pos = nn.Parameter(torch.zeros(1, w, d_model))
        nn.init.normal_(self.pos, std=0.02)
        layer = nn.TransformerEncoderLayer(d_model, n_heads, dim_feedforward=2 * d_model, dropout=0.0, batch_first=True)
        self.bridge = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.head = nn.Linear(d_model, self.per_column)
        self.register_buffer("mean", torch.tensor(IMAGE_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGE_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = (images.contiguous() - self.mean) / self.std  # contiguous: see images_to_tensor
        feats = self.trunk(self.stem(x))  # (B, C, H / 2**(k+1), W)
        tokens = self.proj(feats.flatten(1, 2).transpose(1, 2)) + self.pos  # (B, W, d_model)
        out = self.head(self.bridge(tokens)).flatten(1)[:, None]  # (B, 1, W * per_column), column-major in time
        return F.interpolate(out, size=self.n_out, mode="linear", align_corners=False)[:, 0]


def build_digitizer(settings: dict, n_out: int) -> nn.Module:
    """LeadImageDigitizer (``arch: source``, the default) or ColumnDigitizer (``arch: columns``) from a settings dict
    (image_size, d_model, n_heads, n_layers; column_channels for ``columns``)."""
    settings = {**ARCH_DEFAULTS, **settings}
    arch = settings["arch"]
    common = dict(image_size=tuple(settings["image_size"]), n_out=int(n_out), d_model=int(settings["d_model"]),
                  n_heads=int(settings["n_heads"]), n_layers=int(settings["n_layers"]))  # fmt: skip
    if arch == "source":
        return LeadImageDigitizer(**common)
    if arch == "columns":
        return ColumnDigitizer(**common, column_channels=tuple(settings["column_channels"]))
    raise ValueError(f"printout.learned.arch: unknown architecture {arch!r} (one of {', '.join(ARCHS)})")


def images_to_tensor(images) -> torch.Tensor:
    """A sequence of (H, W, 3) uint8 RGB images (or an (N, H, W, 3) array) -> (N, 3, H, W) float32 in [0, 1]."""
    arr = np.stack([np.asarray(im) for im in images]) if not isinstance(images, np.ndarray) else images
    # contiguous (N, 3, H, W): the permuted (channels-last) view crashed torch 2.13's CPU backward of a (2, 1)-stride
    # conv (a double free, reproduced 2026-12-07), so neither model is ever handed one
    return torch.from_numpy(np.ascontiguousarray(arr)).permute(0, 3, 1, 2).float().div_(255.0).contiguous()


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, images: torch.Tensor, targets: torch.Tensor) -> float:
    """One optimiser step on the mean squared error (mV^2) of ``model(images)`` against ``targets`` (B, n_out); returns the loss."""
    model.train()
    optimizer.zero_grad(set_to_none=True)
    loss = F.mse_loss(model(images), targets)
    loss.backward()
    optimizer.step()
    return float(loss.detach())


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, batch: int = 16) -> np.ndarray:
    """(N, n_out) float64 samples for (N, 3, H, W) images, in eval mode."""
    model.eval()
    return np.concatenate([model(images[i : i + batch]).double().numpy() for i in range(0, len(images), batch)])
