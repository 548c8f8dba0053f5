"""Recording noise at the electrodes, and deliberately corrupted records.

Noise is generated per electrode (RA, LA, LL, C1..C6) and mapped to leads exactly as the
potentials are (I = LA - RA, II = LL - RA, Vk = Ck - Wilson's central terminal), so an
artefact at one electrode appears in every lead that uses it, and the limb-lead relations
keep holding in the recorded signals. Components: baseline wander (respiration and slow
drifts), 50 Hz powerline, EMG-like broadband noise with bursts of muscle activity, and
electrode-motion transients. Levels vary from record to record (log-normal).
"""

from __future__ import annotations

import numpy as np

ELECTRODES = ("RA", "LA", "LL", "C1", "C2", "C3", "C4", "C5", "C6")
BAD_KINDS = ("flat", "saturated", "artefact")
ADC_MAX = 32767  # int16 rail (WFDB format 16 reserves -32768 for "no sample")


def electrodes_to_leads(e: np.ndarray) -> np.ndarray:
    """Electrode potentials (n, 9: RA, LA, LL, C1..C6) -> leads I, II, V1..V6 (n, 8)."""
    out = np.empty((len(e), 8))
    out[:, 0] = e[:, 1] - e[:, 0]
    out[:, 1] = e[:, 2] - e[:, 0]
    out[:, 2:] = e[:, 3:] - ((e[:, 0] + e[:, 1] + e[:, 2]) / 3)[:, None]
    return out


def draw_levels(rng: np.random.Generator) -> dict:
    """Per-record noise levels (mV): log-normal, so a minority of records is noisy."""
    return {
        "emg_rms": float(np.clip(np.exp(rng.normal(np.log(0.025), 0.7)), 0.004, 0.2)),
        "bw_amp": float(np.clip(np.exp(rng.normal(np.log(0.08), 0.7)), 0.01, 1.0)),
        "powerline": float(np.clip(np.exp(rng.normal(np.log(0.008), 1.0)), 0.0, 0.1)),
        "motion_rate": float(np.exp(rng.normal(np.log(0.15), 0.8))),
    }


def electrode_noise(rng: np.random.Generator, t: np.ndarray, lv: dict, fs: float) -> tuple[np.ndarray, list]:
    """Noise (n, 9) at the electrodes for times ``t`` (s), and the motion bursts' electrodes."""
    n = len(t)
    # baseline wander (respiration + slow drifts, mixed into every electrode with its own
    # weights) and powerline (a common 50 Hz phase, electrode-specific amplitude): one product
    freqs = np.array([rng.uniform(0.12, 0.4), rng.uniform(0.03, 0.12), rng.uniform(0.4, 0.8), 50.0])
    phases = rng.uniform(0, 2 * np.pi, 4)
    weights = np.empty((4, 9))
    weights[:3] = rng.normal(0, 1, (3, 9)) * np.array([[1.0], [0.8], [0.3]]) * (lv["bw_amp"] / 1.5)
    weights[3] = lv["powerline"] * rng.uniform(0, 1, 9)
    exact_t = t[0] + np.arange(n) / fs
    noise = np.sin(2 * np.pi * freqs[:, None] * exact_t[None, :] + phases[:, None]).T @ weights
    # EMG: white broadband noise (uniform samples, unit variance; Gaussian after any filter),
    # amplitude-modulated by bursts of muscle activity
    env = 1 + 2.0 * np.maximum(np.sin(2 * np.pi * rng.uniform(0.05, 0.3) * t + rng.uniform(0, 6.3)), 0) ** 4
    emg = rng.random((n, 9))
    emg -= 0.5
    emg *= (lv["emg_rms"] * np.sqrt(12.0)) * env[:, None]
    noise += emg
    # electrode motion: damped low-frequency transients at one electrode
    touched = []
    for _ in range(rng.poisson(lv["motion_rate"])):
        e = int(rng.integers(9))
        noise[:, e] += _transient(rng, t, np.exp(rng.normal(np.log(0.4), 0.6)))
        touched.append(ELECTRODES[e])
    return noise, touched


def _transient(rng: np.random.Generator, t: np.ndarray, amplitude: float) -> np.ndarray:
    """A step-like electrode-motion artefact: a jump that relaxes back, with ringing."""
    t0 = rng.uniform(t[0], t[-1])
    tau = rng.uniform(0.2, 1.0)
    dt = t - t0
    on = dt > 0
    shape = np.zeros_like(t)
    shape[on] = np.exp(-dt[on] / tau) * np.cos(2 * np.pi * rng.uniform(0.5, 3.0) * dt[on])
    return amplitude * shape


def corrupt(leads: np.ndarray, kind: str, rng: np.random.Generator, fs: float) -> tuple[np.ndarray, int]:
    """Make a recorded 12-lead record (float mV, (n, 12)) bad; returns it and the lead index hit."""
    out = leads.copy()
    lead = int(rng.integers(12))
    n = len(out)
    if kind == "flat":  # a disconnected channel: a constant line
        out[:, lead] = 0.0
    elif kind == "saturated":  # amplifier driven into both rails
        t = np.arange(n) / fs
        drive = out[:, lead] * 40 + 45.0 * np.sin(2 * np.pi * rng.uniform(0.2, 0.6) * t)
        out[:, lead] = np.clip(drive, -ADC_MAX / 1000, ADC_MAX / 1000)
    elif kind == "artefact":  # a huge movement artefact over a few seconds
        t = np.arange(n) / fs
        centre, width = rng.uniform(2, 8), rng.uniform(0.5, 1.5)
        burst = rng.uniform(10, 25) * np.exp(-0.5 * ((t - centre) / width) ** 2)
        out[:, lead] += burst * np.sin(2 * np.pi * rng.uniform(1, 4) * t)
    else:
        raise ValueError(f"unknown bad-record kind {kind!r}; expected one of {BAD_KINDS}")
    return out, lead


def quantise(mv: np.ndarray) -> np.ndarray:
    """mV -> int16 ADC units at 1000 adu/mV, clipped to the non-reserved range."""
    return np.clip(np.rint(mv * 1000.0), -ADC_MAX, ADC_MAX).astype(np.int16)
