"""Fit the lead-field model to real records' inter-lead structure (``leadfield: calibrated``).

What is fitted: the mean dipole-to-lead transfer coefficients (limb rows I, II and precordial
rows V1-V6 of :class:`~ecgrecon.synth.leadfield.LeadFieldModel`, 24 numbers) and eight
log-scales of the per-patient spreads (the three heart rotations; torso inhomogeneity;
electrode displacement; the gains; the non-dipolar sources' strength; the electrode noise).

To what: the distribution of per-record inter-lead structure of real records. Each record's
eight independent leads (I, II, V1-V6; 0.5-45 Hz band-pass at 100 Hz, as the pipeline cleans)
give an 8x8 covariance matrix, summarised by :func:`structure_features`: the 28 Fisher-z
correlations, the logs of the 8 eigenvalues of the correlation matrix and the 8 log standard
deviations. The objective (:func:`objective`) is, per real
database, the mean over features of the squared standardised difference of the means plus the
squared log-ratio of the standard deviations (simulated vs real), plus the squared standardised
difference of the *pooled* structure (the features of the mean covariance over records: what
one population map of all records sees), summed over the databases with the feature masks
given (e.g. LUDB's amplitudes are unusable, so only its correlations), plus a weak quadratic
pull of the parameters towards the hand-set model. Nothing of the
linear-map measure of :mod:`ecgrecon.evaluation.sim_to_real` enters it.

How, fast and reproducibly: every record's lead-field-independent parts (source, breathing,
electrode noise: :func:`ecgrecon.synth.record.record_parts`) are simulated once for a
calibration cohort of its own seed, decimated and band-passed, and reduced to an 18x18
covariance of [source (5), breathing-modulated source (5), lead noise (8)]; since the leads
are a per-record linear combination of those channels, every record's 8x8 lead covariance
for any model is exact and costs a few matrix products. Patient anatomies are redrawn from the
same patient generators for every trial model (common random numbers: the objective is a
smooth deterministic function of the parameters), and ``scipy.optimize.minimize`` (L-BFGS-B,
bounded) minimises it. Same seed, data and budget: same parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from ecgrecon.signal.filters import bandpass
from ecgrecon.synth import noise as synth_noise
from ecgrecon.synth.cohort import _patient_models
from ecgrecon.synth.leadfield import DOWER, LeadFieldModel
from ecgrecon.synth.plan import plan_cohort
from ecgrecon.synth.record import FS_LOW, _decimate, patient_rng, record_parts

FS = float(FS_LOW)
BAND = (0.5, 45.0, 2)
"""The pipeline's cleaning band-pass: 0.5-45 Hz, 2nd-order Butterworth, zero phase."""
N_LEADS = 8
IU = np.triu_indices(N_LEADS, 1)
N_FEATURES = len(IU[0]) + 2 * N_LEADS  # 28 correlations + 8 log eigenvalues + 8 log standard deviations
CORRELATION_FEATURES = np.arange(len(IU[0]) + N_LEADS)
"""The scale-free features (correlations and their eigenvalues), usable where amplitudes are not."""
MIN_STD_MV = 0.005
"""Records with a lead below this standard deviation (a flat or missing lead) are left out."""

SPREADS = (
    ("rotation_frontal", ("frontal_sd",)),
    ("rotation_horizontal", ("horizontal_sd",)),
    ("rotation_sagittal", ("sagittal_sd",)),
    ("inhomogeneity", ("inhomogeneity_sd", "limb_sd")),
    ("displacement", ("shift_sd", "position_sd", "height_sd", "height_electrode_sd")),
    ("gains", ("torso_gain_sd", "chest_gain_sd", "electrode_gain_sd", "limb_gain_sd")),
    ("local_sources", ("local_strength",)),
    ("noise", ("noise_scale",)),
)
"""Groups of model fields scaled together by one fitted log-scale each."""
N_COEF = 24
N_THETA = N_COEF + len(SPREADS)
COEF_BOUND = 0.6  # mV/mV: a mean coefficient moves at most this far from the hand-set one
LOG_SCALE_BOUND = np.log(3.0)  # a spread is scaled by at most 3x either way
PRIOR_SD = np.r_[np.full(N_COEF, 0.25), np.full(len(SPREADS), 0.7)]
"""Scale of the quadratic pull towards the hand-set model (theta = 0)."""


