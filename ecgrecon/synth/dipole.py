"""Cardiac source: a 3-D dipole (Frank X, Y, Z) plus two non-dipolar local channels.

Each beat is a sum of Gaussian wavelets in time (P: right/left atrium, QRS: septal, left,
posterior and terminal forces, so the QRS vector loops; ST; T: two asymmetric halves), each
with a 5-vector amplitude (X, Y, Z, local A, local B).
Wavelets are anchored to the P onset, the QRS onset or the T end of their beat, so the PR
interval, QRS duration and rate-dependent QT (Fridericia) shape every beat. Beat times come
from a heart-rate-variability process (respiratory sinus arrhythmia + Mayer waves + jitter),
or from an irregular process in atrial fibrillation.
"""

from __future__ import annotations

import numpy as np

P_ONSET, QRS_ONSET, T_END = 0, 1, 2


def unit(v) -> np.ndarray:
    """``v`` scaled to unit length."""
    v = np.asarray(v, dtype=float)
    return v / np.linalg.norm(v)


def draw_physiology(rng: np.random.Generator, age: float, sex: int) -> dict:
    """Patient-level intervals (s), rate (bpm), amplitudes (mV) and wave directions."""
    return {
        "hr": float(np.clip(rng.normal(70 + 0.06 * (50 - age), 13), 45, 125)),
        "pr": float(np.clip(rng.normal(0.150 + 0.0004 * (age - 50), 0.018), 0.118, 0.200)),
        "p_dur": float(np.clip(rng.normal(0.100, 0.011), 0.080, 0.118)),
        "qrs": float(np.clip(rng.normal(0.090 - 0.004 * sex, 0.008), 0.072, 0.108)),
        "qtc": float(np.clip(rng.normal(0.400 + 0.010 * sex, 0.016), 0.360, 0.445)),
        "qrs_mag": float(np.exp(rng.normal(np.log(1.5), 0.15)) * (1 - 0.004 * (age - 50))),
        "t_mag": float(np.exp(rng.normal(np.log(0.42), 0.25))),
        "p_mag": float(np.exp(rng.normal(0.0, 0.22))),
        "septal": float(rng.uniform(0.5, 1.3)),
        "terminal": float(rng.uniform(0.5, 1.3)),
        "main_dir": unit(np.array([1.0, 0.4, -0.05]) + rng.normal(0, 0.15, 3)),
        "post_dir": unit(np.array([0.15, 0.2, 1.0]) + rng.normal(0, 0.15, 3)),
        "post": float(rng.uniform(0.7, 1.2)),
        "t_dir": unit(np.array([0.75, 0.55, -0.35]) + rng.normal(0, 0.15, 3)),
        "local_sign": rng.choice([-1.0, 1.0], 2),
        "local_delay": rng.uniform(0.3, 0.75, 2),
        "resp_hz": float(rng.uniform(0.15, 0.4)),
        "rsa": float(rng.uniform(0.01, 0.05)),
        "mayer": float(rng.uniform(0.005, 0.03)),
    }


def morphology(ph: dict) -> dict[str, list]:
    """Wavelets of a normal beat: name -> [anchor, offset s, sigma s, ax, ay, az, a_local_a, a_local_b]."""
    d, pd, m = ph["qrs"], ph["p_dur"], ph["qrs_mag"]
    qt0 = ph["qtc"] * (60.0 / ph["hr"]) ** (1 / 3)
    ts = qt0 / 0.40
    pm = 0.13 * ph["p_mag"]
    comp = {
        "p_ra": [P_ONSET, 0.36 * pd, 0.16 * pd, *(pm * unit([0.15, 1.0, -0.45])), 0.0, 0.0],
        "p_la": [P_ONSET, 0.64 * pd, 0.16 * pd, *(pm * 0.8 * unit([1.0, 0.6, 0.5])), 0.0, 0.0],
        "q_septal": [QRS_ONSET, 0.15 * d, 0.07 * d, *(0.24 * m * ph["septal"] * unit([-0.45, 0.2, -0.85])), 0.0, 0.0],
        "r_main": [QRS_ONSET, 0.40 * d, 0.11 * d, *(m * ph["main_dir"]), 0.0, 0.0],
        "r_post": [QRS_ONSET, 0.57 * d, 0.11 * d, *(m * ph["post"] * ph["post_dir"]), 0.0, 0.0],
        "s_term": [QRS_ONSET, 0.76 * d, 0.09 * d, *(0.32 * m * ph["terminal"] * unit([-0.5, -0.55, 0.65])), 0.0, 0.0],
        "st": [QRS_ONSET, d + 0.09, 0.06, 0.0, 0.0, 0.0, 0.0, 0.0],
        "t_up": [T_END, -0.13 * ts, 0.05 * ts, *(0.65 * ph["t_mag"] * ph["t_dir"]), 0.0, 0.0],
        "t_down": [T_END, -0.075 * ts, 0.032 * ts, *(0.55 * ph["t_mag"] * ph["t_dir"]), 0.0, 0.0],
        "local_a_qrs": [QRS_ONSET, ph["local_delay"][0] * d, 0.14 * d, 0.0, 0.0, 0.0, ph["local_sign"][0], 0.0],
        "local_a_t": [T_END, -0.1 * ts, 0.05 * ts, 0.0, 0.0, 0.0, -0.4 * ph["local_sign"][0], 0.0],
        "local_b_qrs": [QRS_ONSET, ph["local_delay"][1] * d, 0.12 * d, 0.0, 0.0, 0.0, 0.0, ph["local_sign"][1]],
        "local_b_t": [T_END, -0.12 * ts, 0.05 * ts, 0.0, 0.0, 0.0, 0.0, 0.4 * ph["local_sign"][1]],
    }
    return comp


