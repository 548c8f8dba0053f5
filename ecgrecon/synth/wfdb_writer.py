"""Write 12-lead WFDB records (format 16, PTB-XL header conventions) with numpy.

Header lines look like PTB-XL's: ``00001_lr.dat 16 1000.0(0)/mV 16 0 <first> <checksum> 0 I``;
the checksum is the sum of the channel's samples modulo 65536, as WFDB defines it.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ecgrecon import LEADS12
from ecgrecon.io.atomic import atomic_path

GAIN = 1000.0  # adu per mV


def header_text(record_name: str, adu: np.ndarray, fs: int) -> str:
    """The ``.hea`` text for int16 samples ``adu`` (n_samples, 12)."""
    n = adu.shape[0]
    first = adu[0].astype(np.int64)
    checksum = adu.astype(np.int64).sum(axis=0) % 65536
    lines = [f"{record_name} {len(LEADS12)} {fs} {n}"]
    for k, lead in enumerate(LEADS12):
        lines.append(f"{record_name}.dat 16 {GAIN:.1f}(0)/mV 16 0 {first[k]} {checksum[k]} 0 {lead}")
    return "\n".join(lines) + "\n"


def write_record(base: str | os.PathLike, adu: np.ndarray, fs: int) -> None:
    """Write ``base.hea`` and ``base.dat`` (interleaved little-endian int16), each atomically."""
    base = Path(base)
    if adu.dtype != np.int16 or adu.ndim != 2 or adu.shape[1] != len(LEADS12):
        raise ValueError(f"{base}: expected int16 samples of shape (n, 12), got {adu.dtype} {adu.shape}")
    base.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(base.with_suffix(".dat")) as tmp:
        tmp.write_bytes(np.ascontiguousarray(adu, dtype="<i2").tobytes())
    with atomic_path(base.with_suffix(".hea")) as tmp:
        tmp.write_text(header_text(base.name, adu, fs))