def record_covariances(sig8: np.ndarray) -> np.ndarray:
    """(n, T, 8) band-passed leads -> (n, 8, 8) per-record covariance (mV^2)."""
    x = np.asarray(sig8, dtype=np.float64)
    x = x - x.mean(axis=1, keepdims=True)
    return np.einsum("nti,ntj->nij", x, x) / x.shape[1]


def structure_features(cov: np.ndarray) -> np.ndarray:
    """(n, 8, 8) covariances -> (n, 44): Fisher-z of the 28 correlations (I-II, I-V1, ...,
    V5-V6, upper triangle row by row), the logs of the 8 eigenvalues of the correlation matrix
    (ascending: the small ones measure what three dipole components do not explain), then the
    log standard deviation (log mV) of each lead."""
    sd = np.sqrt(np.clip(np.einsum("nii->ni", cov), 1e-300, None))
    corr = cov / (sd[:, :, None] * sd[:, None, :])
    z = np.arctanh(np.clip(corr[:, IU[0], IU[1]], -0.999, 0.999))
    eig = np.log(np.clip(np.linalg.eigvalsh(corr), 1e-6, None))
    return np.hstack([z, eig, np.log(sd)])


def usable(cov: np.ndarray) -> np.ndarray:
    """Records whose eight leads all carry signal (std >= :data:`MIN_STD_MV`)."""
    return (np.einsum("nii->ni", cov) >= MIN_STD_MV**2).all(axis=1)


def feature_names() -> list[str]:
    """Names of the :func:`structure_features` columns."""
    from ecgrecon.synth.leadfield import INDEPENDENT

    return (
        [f"z_{INDEPENDENT[i]}_{INDEPENDENT[j]}" for i, j in zip(*IU)]
        + [f"logeig_{k + 1}" for k in range(N_LEADS)]
        + [f"logsd_{k}" for k in INDEPENDENT]
    )


@dataclass
class Target:
    """One real database's structure: per-feature mean and sd over its records, and the features used."""

    name: str
    mean: np.ndarray
    sd: np.ndarray
    mask: np.ndarray
    n_records: int
    pooled: np.ndarray  # structure_features of the records' mean covariance (the population structure)

    @classmethod
    def from_covariances(cls, name: str, cov: np.ndarray, features=None) -> Target:
        """Target of the usable records among ``cov``; ``features``: indices used (default all)."""
        cov = cov[usable(cov)]
        f = structure_features(cov)
        mask = np.zeros(N_FEATURES, bool)
        mask[np.arange(N_FEATURES) if features is None else np.asarray(features)] = True
        return cls(name, f.mean(axis=0), f.std(axis=0, ddof=1), mask, len(f), pooled_features(cov))


def pooled_features(cov: np.ndarray) -> np.ndarray:
    """(44,) :func:`structure_features` of the mean of the per-record covariances: the lead
    structure that one population map of all records sees (amplitude-weighted)."""
    return structure_features(cov.mean(axis=0)[None])[0]


def distance(features: np.ndarray, target: Target, pooled: np.ndarray | None = None, pooled_weight: float = 1.0) -> float:
    """Mean over the target's features of ((mean_sim - mean_real) / sd_real)^2 + log(sd_sim / sd_real)^2,
    plus, given the cohort's ``pooled`` features, ``pooled_weight`` ((pooled_sim - pooled_real) / sd_real)^2."""
    m = target.mask
    mu, sd = features.mean(axis=0)[m], features.std(axis=0, ddof=1)[m]
    d = ((mu - target.mean[m]) / target.sd[m]) ** 2 + np.log(sd / target.sd[m]) ** 2
    if pooled is not None:
        d = d + pooled_weight * ((pooled[m] - target.pooled[m]) / target.sd[m]) ** 2
    return float(np.mean(d))


