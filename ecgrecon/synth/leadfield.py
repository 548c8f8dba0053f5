"""Lead fields: Dower dipole-to-12-lead transform plus per-patient anatomy.

The source frame is Frank's: X to the patient's left, Y to the feet, Z to the back. The
published Dower coefficients (Dower et al., Clin. Cardiol. 1980) give leads I, II and V1-V6
from (X, Y, Z); III, aVR, aVL and aVF follow from Einthoven's and Goldberger's relations, so
every lead field built here obeys them exactly.

Per patient (``draw_anatomy``): heart orientation (a rotation of the dipole), torso and
chest-wall gains, precordial electrode displacement along and across the electrode row, small
per-electrode lead-field distortions, and two non-dipolar local sources near the precordium
(an anterior one around V1-V3 and an apical one around V4-V6, each a lead-field column seen
only by the chest electrodes near it).

The population those patients are drawn from is a :class:`LeadFieldModel`: the hand-set one
(``leadfield: dower``: Dower's rows, the spreads above) or the one fitted to real records'
inter-lead structure by ``bench/calibrate_cohort.py`` (``leadfield: calibrated``, written to
``results/calibration/leadfield_calibrated.json`` of the working directory, not shipped: it is derived from the real
records; docs/realism.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

INDEPENDENT = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")
"""The eight independent leads; the other four limb leads are derived from I and II."""

DOWER = np.array(
    [
        [0.632, -0.235, 0.059],  # I
        [0.235, 1.066, -0.132],  # II
        [-0.515, 0.157, -0.917],  # V1
        [0.044, 0.164, -1.387],  # V2
        [0.882, 0.098, -1.277],  # V3
        [1.213, 0.127, -0.601],  # V4
        [1.125, 0.127, -0.086],  # V5
        [0.831, 0.076, 0.230],  # V6
    ]
)
"""Dower's transform, rows = INDEPENDENT leads, columns = Frank X, Y, Z (mV per mV)."""

PROXIMITY = np.array([0.75, 1.0, 1.1, 1.15, 1.1, 0.85])
"""Mean chest-electrode gain relative to Dower's rows (V1..V6): the electrodes over the heart
see it larger. Calibrated so that median precordial amplitudes match PTB-XL records."""


def expand_limb(x8: np.ndarray) -> np.ndarray:
    """Map the 8 independent leads (last axis, INDEPENDENT order) to 12 leads (LEADS12 order).

    III = II - I, aVR = -(I + II)/2, aVL = I - II/2, aVF = II - I/2.
    """
    x8 = np.asarray(x8)
    lead_i, lead_ii = x8[..., 0], x8[..., 1]
    out = np.empty(x8.shape[:-1] + (12,), dtype=np.result_type(x8.dtype, np.float32))
    out[..., 0] = lead_i
    out[..., 1] = lead_ii
    out[..., 2] = lead_ii - lead_i
    out[..., 3] = -(lead_i + lead_ii) / 2
    out[..., 4] = lead_i - lead_ii / 2
    out[..., 5] = lead_ii - lead_i / 2
    out[..., 6:] = x8[..., 2:]
    return out


def rotation(frontal_deg: float, horizontal_deg: float, sagittal_deg: float) -> np.ndarray:
    """Rotation of the heart: about Z (frontal plane), then Y (horizontal), then X (sagittal)."""
    a, b, c = np.deg2rad([frontal_deg, horizontal_deg, sagittal_deg])
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    rx = np.array([[1, 0, 0], [0, np.cos(c), -np.sin(c)], [0, np.sin(c), np.cos(c)]])
    return rz @ ry @ rx


def _precordial_rows(position: np.ndarray, rows: np.ndarray = DOWER[2:]) -> np.ndarray:
    """Precordial rows (default Dower's) at fractional positions along V1..V6 (0..5), linear between electrodes."""
    pos = np.clip(position, -0.8, 5.8)
    lo = np.clip(np.floor(pos).astype(int), 0, 4)
    frac = (pos - lo)[:, None]
    return rows[lo] * (1 - frac) + rows[lo + 1] * frac