def beat_onsets(rng: np.random.Generator, hr: float, afib: bool, ph: dict, start: float, stop: float, rr_cv: float = 0.2) -> np.ndarray:
    """QRS onset times (s) covering [start, stop]: sinus HRV or irregular AF intervals."""
    rr0 = 60.0 / hr
    n = int(np.ceil((stop - start) / (rr0 * 0.6))) + 3
    if afib:
        rr = rr0 * np.exp(rng.normal(-0.5 * rr_cv**2, rr_cv, n))
        rr = np.maximum(rr, 0.28)
    else:
        t_approx = start + rr0 * np.arange(n)
        rr = rr0 * (
            1
            + ph["rsa"] * np.sin(2 * np.pi * ph["resp_hz"] * t_approx + rng.uniform(0, 2 * np.pi))
            + ph["mayer"] * np.sin(2 * np.pi * 0.1 * t_approx + rng.uniform(0, 2 * np.pi))
            + rng.normal(0, 0.008, n)
        )
    onsets = start - rng.uniform(0, rr0) + np.concatenate([[0.0], np.cumsum(rr[:-1])])
    return onsets[onsets < stop]


def render(
    comp: dict, onsets: np.ndarray, pr: float, qtc: float, p_present: bool, amp_jitter: np.ndarray, fs: float, t0: float, n: int
) -> np.ndarray:
    """Source signals (n, 5) = X, Y, Z, local A, local B on the grid t0 + k/fs.

    Each wavelet is evaluated only within +-5 sigma of its centre, for all beats and wavelets
    at once (ragged segments), and accumulated with one ``bincount``; the 5-channel source is
    then one small matrix product.
    """
    table = np.array(list(comp.values()), dtype=float)
    anchor, offset, sigma, amps = table[:, 0].astype(int), table[:, 1], table[:, 2], table[:, 3:]
    if not p_present:
        amps = np.where((anchor == P_ONSET)[:, None], 0.0, amps)
    rr_prev = np.diff(onsets, prepend=onsets[0] - (onsets[1] - onsets[0] if len(onsets) > 1 else 1.0))
    qt = qtc * np.clip(rr_prev, 0.3, 2.0) ** (1 / 3)
    anchors = np.stack([onsets - pr, onsets, onsets + qt], axis=1)  # (beats, 3)
    used = np.flatnonzero(np.abs(amps).sum(axis=1) > 0)
    half = np.ceil(5 * sigma[used] * fs).astype(int)  # per wavelet
    mu = anchors[:, anchor[used]] + offset[used]  # (beats, wavelets)
    # one ragged segment per (beat, wavelet): sample indices around the wavelet's centre
    seg_len = np.broadcast_to(2 * half + 1, mu.shape).ravel()
    seg_first = (np.rint((mu - t0) * fs).astype(int) - half).ravel()
    seg_id = np.repeat(np.arange(seg_len.size), seg_len)
    idx = seg_first[seg_id] + (np.arange(seg_id.size) - np.repeat(np.cumsum(seg_len) - seg_len, seg_len))
    z = ((idx / fs + t0) - mu.ravel()[seg_id]) / np.broadcast_to(sigma[used], mu.shape).ravel()[seg_id]
    val = np.exp(-0.5 * z * z) * np.repeat(amp_jitter, len(used))[seg_id]
    row = np.broadcast_to(np.arange(len(used)), mu.shape).ravel()[seg_id]
    ok = (idx >= 0) & (idx < n)
    shapes = np.bincount(row[ok] * n + idx[ok], weights=val[ok], minlength=len(used) * n).reshape(len(used), n)
    return shapes.T @ amps[used]


def fibrillatory_waves(rng: np.random.Generator, t: np.ndarray, amplitude: float) -> np.ndarray:
    """Atrial fibrillatory activity (n, 3): 4-9 Hz waves with drifting amplitude and rate."""
    direction = unit(np.array([-0.3, 0.5, -0.8]) + rng.normal(0, 0.2, 3))
    f = np.zeros_like(t)
    for _ in range(3):
        freq = rng.uniform(4.0, 9.0)
        drift = rng.uniform(0.05, 0.3) * np.sin(2 * np.pi * rng.uniform(0.05, 0.2) * t + rng.uniform(0, 6.3))
        env = 1 + 0.5 * np.sin(2 * np.pi * rng.uniform(0.1, 0.5) * t + rng.uniform(0, 6.3))
        f += env * np.sin(2 * np.pi * freq * t + drift * 2 * np.pi + rng.uniform(0, 6.3))
    return (amplitude / 3) * f[:, None] * direction[None, :]
