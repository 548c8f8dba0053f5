"""Simulate one patient's records: source -> lead field -> electrode noise -> 500 Hz / 100 Hz.

Randomness: a patient's anatomy, physiology and pathology parameters come from
``SeedSequence(seed, spawn_key=(1, patient_index))``; each record's rate, beats, noise and
corruption from ``SeedSequence(seed, spawn_key=(2, ecg_id))``. Output therefore depends only
on the seed and the cohort plan, never on how records are split across worker processes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.signal import firwin

from ecgrecon import LEADS12
from ecgrecon.synth import dipole, noise, pathology
from ecgrecon.synth.leadfield import Anatomy, LeadFieldModel, draw_anatomy, expand_limb

FS_SOURCE = 500
FS_LOW = 100
DURATION_S = 10.0
MARGIN_S = 0.4  # simulated on both sides, cropped after decimation
N_SOURCE = int(round((DURATION_S + 2 * MARGIN_S) * FS_SOURCE))
CROP = int(round(MARGIN_S * FS_SOURCE))
ANTI_ALIAS = firwin(201, 42.0, fs=FS_SOURCE, window=("kaiser", 6.0))
"""Decimation filter 500 -> 100 Hz: linear-phase FIR, -6 dB at 42 Hz, >= 70 dB down at 48-50 Hz."""


def patient_rng(seed: int, patient_index: int) -> np.random.Generator:
    """The generator of one patient's anatomy, physiology and pathology."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1, int(patient_index))))


def record_rng(seed: int, ecg_id: int) -> np.random.Generator:
    """The generator of one record's rhythm, noise and corruption."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(2, int(ecg_id))))


@dataclass
class PatientModel:
    """Everything shared by a patient's records."""

    anatomy: Anatomy
    physiology: dict
    effects: dict


def patient_model(
    seed: int, patient_index: int, age: float, sex: int, bmi: float, codes: dict[str, float], leadfield: LeadFieldModel | None = None
) -> PatientModel:
    """Draw a patient's anatomy (from the lead-field model ``leadfield``, default Dower's),
    physiology and pathology effects (order and number of draws are fixed)."""
    rng = patient_rng(seed, patient_index)
    lvh = codes.get("LVH", 0.0) >= 80
    anatomy = draw_anatomy(rng, age, sex, bmi, lvh, leadfield)
    physiology = dipole.draw_physiology(rng, age, sex)
    effects = pathology.draw_effects(rng, codes)
    return PatientModel(anatomy, physiology, effects)


@dataclass
class RecordSim:
    """A simulated record: recorded 12-lead signals (mV) and its ground truth."""

    lr: np.ndarray  # (1000, 12) at 100 Hz, recorded (noise, corruption)
    hr: np.ndarray | None  # (5000, 12) at 500 Hz, or None
    truth: dict
    clean_lr: np.ndarray | None = None  # (1000, 12) noise-free, decimated like lr
    clean_hr: np.ndarray | None = None  # (5000, 12) noise-free source-rate signals


def _qrs_axis_deg(comp: dict, field12: np.ndarray) -> float:
    """Frontal QRS axis from the net QRS areas of leads I and aVF."""
    area = np.zeros(3)
    for name, c in comp.items():
        if c[0] == dipole.QRS_ONSET and name != "st" and not name.startswith("local"):
            area += np.asarray(c[3:6]) * c[2]
    lead_i, avf = field12[0] @ area, field12[5] @ area
    return float(np.degrees(np.arctan2(avf, lead_i)))


@dataclass
class RecordParts:
    """The lead-field-independent parts of one record, at the source rate with margins."""

    ph: dict
    comp: dict
    onsets: np.ndarray
    src: np.ndarray  # (N_SOURCE, 5) X, Y, Z, local A, local B (mV)
    breath: np.ndarray  # (N_SOURCE,) breathing phase signal in [-1, 1]
    depth: np.ndarray  # (8,) per-lead gain change with breathing
    levels: dict
    enoise: np.ndarray  # electrode noise (N_SOURCE, electrodes)
    touched: list
    f_amp: float


