"""Cohort plan: patients, their labels and demographics, records, folds, bad records.

Everything here is drawn from the cohort generator ``SeedSequence(seed, spawn_key=(0,))`` in
the parent process; per-patient and per-record signal randomness lives in ``record.py``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ecgrecon.synth import catalogue as cat
from ecgrecon.synth.noise import BAD_KINDS

RECORDS_PER_PATIENT = (1, 2, 3)
P_RECORDS_PER_PATIENT = (0.87, 0.10, 0.03)  # mean ~1.16 records per patient, like PTB-XL
SECOND_CODE_CHOICES = {
    "CD": {
        "CRBBB": ("LAFB", "1AVB"),
        "CLBBB": ("1AVB",),
        "IRBBB": ("LAFB", "1AVB"),
        "IVCD": ("1AVB", "LAFB"),
        "LAFB": ("1AVB", "IRBBB", "CRBBB"),
        "LPFB": ("1AVB",),
        "1AVB": ("LAFB", "IRBBB", "CRBBB", "CLBBB"),
        "WPW": (),
    },
    "HYP": {"LVH": ("LAO/LAE",), "LAO/LAE": ("LVH",), "RVH": ("RAO/RAE",), "RAO/RAE": ("RVH",), "SEHYP": ("LVH",)},
}
FORM_CODE_OF = {"LVH": "VCLVH", "IMI": "QWAVE", "ASMI": "QWAVE", "ISC_": "STD_", "ISCAL": "INVT", "1AVB": "LPR"}


def cohort_rng(seed: int) -> np.random.Generator:
    """The generator of cohort-level choices."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0,)))


def _pick(rng: np.random.Generator, priors: dict[str, float], exclude=()) -> str:
    names = [k for k in priors if k not in exclude]
    p = np.array([priors[k] for k in names])
    return names[int(rng.choice(len(names), p=p / p.sum()))]


def _likelihood(rng: np.random.Generator) -> float:
    return float(cat.LIKELIHOODS[int(rng.choice(len(cat.LIKELIHOODS), p=cat.P_LIKELIHOOD))])


def draw_codes(rng: np.random.Generator) -> dict[str, float]:
    """One patient's diagnostic SCP codes with likelihoods (multi-label, PTB-XL-like mix)."""
    if rng.random() < cat.P_NORM:
        supers = ["NORM"]
    else:
        classes = list(cat.P_ABNORMAL_CLASS)
        hit = rng.random(len(classes)) < np.array(list(cat.P_ABNORMAL_CLASS.values()))
        supers = [c for c, h in zip(classes, hit) if h] or [_pick(rng, cat.P_ABNORMAL_CLASS)]
    codes: dict[str, float] = {}
    for sup in supers:
        first = _pick(rng, cat.CODE_PRIORS[sup])
        codes[first] = 100.0 if sup == "NORM" and rng.random() < 0.8 else _likelihood(rng)
        if sup != "NORM" and rng.random() < cat.P_SECOND_CODE:
            if sup in SECOND_CODE_CHOICES:
                options = [c for c in SECOND_CODE_CHOICES[sup][first] if c not in codes]
                second = options[int(rng.integers(len(options)))] if options else None
            else:
                second = _pick(rng, cat.CODE_PRIORS[sup], exclude=codes)
            if second:
                codes[second] = _likelihood(rng)
    if rng.random() < cat.P_UNCERTAIN_EXTRA:
        sup = _pick(rng, cat.P_ABNORMAL_CLASS)
        extra = _pick(rng, cat.CODE_PRIORS[sup], exclude=codes)
        if not ({"CLBBB", "CRBBB"} <= set(codes) | {extra}):
            codes[extra] = float(rng.choice([15.0, 35.0, 50.0]))
    return codes


def superclasses(codes: dict[str, float], min_likelihood: float = 80.0) -> tuple[str, ...]:
    """Diagnostic superclasses of the codes at or above ``min_likelihood`` (catalogue order)."""
    found = {cat.SUPERCLASS_OF[c] for c, v in codes.items() if c in cat.SUPERCLASS_OF and v >= min_likelihood}
    return tuple(s for s in cat.SUPERCLASSES if s in found)


def assign_folds(rng: np.random.Generator, strata: list[tuple]) -> np.ndarray:
    """strat_fold 1..10 per patient: shuffled within each label stratum, dealt round-robin."""
    keys = pd.Series([" ".join(map(str, s)) for s in strata])
    order = []
    for key in sorted(keys.unique()):
        idx = np.flatnonzero(keys.to_numpy() == key)
        order.extend(rng.permutation(idx))
    folds = np.empty(len(strata), dtype=np.int64)
    folds[np.asarray(order, dtype=int)] = (int(rng.integers(10)) + np.arange(len(order))) % 10 + 1
    return folds


