"""Compute device, precision and thread settings: `device: auto` -> CUDA when available, else CPU;
`precision: auto` -> bfloat16 autocast where the device multiplies bfloat16 in hardware, else float32."""

from __future__ import annotations

import contextlib
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


PRECISIONS = ("auto", "fp32", "bf16")


def bf16_native(dev: torch.device) -> bool:
    """Whether ``dev`` runs bfloat16 matrix products in hardware: a CUDA GPU with bf16, or a CPU whose
    oneDNN reports bf16 support (AVX-512 BF16 / AMX); elsewhere bf16 is emulated and slower than fp32."""
    if dev.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch build without the probe: assume no native bf16
        return False


def resolve_precision(name: str, dev: torch.device) -> str:
    """Map the config value (auto | fp32 | bf16) to ``fp32`` or ``bf16`` for ``dev``."""
    if name not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {name!r}")
    if name == "auto":
        return "bf16" if bf16_native(dev) else "fp32"
    return name


def autocast(precision: str, dev: torch.device):
    """Context for forward passes: ``bf16`` = torch autocast to bfloat16 (matrix products and convolutions
    in bf16; weights, optimiser state and gradients stay float32); ``fp32`` = no change."""
    if precision == "bf16":
        return torch.autocast(dev.type, dtype=torch.bfloat16)
    if precision != "fp32":
        raise ValueError(f"resolved precision must be fp32 or bf16, got {precision!r}")
    return contextlib.nullcontext()


def inference_batch(dev: torch.device) -> int:
    """Segments per forward pass when predicting: 128 on CPU (the activations stay in cache: about twice as
    fast per segment as batches of 1,024 for the decoders, measured by bench/bench_models.py), 1,024 on CUDA."""
    return 1024 if dev.type == "cuda" else 128


def set_threads(n: int) -> int:
    """Use ``n`` (>= 1) intra-op threads for torch; returns the number set."""
    n = max(1, int(n))
    torch.set_num_threads(n)
    return n


@contextlib.contextmanager
def intra_op_threads(n: int):
    """Run the block on ``n`` torch intra-op threads, then restore the caller's count."""
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, int(n)))
    try:
        yield
    finally:
        torch.set_num_threads(before)


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
