"""Where noise comes from: the MIT-BIH Noise Stress Test Database (NSTDB), or a synthetic generator.

NSTDB (Moody, Muldrow and Mark 1984; PhysioNet ``nstdb/1.0.0``) holds three 30-min, 360-Hz,
2-channel noise records: ``bw`` (baseline wander), ``ma`` (muscle artefact) and ``em`` (electrode
motion). Copies without ``em`` (as ``../shared/data/nstdb``) still hold ``118e00`` and ``118e24``:
MIT-BIH record 118 with the same em noise added at 0 and 24 dB in 2-minute blocks from minute 5 on
(5-7, 9-11, 13-15, ...). Their difference is em (times a constant) inside the blocks, and constant
(the noise generator's held last value) in the clean gaps between them; :func:`derive_em` checks the
gaps, takes the blocks and sets everything else to zero.

Every reader returns *pieces*: contiguous (2, n) arrays in mV at the source rate. A snippet of noise
is only ever cut from inside one piece (no joins of unrelated noise).

Without NSTDB, :func:`synthetic_noise` draws the same three kinds from simple physical models (a
machine's first offline run); the bank then records ``source: synthetic`` and every table says so.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ecgrecon.signal.filters import bandpass
from ecgrecon.tasks import NOISE_KINDS

KINDS = NOISE_KINDS
NSTDB_FS = 360.0
N_CHANNELS = 2
EM_PAIR = ("118e00", "118e24")
"""Records whose difference is em noise (same em segment, added at 0 and 24 dB to the same record)."""
EM_FIRST_BLOCK_S, EM_BLOCK_S, EM_GAP_S = 300.0, 120.0, 120.0


class NoiseError(ValueError):
    """Noise that cannot be used; the message is one line naming the file or key and the reason."""


def _read(base: Path, physical: bool = True):
    """One WFDB record (``base``: path without extension) through wfdb, errors as one line naming the file."""
    import wfdb

    hea = base.with_name(base.name + ".hea")
    if not hea.is_file():
        raise NoiseError(f"{hea}: no such noise record header")
    try:
        rec = wfdb.rdrecord(str(base), physical=physical)
    except Exception as e:  # noqa: BLE001 - wfdb raises many types for a bad file; one line names it
        raise NoiseError(f"{hea}: unreadable noise record ({type(e).__name__}: {e})") from None
    sig = rec.p_signal if physical else rec.d_signal
    if sig is None or sig.ndim != 2 or sig.shape[1] != N_CHANNELS:
        got = None if sig is None else (sig.shape[1] if sig.ndim == 2 else sig.ndim)
        raise NoiseError(f"{hea}: noise records have {N_CHANNELS} channels, this one has {got}")
    if abs(float(rec.fs) - NSTDB_FS) > 1e-6:
        raise NoiseError(f"{hea}: sampling rate {rec.fs} Hz, NSTDB records are {NSTDB_FS:g} Hz")
    if physical and not np.all(np.isfinite(sig)):
        raise NoiseError(f"{hea}: non-finite samples (NaN / missing) in a noise record")
    return rec, sig


def find_nstdb(folder) -> dict[str, str]:
    """Which kinds ``folder`` provides and how: ``{kind: "record" | "derived"}`` (``em`` derived from
    118e00 - 118e24 when ``em`` itself is absent). A folder without any of the three kinds is an error."""
    folder = Path(folder)
    if not folder.is_dir():
        raise NoiseError(f"{folder}: noise folder does not exist")
    have = {k: "record" for k in KINDS if (folder / f"{k}.hea").is_file()}
    if "em" not in have and all((folder / f"{r}.hea").is_file() for r in EM_PAIR):
        have["em"] = "derived"
    if not have:
        raise NoiseError(
            f"{folder}: holds none of the NSTDB noise records {', '.join(f'{k}.hea' for k in KINDS)} "
            f"(nor {' and '.join(EM_PAIR)} to derive em from)"
        )
    return dict(sorted(have.items()))


def em_blocks(n: int, fs: float) -> list[tuple[int, int]]:
    """Sample ranges [lo, hi) of the noisy blocks of a 118eNN record of ``n`` samples."""
    out, start = [], EM_FIRST_BLOCK_S
    while start * fs < n:
        lo, hi = int(round(start * fs)), min(n, int(round((start + EM_BLOCK_S) * fs)))
        out.append((lo, hi))
        start += EM_BLOCK_S + EM_GAP_S
    return out


def derive_em(folder) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """em noise from ``118e00 - 118e24`` (mV, (2, n) at 360 Hz): the difference inside the noisy blocks,
    zero outside; and the blocks. Raises :class:`NoiseError` when the difference is not constant in a
    clean gap (then the two records do not share one em segment, and the difference is not em)."""
    folder = Path(folder)
    (ra, da), (rb, db) = (_read(folder / r, physical=False) for r in EM_PAIR)
    if da.shape != db.shape or list(ra.adc_gain) != list(rb.adc_gain):
        raise NoiseError(f"{folder}: {EM_PAIR[0]} and {EM_PAIR[1]} differ in length or gain; em cannot be derived")
    diff = da.astype(np.int64) - db.astype(np.int64)
    blocks = em_blocks(len(diff), NSTDB_FS)
    inside = np.zeros(len(diff), bool)
    for lo, hi in blocks:
        inside[lo:hi] = True
    # the clean gaps: zero before the first block, constant (held) between blocks
    edges = np.flatnonzero(np.diff(np.r_[True, inside, True].astype(np.int8)))
    for lo, hi in zip(edges[::2], edges[1::2]):  # runs of False = gaps
        if inside[lo] or hi <= lo:
            continue
        gap = diff[lo:hi]
        if np.any(gap != gap[0]):
            raise NoiseError(
                f"{folder}: {EM_PAIR[0]} - {EM_PAIR[1]} varies outside the noisy blocks (samples {lo}-{hi}); em cannot be derived"
            )
    em = np.where(inside[:, None], diff, 0).astype(np.float64) / np.asarray(ra.adc_gain, float)
    return em.T, blocks


def read_nstdb(folder, kind: str, log=print) -> tuple[list[np.ndarray], str]:
    """Pieces (2, n) in mV at 360 Hz of noise ``kind`` from an NSTDB folder, and how it was obtained
    (``nstdb`` or ``nstdb-derived``). Each piece has its mean removed (the DC offset is not noise a filter
    could not remove)."""
    if kind not in KINDS:
        raise NoiseError(f"noise kind {kind!r} unknown (one of {', '.join(KINDS)})")
    folder = Path(folder)
    have = find_nstdb(folder)
    if kind not in have:
        raise NoiseError(f"{folder}: no {kind}.hea (NSTDB noise record {kind}); the folder has {', '.join(have)}")
    if have[kind] == "record":
        _, sig = _read(folder / kind)
        pieces = [sig.T.astype(np.float64)]
        how = "nstdb"
    else:
        em, blocks = derive_em(folder)
        pieces = [em[:, lo:hi] for lo, hi in blocks]
        how = "nstdb-derived"
        log(
            f"noise em: no {folder / 'em.hea'}; derived from {EM_PAIR[0]} - {EM_PAIR[1]} inside "
            f"{len(blocks)} noisy blocks ({sum(hi - lo for lo, hi in blocks) / NSTDB_FS / 60:.1f} min; zero outside)"
        )
    return [p - p.mean(axis=1, keepdims=True) for p in pieces], how


# ---- synthetic noise ------------------------------------------------------------------------------------
SYNTH_DURATION_S = 1800.0


def _bandlimited(rng, n: int, fs: float, lo: float, hi: float) -> np.ndarray:
    """Unit-variance Gaussian noise band-limited to [lo, hi] Hz, (2, n)."""
    white = rng.standard_normal((N_CHANNELS, n))
    x = bandpass(white, fs, lo, hi, order=4, axis=1)  # upper edge clipped to 0.9 x Nyquist
    return x / x.std(axis=1, keepdims=True)


def synthetic_noise(kind: str, seed: int, fs: float = 100.0, duration_s: float = SYNTH_DURATION_S) -> list[np.ndarray]:
    """One piece (2, n) in mV of synthetic noise ``kind`` at ``fs`` (RMS ~0.1-0.3 mV; scaled to the SNR anyway).

    - ``bw``: respiration (0.15-0.4 Hz, slowly modulated) plus a 0.05-0.7 Hz random drift;
    - ``ma``: 5-45 Hz Gaussian EMG with bursts (a slow envelope);
    - ``em``: electrode-motion transients (Poisson, ~0.7/s: damped 1-8 Hz oscillations and decaying
      steps) on a 0.5-10 Hz background.
    """
    if kind not in KINDS:
        raise NoiseError(f"noise kind {kind!r} unknown (one of {', '.join(KINDS)})")
    rng = np.random.default_rng([int(seed), KINDS.index(kind), 7331])
    n = int(round(duration_s * fs))
    t = np.arange(n) / fs
    if kind == "bw":
        f_resp = rng.uniform(0.15, 0.4, (N_CHANNELS, 1))
        mod = 1 + 0.3 * np.sin(2 * np.pi * rng.uniform(0.005, 0.02, (N_CHANNELS, 1)) * t + rng.uniform(0, 6.3, (N_CHANNELS, 1)))
        x = 0.2 * mod * np.sin(2 * np.pi * f_resp * t + rng.uniform(0, 6.3, (N_CHANNELS, 1)))
        x += 0.15 * _bandlimited(rng, n, fs, 0.05, 0.7)
    elif kind == "ma":
        env = 1 + 2.0 * np.maximum(np.sin(2 * np.pi * rng.uniform(0.03, 0.2, (N_CHANNELS, 1)) * t), 0) ** 4
        x = 0.05 * env * _bandlimited(rng, n, fs, 5.0, 45.0)
    else:
        x = 0.03 * _bandlimited(rng, n, fs, 0.5, 10.0)
        for ch in range(N_CHANNELS):
            for t0 in np.flatnonzero(rng.random(n) < 0.7 / fs):
                m = min(n - t0, int(2.0 * fs))
                tau = np.arange(m) / fs
                amp = rng.normal(0, 0.4)
                if rng.random() < 0.5:
                    x[ch, t0 : t0 + m] += amp * np.exp(-tau / rng.uniform(0.1, 0.5)) * np.sin(2 * np.pi * rng.uniform(1, 8) * tau)
                else:
                    x[ch, t0 : t0 + m] += amp * np.exp(-tau / rng.uniform(0.2, 0.8))
    return [x - x.mean(axis=1, keepdims=True)]