def plan_cohort(n_records: int, seed: int, bad_per_thousand: float = 3.0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Draw the cohort plan: ``(patients, records)`` tables, records sorted by ecg_id."""
    if n_records < 1:
        raise ValueError(f"n_records must be >= 1, got {n_records}")
    if not 0 <= bad_per_thousand <= 1000:
        raise ValueError(f"bad_per_thousand must be in [0, 1000], got {bad_per_thousand}")
    rng = cohort_rng(seed)
    counts = rng.choice(RECORDS_PER_PATIENT, size=n_records, p=P_RECORDS_PER_PATIENT)
    total = np.cumsum(counts)
    n_pat = int(np.searchsorted(total, n_records) + 1)
    counts = counts[:n_pat]
    counts[-1] -= int(total[n_pat - 1] - n_records)

    codes = [draw_codes(rng) for _ in range(n_pat)]
    abnormal = np.array(["NORM" not in c for c in codes])
    afib_patient = rng.random(n_pat) < np.where(abnormal, cat.P_AFIB_ABNORMAL, cat.P_AFIB_NORMAL)
    sex = (rng.random(n_pat) < 0.48).astype(np.int64)  # PTB-XL: 0 male, 1 female
    age = np.clip(np.round(rng.normal(52 + 12 * abnormal + 8 * afib_patient, 16)), 18, 95)
    height = np.round(np.where(sex == 1, 163, 176) + rng.normal(0, 7, n_pat))
    bmi = np.clip(np.exp(rng.normal(np.log(26.5), 0.15, n_pat)), 17, 50)
    weight = np.round(bmi * (height / 100) ** 2)
    height_known = rng.random(n_pat) > 0.68
    weight_known = rng.random(n_pat) > 0.57
    pool = np.arange(1, max(22000, 3 * n_pat))
    patient_id = rng.choice(pool, size=n_pat, replace=False).astype(float)
    labels = [superclasses(c) for c in codes]
    folds = assign_folds(rng, [s + (("AFIB",) if a else ()) for s, a in zip(labels, afib_patient)])
    first_day = rng.uniform(0, 17 * 365.25, n_pat)
    patients = pd.DataFrame(
        {
            "patient_index": np.arange(n_pat),
            "patient_id": patient_id,
            "n_records": counts,
            "age": age,
            "sex": sex,
            "height": height,
            "weight": weight,
            "bmi": bmi,
            "height_csv": np.where(height_known, height, np.nan),
            "weight_csv": np.where(weight_known, weight, np.nan),
            "codes": codes,
            "superclass": labels,
            "afib_patient": afib_patient,
            "strat_fold": folds,
        }
    )

    rec_patient = np.repeat(np.arange(n_pat), counts)
    within = np.concatenate([np.arange(c) for c in counts])
    gap_days = np.where(within > 0, rng.uniform(1, 900, n_records), 0.0)
    days = first_day[rec_patient] + pd.Series(gap_days).groupby(rec_patient).cumsum().to_numpy()
    seconds = np.round(days * 86400 + rng.uniform(8 * 3600, 17 * 3600, n_records))
    afib = afib_patient[rec_patient] & (rng.random(n_records) < cat.P_AFIB_RECORD)
    order = np.lexsort((np.arange(n_records), seconds))  # ecg_id follows recording time
    n_bad = int(round(n_records * bad_per_thousand / 1000.0))
    bad = np.full(n_records, "", dtype=object)
    bad_idx = rng.choice(n_records, size=n_bad, replace=False)
    bad[bad_idx] = [BAD_KINDS[k % len(BAD_KINDS)] for k in range(n_bad)]
    nurse = rng.integers(0, 12, n_records).astype(float)
    site = rng.integers(0, 51, n_records).astype(float)

    ecg_id = np.empty(n_records, dtype=np.int64)
    ecg_id[order] = np.arange(1, n_records + 1)
    start = pd.Timestamp("1984-01-01")
    records = (
        pd.DataFrame(
            {
                "ecg_id": ecg_id,
                "patient_index": rec_patient,
                "patient_id": patient_id[rec_patient],
                "record_in_patient": within,
                "afib": afib,
                "bad_kind": bad.astype(str),
                "recording_date": [str(start + pd.Timedelta(seconds=float(s))) for s in seconds],
                "nurse": nurse,
                "site": site,
            }
        )
        .sort_values("ecg_id", kind="stable")
        .reset_index(drop=True)
    )
    return patients, records


def record_path(ecg_id: int, hr: bool = False) -> str:
    """``records100/00000/00001_lr`` (or the ``records500/..._hr`` twin)."""
    folder = f"{(int(ecg_id) // 1000) * 1000:05d}"
    return f"records500/{folder}/{int(ecg_id):05d}_hr" if hr else f"records100/{folder}/{int(ecg_id):05d}_lr"