@dataclass
class MomentCohort:
    """A calibration cohort reduced to what the lead covariance needs (see the module docstring)."""

    seed: int
    moments: np.ndarray  # (n, 18, 18) covariance of [source 5, breathing-modulated source 5, lead noise 8]
    depth: np.ndarray  # (n, 8) breathing gain depth per lead
    patient_row: np.ndarray  # (n,) index into ``patients``
    patients: pd.DataFrame  # patient_index, age, sex, bmi, lvh
    draws: dict  # per-patient standard variates of the anatomy (standard_draws)


def _prepare(x: np.ndarray) -> np.ndarray:
    """500 Hz channels with margins -> 100 Hz band-passed over the 10 s (as the pipeline sees them)."""
    return bandpass(_decimate(x), FS, *BAND, axis=0)


def moment_cohort(n_records: int, seed: int, progress=lambda s: None) -> MomentCohort:
    """Simulate the lead-field-independent parts of a cohort (no deliberately bad records)."""
    patients, records = plan_cohort(n_records, seed, bad_per_thousand=0.0)
    models = _patient_models(seed, patients)
    moments, depth = np.empty((len(records), 18, 18)), np.empty((len(records), 8))
    for i, r in enumerate(records.itertuples()):
        parts = record_parts(seed, models[int(r.patient_index)], r.ecg_id, bool(r.afib))
        lead_noise = synth_noise.electrodes_to_leads(parts.enoise)
        x = _prepare(np.hstack([parts.src, parts.breath[:, None] * parts.src, lead_noise]))
        x = x - x.mean(axis=0)
        moments[i] = x.T @ x / len(x)
        depth[i] = parts.depth
        if (i + 1) % 100 == 0:
            progress(f"calibration cohort: {i + 1}/{len(records)} records")
    pat = pd.DataFrame(
        {
            "patient_index": patients["patient_index"].to_numpy(),
            "age": patients["age"].to_numpy(),
            "sex": patients["sex"].to_numpy(),
            "bmi": patients["bmi"].to_numpy(),
            "lvh": [c.get("LVH", 0.0) >= 80 for c in patients["codes"]],
        }
    )
    draws = standard_draws(seed, pat["patient_index"])
    return MomentCohort(int(seed), moments, depth, records["patient_index"].to_numpy(), pat, draws)


def anatomies(mc: MomentCohort, model: LeadFieldModel) -> tuple[np.ndarray, np.ndarray]:
    """(n_patients, 8, 5) lead fields [dipole, local] and (n_patients,) noise scales under ``model``:
    :func:`~ecgrecon.synth.leadfield.draw_anatomy` for all patients at once, from the standard
    variates it draws (:attr:`MomentCohort.draws`; equal to it to rounding, which a test checks)."""
    d, p, m = mc.draws, mc.patients, model
    n = len(p)
    frontal = (-0.3 * (p["age"].to_numpy() - 50) - 1.2 * (p["bmi"].to_numpy() - 25)) + m.frontal_sd * d["frontal"]
    rot = _rotations(frontal, m.horizontal_sd * d["horizontal"], m.sagittal_sd * d["sagittal"])
    bmi_gain = np.clip(1 - 0.016 * (p["bmi"].to_numpy() - 25), 0.7, 1.2)
    torso = np.exp(m.torso_gain_sd * d["torso"]) * bmi_gain
    chest = np.exp(m.chest_gain_sd * d["chest"]) * np.where(p["lvh"].to_numpy(), 1.1, 1.0)
    position = np.arange(6) + m.shift_sd * d["shift"][:, None] + m.position_sd * d["position"]
    height = m.height_sd * d["height"][:, None] + m.height_electrode_sd * d["height_e"]
    pos = np.clip(position, -0.8, 5.8)
    lo = np.clip(np.floor(pos).astype(int), 0, 4)
    frac = (pos - lo)[..., None]
    rows = m.precordial[lo] * (1 - frac) + m.precordial[lo + 1] * frac
    rows[..., 1] -= 0.20 * height
    rows[..., 2] += 0.20 * height * np.sign(rows[..., 2])
    rows += m.inhomogeneity_sd * d["inhomogeneity"]
    breast = np.where((p["sex"].to_numpy() == 1)[:, None], np.array([1.0, 1.0, 0.85, 0.82, 0.88, 1.0]), 1.0)
    rows *= (chest[:, None] * m.proximity * breast * np.exp(m.electrode_gain_sd * d["electrode_gain"]))[..., None]
    limb = (m.limb + m.limb_sd * d["limb"]) * np.exp(m.limb_gain_sd * d["limb_gain"])[..., None]
    g = np.empty((n, 8, 5))
    g[:, :, :3] = torso[:, None, None] * np.einsum("nij,njk->nik", np.concatenate([limb, rows], axis=1), rot)
    lo_s, hi_s = m.local_strength
    strength = (lo_s + (hi_s - lo_s) * d["strength_u"]) * d["strength_sign"]
    g[:, :2, 3:] = 0.0
    g[:, 2:, 3:] = strength[:, None, :] * np.exp(
        -0.5 * ((np.arange(6)[None, :, None] - d["centre"][:, None, :]) / d["width"][:, None, :]) ** 2
    )
    return g, np.full(n, float(m.noise_scale))