def record_parts(seed: int, model: PatientModel, ecg_id: int, afib: bool) -> RecordParts:
    """Draw a record's rhythm, source, breathing and electrode noise (the fixed order of
    :func:`simulate_record`; nothing here depends on the patient's lead field)."""
    rng = record_rng(seed, ecg_id)
    ph = dict(model.physiology)
    if afib:
        ph["hr"] = float(np.clip(rng.normal(92, 18), 55, 150))
        rr_cv = float(rng.uniform(0.12, 0.28))
    else:
        ph["hr"] = float(np.clip(ph["hr"] + rng.normal(0, 4), 42, 135))
        rr_cv = 0.0
    ph = pathology.apply_timing(ph, model.effects)
    comp = pathology.apply_morphology(dipole.morphology(ph), ph, model.effects)

    t0 = -MARGIN_S
    t = t0 + np.arange(N_SOURCE) / FS_SOURCE
    onsets = dipole.beat_onsets(rng, ph["hr"], afib, ph, t0 - 1.0, t[-1] + 0.1, rr_cv)
    jitter = 1 + rng.normal(0, 0.02, len(onsets))
    src = dipole.render(comp, onsets, ph["pr"], ph["qtc"], not afib, jitter, FS_SOURCE, t0, N_SOURCE)
    breath = np.sin(2 * np.pi * ph["resp_hz"] * t + rng.uniform(0, 2 * np.pi))
    src *= (1 + rng.uniform(0.02, 0.08) * breath)[:, None]
    f_amp = float(rng.uniform(0.04, 0.12)) if afib else 0.0
    if afib:
        src[:, :3] += dipole.fibrillatory_waves(rng, t, f_amp)
    # breathing moves the chest electrodes relative to the heart: each lead's gain follows it
    depth = np.concatenate([rng.normal(0, 0.03, 2), rng.normal(0, 0.08, 6)])
    levels = noise.draw_levels(rng)
    enoise, touched = noise.electrode_noise(rng, t, levels, FS_SOURCE)
    return RecordParts(ph, comp, onsets, src, breath, depth, levels, enoise, touched, f_amp)


def simulate_record(
    seed: int, model: PatientModel, ecg_id: int, afib: bool, bad_kind: str = "", want_hr: bool = False, want_clean: bool = False
) -> RecordSim:
    """Simulate one 10-s record of a patient (see module docstring for the seeding)."""
    parts = record_parts(seed, model, ecg_id, afib)
    ph, comp, onsets, f_amp = parts.ph, parts.comp, parts.onsets, parts.f_amp
    an = model.anatomy
    clean8 = parts.src @ np.hstack([an.field8, an.local8]).T
    clean8 *= 1 + parts.breath[:, None] * parts.depth[None, :]
    lead_noise = noise.electrodes_to_leads(parts.enoise)
    if an.noise_scale != 1.0:
        lead_noise = lead_noise * an.noise_scale
    rec8 = clean8 + lead_noise
    levels, touched = parts.levels, parts.touched

    lr = expand_limb(_decimate(rec8))
    hr = expand_limb(rec8[CROP : CROP + int(DURATION_S * FS_SOURCE)]) if want_hr else None
    bad_lead = ""
    if bad_kind:
        bad_seed = np.random.SeedSequence(seed, spawn_key=(3, int(ecg_id)))
        lr, lead = noise.corrupt(lr, bad_kind, np.random.default_rng(bad_seed), FS_LOW)
        if hr is not None:
            hr, _ = noise.corrupt(hr, bad_kind, np.random.default_rng(bad_seed), FS_SOURCE)
        bad_lead = LEADS12[lead]

    in_record = onsets[(onsets >= 0) & (onsets < DURATION_S)]
    rr = np.diff(in_record)
    qt_mean = ph["qtc"] * (float(rr.mean()) if len(rr) else 60 / ph["hr"]) ** (1 / 3)
    truth = {
        "hr_bpm": 60.0 / float(rr.mean()) if len(rr) else ph["hr"],
        "rr_mean_s": float(rr.mean()) if len(rr) else np.nan,
        "rr_sd_s": float(rr.std()) if len(rr) > 1 else np.nan,
        "n_beats": int(len(in_record)),
        "pr_s": np.nan if afib else ph["pr"],
        "p_dur_s": np.nan if afib else ph["p_dur"],
        "qrs_s": ph["qrs"],
        "qrs_normal_s": ph["qrs0"],
        "qtc_s": ph["qtc"],
        "qt_s": qt_mean,
        "qrs_mag_mv": ph["qrs_mag"],
        "t_mag_mv": ph["t_mag"],
        "fwave_mv": f_amp,
        "axis_deg": _qrs_axis_deg(comp, an.field12),
        "afib": bool(afib),
        "bad_kind": bad_kind,
        "bad_lead": bad_lead,
        "motion_electrodes": ",".join(touched),
        **levels,
    }
    sim = RecordSim(lr=lr, hr=hr, truth=truth)
    if want_clean:
        sim.clean_lr = expand_limb(_decimate(clean8))
        sim.clean_hr = expand_limb(clean8[CROP : CROP + int(DURATION_S * FS_SOURCE)])
    return sim


def _decimate(x: np.ndarray) -> np.ndarray:
    """500 Hz (with margins) -> 100 Hz over [0, 10) s: the zero-phase FIR evaluated only at
    every 5th sample (a strided window view times the filter taps)."""
    half = (len(ANTI_ALIAS) - 1) // 2
    step = FS_SOURCE // FS_LOW
    windows = sliding_window_view(x, len(ANTI_ALIAS), axis=0)  # (n - 200, channels, taps)
    return windows[CROP - half : CROP - half + int(DURATION_S * FS_SOURCE) : step] @ ANTI_ALIAS[::-1]
