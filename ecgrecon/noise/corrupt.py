"""Which noise each input gets, at which gain, and the corruption itself (vectorised, chunked).

Assignment (:func:`assign`): every record gets, per lead, an NSTDB channel and a start inside the
noise part of its split (train / val / test of the fold), drawn from a generator seeded by
(seed, task, record, kind, split) only: the same record gets the same noise in every run, whatever
else the run holds. A segment that starts ``s`` samples into its record takes the noise from
``start + s`` on, so the overlapping windows of one record see one continuous noise recording. Leads
draw their channel and start independently, so no two leads share identical noise.

Levels (:func:`ecgrecon.tasks.parse_level`): a target SNR per lead in dB (signal power of the clean lead over the
power of the added noise, per segment: met exactly) or the named preset ``bedin`` of Bedin et al.
2025 (noise peak-to-peak = a factor x the clean lead's peak-to-peak per segment: 2 for bw, 1 for em;
1 for ma, which they do not use).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from ecgrecon.noise.bank import SPLITS, NoiseBank
from ecgrecon.noise.sources import KINDS, NoiseError
from ecgrecon.tasks import BEDIN

BEDIN_PTP = {"bw": 2.0, "em": 1.0, "ma": 1.0}
"""Noise ptp / clean-lead ptp of the ``bedin`` preset, per kind."""
EPS = 1e-12


def level_label(level) -> str:
    """Table label of a level: ``12 dB``, ``-6 dB``, ``bedin``."""
    return BEDIN if level == BEDIN else f"{level:g} dB"


def task_code(task: str) -> int:
    return zlib.crc32(task.encode())


@dataclass
class Assignment:
    """Per segment and lead: the NSTDB channel and the first noise sample in the split's part."""

    kind: str
    split: str
    channel: np.ndarray  # (n, L) int8
    offset: np.ndarray  # (n, L) int64
    level_idx: np.ndarray  # (n, L) int16: index into the task's levels (training augmentation draws one per record, lead)


def assign(
    bank: NoiseBank,
    kind: str,
    split: str,
    ecg_ids,
    starts,
    *,
    n_leads: int,
    window: int,
    record_len: int,
    seed: int,
    task: str,
    n_levels: int = 1,
) -> Assignment:
    """Channel and noise start for every segment (``ecg_ids``, ``starts``: its record and first sample in it)."""
    if kind not in KINDS or split not in SPLITS:
        raise NoiseError(f"noise assignment: unknown kind {kind!r} or split {split!r}")
    ecg_ids, starts = np.asarray(ecg_ids, np.int64), np.asarray(starts, np.int64)
    if len(starts) and (starts.min() < 0 or (starts + window).max() > record_len):
        raise NoiseError(f"noise assignment: segment starts outside a record of {record_len} samples")
    valid = bank.valid_starts(kind, split, record_len)
    uniq, inv = np.unique(ecg_ids, return_inverse=True)
    ch = np.empty((len(uniq), n_leads), np.int8)
    off = np.empty((len(uniq), n_leads), np.int64)
    lev = np.empty((len(uniq), n_leads), np.int16)
    code, k, s = task_code(task), KINDS.index(kind), SPLITS.index(split)
    for i, rec in enumerate(uniq):
        rng = np.random.default_rng([int(seed), code, int(rec), k, s])
        ch[i] = rng.integers(0, 2, n_leads)
        off[i] = valid[rng.integers(0, len(valid), n_leads)]
        lev[i] = rng.integers(0, max(1, n_levels), n_leads)
    return Assignment(kind, split, ch[inv], off[inv] + starts[:, None], lev[inv])


def snippets(bank: NoiseBank, a: Assignment, window: int, rows=slice(None)) -> np.ndarray:
    """Noise (n, L, window) float32 of the assignment's ``rows``."""
    part = bank.part(a.kind, a.split)
    idx = a.offset[rows, :, None] + np.arange(window)
    return part[a.channel[rows, :, None].astype(np.intp), idx]


def gains(clean: np.ndarray, noise: np.ndarray, level, kind: str) -> np.ndarray:
    """Per segment and lead (n, L): the factor on ``noise`` that meets ``level`` against ``clean``."""
    if level == BEDIN:
        ptp_n = np.ptp(noise, axis=-1)
        return BEDIN_PTP[kind] * np.ptp(clean, axis=-1) / np.maximum(ptp_n, EPS)
    ps = np.mean(np.square(clean, dtype=np.float64), axis=-1)
    pn = np.mean(np.square(noise, dtype=np.float64), axis=-1)
    return np.sqrt(ps / np.maximum(pn, EPS) / 10.0 ** (float(level) / 10.0))


def corrupt(
    clean: np.ndarray, bank: NoiseBank, a: Assignment, levels, *, chunk: int = 1024, per_row_level: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """``clean`` (n, L, T) + assigned noise at ``levels`` -> (noisy (n, L, T) float32, gains (n, L)).

    ``levels``: one level for every row, or (``per_row_level``) the task's list, indexed per segment and
    lead by ``a.level_idx`` (training augmentation over the task's levels)."""
    n, L, T = clean.shape
    if a.channel.shape != (n, L):
        raise NoiseError(f"noise assignment for {a.channel.shape} segments x leads, signals have {(n, L)}")
    out = np.empty(clean.shape, np.float32)
    g_all = np.empty((n, L), np.float64)
    for lo in range(0, n, chunk):
        rows = slice(lo, min(n, lo + chunk))
        x, nz = clean[rows], snippets(bank, a, T, rows)
        if per_row_level:
            g = np.empty(x.shape[:2])
            li = a.level_idx[rows]
            for j, level in enumerate(levels):
                m = li == j
                if m.any():
                    g[m] = gains(x[m], nz[m], level, a.kind)
        else:
            g = gains(x, nz, levels, a.kind)
        out[rows] = x + (g[..., None] * nz).astype(np.float32)
        g_all[rows] = g
    return out, g_all


def snr_db(clean: np.ndarray, other: np.ndarray, axis=-1) -> np.ndarray:
    """10 log10(sum clean^2 / sum (other - clean)^2) along ``axis`` (the SNR of ``other`` w.r.t. ``clean``)."""
    num = np.sum(np.square(clean, dtype=np.float64), axis=axis)
    den = np.sum(np.square(np.asarray(other, np.float64) - clean), axis=axis)
    return 10.0 * np.log10(np.maximum(num, EPS) / np.maximum(den, EPS))