def _rotations(frontal: np.ndarray, horizontal: np.ndarray, sagittal: np.ndarray) -> np.ndarray:
    """(n, 3, 3) :func:`~ecgrecon.synth.leadfield.rotation` of each patient's angles (degrees)."""
    a, b, c = np.deg2rad(frontal), np.deg2rad(horizontal), np.deg2rad(sagittal)
    one, zero = np.ones_like(a), np.zeros_like(a)
    rz = np.stack([np.cos(a), -np.sin(a), zero, np.sin(a), np.cos(a), zero, zero, zero, one], -1).reshape(-1, 3, 3)
    ry = np.stack([np.cos(b), zero, np.sin(b), zero, one, zero, -np.sin(b), zero, np.cos(b)], -1).reshape(-1, 3, 3)
    rx = np.stack([one, zero, zero, zero, np.cos(c), -np.sin(c), zero, np.sin(c), np.cos(c)], -1).reshape(-1, 3, 3)
    return rz @ ry @ rx


def standard_draws(seed: int, patient_indices) -> dict[str, np.ndarray]:
    """The standard variates :func:`~ecgrecon.synth.leadfield.draw_anatomy` takes from each patient's
    generator, in its order (normal(mu, sd) = mu + sd * z, uniform(a, b) = a + (b - a) * u)."""
    keys = ("frontal", "horizontal", "sagittal", "torso", "chest", "shift", "position", "height", "height_e")
    keys += ("inhomogeneity", "electrode_gain", "limb", "limb_gain", "centre", "width", "strength_u", "strength_sign")
    out = {k: [] for k in keys}
    for idx in patient_indices:
        rng = patient_rng(seed, idx)
        for k in ("frontal", "horizontal", "sagittal", "torso", "chest", "shift"):
            out[k].append(rng.standard_normal())
        out["position"].append(rng.standard_normal(6))
        out["height"].append(rng.standard_normal())
        out["height_e"].append(rng.standard_normal(6))
        out["inhomogeneity"].append(rng.standard_normal((6, 3)))
        out["electrode_gain"].append(rng.standard_normal(6))
        out["limb"].append(rng.standard_normal((2, 3)))
        out["limb_gain"].append(rng.standard_normal(2))
        out["centre"].append([rng.uniform(0.0, 2.5), rng.uniform(2.5, 5.0)])
        out["width"].append(rng.uniform(0.6, 1.3, 2))
        out["strength_u"].append(rng.random(2))
        out["strength_sign"].append(rng.choice([-1.0, 1.0], 2))
    return {k: np.asarray(v, dtype=float) for k, v in out.items()}


