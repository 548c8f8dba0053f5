"""The noise bank: every kind resampled to the task rate and split in time into train / val / test parts.

results/noise/bank.h5 holds, per kind, ``{kind}/{split}/data`` (2, n) float32 in mV and
``{kind}/{split}/bounds`` (the piece boundaries inside ``data``: a snippet never crosses one), with
attributes ``source`` (``nstdb``, ``nstdb-derived`` or ``synthetic``), ``fs`` and the split fractions.
The split is in time: the first ``split[0]`` of a kind's noise (in recording order) is for training,
the next ``split[1]`` for validation, the last ``split[2]`` for the test split, so no noise sample that
corrupts a training input ever corrupts a test input.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from ecgrecon.io.atomic import atomic_path
from ecgrecon.noise.sources import KINDS, NSTDB_FS, NoiseError, read_nstdb, synthetic_noise
from ecgrecon.signal.filters import resample

SPLITS = ("train", "val", "test")


def check_split(split) -> tuple[float, float, float]:
    """The train / val / test fractions of ``noise.split``: three positive numbers summing to 1."""
    try:
        fr = tuple(float(v) for v in split)
    except (TypeError, ValueError):
        raise NoiseError(f"noise.split: {split!r} is not three numbers") from None
    if len(fr) != 3 or min(fr) <= 0 or abs(sum(fr) - 1) > 1e-6:
        raise NoiseError(f"noise.split: {list(split)} must be three positive fractions summing to 1")
    return fr


def split_in_time(pieces: list[np.ndarray], fractions) -> dict[str, list[np.ndarray]]:
    """Cut the pieces (in recording order) at the cumulative fractions of their total length."""
    total = sum(p.shape[1] for p in pieces)
    cuts = np.round(np.cumsum([0, *fractions]) * total).astype(np.int64)
    out = {s: [] for s in SPLITS}
    pos = 0
    for p in pieces:
        lo_p, hi_p = pos, pos + p.shape[1]
        for s, lo, hi in zip(SPLITS, cuts[:-1], cuts[1:]):
            a, b = max(lo, lo_p), min(hi, hi_p)
            if b > a:
                out[s].append(p[:, a - pos : b - pos])
        pos = hi_p
    return out


@dataclass
class NoiseBank:
    """The bank in memory: ``data[kind][split]`` (2, n) float32 and ``bounds[kind][split]`` piece boundaries."""

    fs: float
    sources: dict
    data: dict = field(default_factory=dict)
    bounds: dict = field(default_factory=dict)

    def kinds(self) -> list[str]:
        return list(self.data)

    def part(self, kind: str, split: str) -> np.ndarray:
        if kind not in self.data:
            raise NoiseError(f"noise bank has no kind {kind!r} (has {', '.join(self.data)})")
        return self.data[kind][split]

    def valid_starts(self, kind: str, split: str, length: int) -> np.ndarray:
        """Every start s of a snippet [s, s + length) that lies inside one piece of the part."""
        b = self.bounds[kind][split]
        starts = [np.arange(lo, hi - length + 1) for lo, hi in zip(b[:-1], b[1:]) if hi - lo >= length]
        if not starts:
            longest = int(np.diff(b).max(initial=0))
            raise NoiseError(f"noise {kind}/{split}: no piece holds {length} samples (longest {longest}); use a larger noise.split part")
        return np.concatenate(starts)


def build_bank(out_h5, *, kinds, fs: float, split, source: str, folder=None, seed: int = 0, log=print) -> dict:
    """Write bank.h5 for ``kinds`` from the NSTDB ``folder`` (``source`` nstdb) or the synthetic generator
    (``source`` synthetic); returns a summary per kind (source, seconds per split)."""
    fractions = check_split(split)
    bank = {}
    for kind in kinds:
        if kind not in KINDS:
            raise NoiseError(f"noise kind {kind!r} unknown (one of {', '.join(KINDS)})")
        if source == "synthetic":
            pieces, how = synthetic_noise(kind, seed, fs), "synthetic"
        elif source == "nstdb":
            raw, how = read_nstdb(folder, kind, log=log)
            pieces = [resample(p, NSTDB_FS, fs).astype(np.float64) for p in raw]
        else:
            raise NoiseError(f"noise.source: {source!r} (nstdb or synthetic once resolved)")
        bank[kind] = (split_in_time(pieces, fractions), how)
    summary = {}
    with atomic_path(out_h5) as tmp, h5py.File(tmp, "w") as f:
        f.attrs.update({"fs": float(fs), "split": list(fractions), "splits": list(SPLITS)})
        for kind, (parts, how) in bank.items():
            g = f.create_group(kind)
            g.attrs["source"] = how
            summary[kind] = {"source": how}
            for s in SPLITS:
                data = np.concatenate(parts[s], axis=1) if parts[s] else np.zeros((2, 0))
                bounds = np.cumsum([0, *[p.shape[1] for p in parts[s]]])
                g.create_dataset(f"{s}/data", data=data.astype(np.float32))
                g.create_dataset(f"{s}/bounds", data=bounds.astype(np.int64))
                summary[kind][f"{s}_s"] = round(data.shape[1] / fs, 1)
            log(
                f"noise {kind} ({how}): train {summary[kind]['train_s']} s, val {summary[kind]['val_s']} s, "
                f"test {summary[kind]['test_s']} s at {fs:g} Hz (split in time {list(fractions)})"
            )
    return summary


def read_bank(path) -> NoiseBank:
    path = Path(path)
    try:
        with h5py.File(path, "r") as f:
            bank = NoiseBank(fs=float(f.attrs["fs"]), sources={k: str(f[k].attrs["source"]) for k in f})
            for kind in f:
                bank.data[kind] = {s: f[f"{kind}/{s}/data"][...] for s in SPLITS}
                bank.bounds[kind] = {s: f[f"{kind}/{s}/bounds"][...] for s in SPLITS}
    except (OSError, KeyError) as e:
        raise NoiseError(f"{path}: not a noise bank ({e}); rerun rule noise_bank") from None
    return bank