@dataclass
class Anatomy:
    """One patient's torso: ``field8`` (8x3 dipole lead field) and ``local8`` (8x2, non-dipolar)."""

    field8: np.ndarray
    local8: np.ndarray
    params: dict
    noise_scale: float = 1.0  # multiplies the patient's records' electrode noise (LeadFieldModel.noise_scale)

    @property
    def field12(self) -> np.ndarray:
        """12x3 lead field in LEADS12 order (rows obey Einthoven/Goldberger)."""
        return expand_limb(self.field8.T).T

    @property
    def local12(self) -> np.ndarray:
        """12x2 lead field of the two non-dipolar local sources."""
        return expand_limb(self.local8.T).T


@dataclass(frozen=True)
class LeadFieldModel:
    """The population model of the lead field that :func:`draw_anatomy` samples patients from.

    ``limb`` (2x3) and ``precordial`` (6x3, before ``proximity``) are the mean dipole-to-lead
    transfer coefficients (rows I, II and V1..V6; columns Frank X, Y, Z); the ``*_sd`` fields
    are the spreads of the per-patient anatomy (degrees, log-gains, electrode spacings, mV per
    mV); ``local_strength`` the range of the two non-dipolar sources' strengths; ``noise_scale``
    multiplies every record's electrode noise. The defaults are the hand-set model
    (``leadfield: dower``); :func:`leadfield_model` ``("calibrated")`` reads the fitted one.
    """

    limb: np.ndarray = field(default_factory=lambda: DOWER[:2].copy())
    precordial: np.ndarray = field(default_factory=lambda: DOWER[2:].copy())
    proximity: np.ndarray = field(default_factory=lambda: PROXIMITY.copy())
    frontal_sd: float = 20.0
    horizontal_sd: float = 16.0
    sagittal_sd: float = 12.0
    torso_gain_sd: float = 0.1
    chest_gain_sd: float = 0.15
    electrode_gain_sd: float = 0.15
    limb_sd: float = 0.06
    limb_gain_sd: float = 0.08
    shift_sd: float = 0.5
    position_sd: float = 0.3
    height_sd: float = 0.6
    height_electrode_sd: float = 0.25
    inhomogeneity_sd: float = 0.18
    local_strength: tuple[float, float] = (0.25, 0.65)
    noise_scale: float = 1.0
    name: str = "dower"

    def to_dict(self) -> dict:
        """JSON-serialisable form (arrays as nested lists)."""
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = v.tolist() if isinstance(v, np.ndarray) else (list(v) if isinstance(v, tuple) else v)
        return out

    @classmethod
    def from_dict(cls, d: dict) -> LeadFieldModel:
        """Inverse of :meth:`to_dict`; unknown keys are an error, missing ones keep the defaults."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"lead-field model: unknown keys {unknown}")
        kw = dict(d)
        for k in ("limb", "precordial", "proximity"):
            if k in kw:
                kw[k] = np.asarray(kw[k], dtype=float)
        if "local_strength" in kw:
            kw["local_strength"] = tuple(float(v) for v in kw["local_strength"])
        m = cls(**kw)
        if m.limb.shape != (2, 3) or m.precordial.shape != (6, 3) or m.proximity.shape != (6,):
            raise ValueError("lead-field model: limb must be 2x3, precordial 6x3, proximity 6")
        return m


LEADFIELD_FORMAT = "ecgrecon-leadfield-1"
CALIBRATED_FILE = Path("results/calibration/leadfield_calibrated.json")
"""The fitted lead-field model (written by ``bench/calibrate_cohort.py``, with its provenance), relative to the run's
working directory: it is derived from the shared real records, so it is made where they are and never committed."""
LEADFIELDS = ("dower", "calibrated")


def leadfield_model(leadfield: str | LeadFieldModel | None = "dower") -> LeadFieldModel:
    """The lead-field model of a ``leadfield`` setting: ``dower`` (hand-set, the default),
    ``calibrated`` (:data:`CALIBRATED_FILE`), a path to such a JSON file, or a model itself."""
    if isinstance(leadfield, LeadFieldModel):
        return leadfield
    if leadfield is None or leadfield == "dower":
        return LeadFieldModel()
    path = CALIBRATED_FILE if leadfield == "calibrated" else Path(leadfield)
    if leadfield != "calibrated" and path.suffix != ".json":
        raise ValueError(f"unknown leadfield {leadfield!r}: expected one of {list(LEADFIELDS)} or a .json file")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no calibrated lead-field model (run bench/calibrate_cohort.py where the real records are)")
    d = json.loads(path.read_text())
    if d.get("format") != LEADFIELD_FORMAT:
        raise ValueError(f"{path}: format is {d.get('format')!r}, expected {LEADFIELD_FORMAT!r}")
    return LeadFieldModel.from_dict(d["model"])


def draw_anatomy(rng: np.random.Generator, age: float, sex: int, bmi: float, lvh: bool, model: LeadFieldModel | None = None) -> Anatomy:
    """Draw a patient's lead field (rotation, gains, electrode displacement, local source).

    The draws from ``rng`` are the same in number and order whatever ``model`` is (its values
    only scale and shift them), so two models give the same patients their own versions of
    one anatomy, and the physiology drawn after it is unchanged.
    """
    m = LeadFieldModel() if model is None else model
    frontal = rng.normal(-0.3 * (age - 50) - 1.2 * (bmi - 25), m.frontal_sd)
    horizontal = rng.normal(0.0, m.horizontal_sd)
    sagittal = rng.normal(0.0, m.sagittal_sd)
    rot = rotation(frontal, horizontal, sagittal)

    torso_gain = np.exp(rng.normal(0.0, m.torso_gain_sd)) * float(np.clip(1 - 0.016 * (bmi - 25), 0.7, 1.2))
    chest_gain = np.exp(rng.normal(0.0, m.chest_gain_sd)) * (1.1 if lvh else 1.0)
    shift = rng.normal(0.0, m.shift_sd)  # whole row along the chest (electrode spacings)
    position = np.arange(6) + shift + rng.normal(0.0, m.position_sd, 6)
    height = rng.normal(0.0, m.height_sd) + rng.normal(0.0, m.height_electrode_sd, 6)  # intercostal spaces, + = higher
    rows = _precordial_rows(position, m.precordial)
    rows[:, 1] -= 0.20 * height  # a higher electrode sees less of the inferior Y
    rows[:, 2] += 0.20 * height * np.sign(rows[:, 2])  # ...and the Z projection changes with it
    rows += rng.normal(0.0, m.inhomogeneity_sd, (6, 3))  # local torso inhomogeneity
    breast = np.array([1.0, 1.0, 0.85, 0.82, 0.88, 1.0]) if sex == 1 else np.ones(6)
    rows *= (chest_gain * m.proximity * breast * np.exp(rng.normal(0.0, m.electrode_gain_sd, 6)))[:, None]

    limb = m.limb + rng.normal(0.0, m.limb_sd, (2, 3))
    limb *= np.exp(rng.normal(0.0, m.limb_gain_sd, 2))[:, None]
    field8 = torso_gain * np.vstack([limb, rows]) @ rot

    centre = np.array([rng.uniform(0.0, 2.5), rng.uniform(2.5, 5.0)])  # anterior, apical
    width = rng.uniform(0.6, 1.3, 2)
    strength = rng.uniform(*m.local_strength, 2) * rng.choice([-1.0, 1.0], 2)
    local8 = np.zeros((8, 2))
    local8[2:] = strength * np.exp(-0.5 * ((np.arange(6)[:, None] - centre) / width) ** 2)

    params = {
        "rot_frontal_deg": frontal,
        "rot_horizontal_deg": horizontal,
        "rot_sagittal_deg": sagittal,
        "torso_gain": torso_gain,
        "chest_gain": chest_gain,
        "electrode_shift": shift,
        "electrode_height": float(np.mean(height)),
        "local_a_centre": centre[0],
        "local_b_centre": centre[1],
        "local_a_width": width[0],
        "local_b_width": width[1],
        "local_a_strength": strength[0],
        "local_b_strength": strength[1],
    }
    return Anatomy(field8, local8, params, noise_scale=float(m.noise_scale))