def lead_covariances(mc: MomentCohort, model: LeadFieldModel) -> np.ndarray:
    """(n, 8, 8) per-record covariance of the 8 band-passed leads of the cohort under ``model``
    (exact: the leads are [G, diag(depth) G, noise_scale I] times the 18 channels)."""
    g, ns = anatomies(mc, model)
    g = g[mc.patient_row]
    n = len(g)
    lmat = np.empty((n, 8, 18))
    lmat[:, :, :5] = g
    lmat[:, :, 5:10] = mc.depth[:, :, None] * g
    lmat[:, :, 10:] = ns[mc.patient_row, None, None] * np.eye(8)[None]
    return np.einsum("nak,nkl,nbl->nab", lmat, mc.moments, lmat)


def theta_to_model(theta: np.ndarray, base: LeadFieldModel | None = None, name: str = "calibrated") -> LeadFieldModel:
    """Parameters -> model: ``theta[:24]`` added to the base's limb (6) and precordial (18)
    coefficients, ``theta[24:]`` log-scales of the :data:`SPREADS` groups."""
    base = LeadFieldModel() if base is None else base
    theta = np.asarray(theta, dtype=float)
    kw = {"limb": base.limb + theta[:6].reshape(2, 3), "precordial": base.precordial + theta[6:24].reshape(6, 3), "name": name}
    for s, (_, names) in zip(np.exp(theta[N_COEF:]), SPREADS):
        for f in names:
            v = getattr(base, f)
            kw[f] = tuple(float(s * x) for x in v) if isinstance(v, tuple) else float(s * v)
    return replace(base, **kw)


def objective(theta: np.ndarray, mc: MomentCohort, targets: list[Target], prior_weight: float = 0.05, pooled_weight: float = 1.0) -> float:
    """Structure distance of the cohort under ``theta_to_model(theta)`` to every target, plus the prior."""
    cov = lead_covariances(mc, theta_to_model(theta))
    feats, pooled = structure_features(cov), pooled_features(cov)
    d = sum(distance(feats, t, pooled, pooled_weight) for t in targets)
    return d + prior_weight * float(np.mean((np.asarray(theta) / PRIOR_SD) ** 2))


def fit(
    mc: MomentCohort,
    targets: list[Target],
    maxiter: int = 60,
    prior_weight: float = 0.05,
    pooled_weight: float = 1.0,
    progress=lambda s: None,
) -> dict:
    """Minimise :func:`objective` from the hand-set model (theta = 0); returns the model and a record."""
    bounds = [(-COEF_BOUND, COEF_BOUND)] * N_COEF + [(-LOG_SCALE_BOUND, LOG_SCALE_BOUND)] * len(SPREADS)
    theta0 = np.zeros(N_THETA)
    start = objective(theta0, mc, targets, prior_weight, pooled_weight)
    it = [0]

    def callback(xk):
        it[0] += 1
        if it[0] % 5 == 0:
            progress(f"calibration: iteration {it[0]}, objective {objective(xk, mc, targets, prior_weight, pooled_weight):.4f}")

    res = minimize(
        objective,
        theta0,
        args=(mc, targets, prior_weight, pooled_weight),
        method="L-BFGS-B",
        bounds=bounds,
        callback=callback,
        options={"maxiter": int(maxiter), "eps": 1e-3},
    )
    model = theta_to_model(res.x)
    cov, cov0 = lead_covariances(mc, model), lead_covariances(mc, LeadFieldModel())
    feats, feats0 = structure_features(cov), structure_features(cov0)
    return {
        "model": model,
        "theta": res.x,
        "objective_start": float(start),
        "objective_end": float(res.fun),
        "distance_start": {t.name: distance(feats0, t, pooled_features(cov0), pooled_weight) for t in targets},
        "distance_end": {t.name: distance(feats, t, pooled_features(cov), pooled_weight) for t in targets},
        "iterations": int(res.nit),
        "evaluations": int(res.nfev),
        "message": str(res.message),
        "spread_scales": {name: float(np.exp(v)) for (name, _), v in zip(SPREADS, res.x[N_COEF:])},
        "dower_limb": DOWER[:2].tolist(),
    }
