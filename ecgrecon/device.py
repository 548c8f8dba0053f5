"""Compute device and thread settings: `device: auto` -> CUDA when available, else CPU."""

from __future__ import annotations

import os
import random
import zlib

import numpy as np
import torch


def resolve_device(name: str = "auto") -> torch.device:
    """Map the config value (auto | cpu | cuda) to a torch device; cuda without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("config device: cuda, but torch sees no CUDA device (use auto or cpu)")
    if name not in ("cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, got {name!r}")
    return torch.device(name)


def set_threads(n: int) -> int:
    """Use ``n`` (>= 1) intra-op threads for torch; returns the number set."""
    n = max(1, int(n))
    torch.set_num_threads(n)
    return n


def seed_everything(seed: int, device: torch.device | None = None) -> None:
    """Seed python, numpy and torch; ask torch for deterministic kernels.

    On CPU every kernel used here is deterministic, so the same seed (and thread count) gives
    bitwise-identical results. On CUDA non-deterministic kernels only warn.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    on_cuda = device is not None and device.type == "cuda"
    if on_cuda:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(True, warn_only=on_cuda)


def derive_seed(seed: int, *parts) -> int:
    """A stable sub-seed for one purpose (e.g. ``derive_seed(42, "decoder", "official", "V1")``)."""
    return (int(seed) * 1_000_003 + zlib.crc32("/".join(map(str, parts)).encode())) % 2**63
