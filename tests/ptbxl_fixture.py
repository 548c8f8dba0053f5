"""Test helper: small PTB-XL-shaped folders written with ``wfdb.wrsamp`` (the reference writer).

Signals are seeded mixtures of a heartbeat-like pulse train, sinusoids, a slow drift and
noise, so filters and QC see realistic-ish, fully known input.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import wfdb

from defaults import section
from ecgrecon import LEADS12

SHARED_PTBXL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ptb-xl"

CLEAN_CFG = section("clean")  # config.yaml's: 100 Hz, 10 s, 50 Hz notch, 0.5-45 Hz order-2 sos band-pass, 0.6-s median
LABELS_CFG = {"min_likelihood": 80, "level": "superclass"}

STATEMENTS = [  # code, diagnostic, diagnostic_class, diagnostic_subclass, rhythm
    ("NORM", 1.0, "NORM", "NORM", ""),
    ("IMI", 1.0, "MI", "IMI", ""),
    ("ASMI", 1.0, "MI", "AMI", ""),
    ("LVH", 1.0, "HYP", "LVH", ""),
    ("CRBBB", 1.0, "CD", "CRBBB", ""),
    ("PVC", "", "", "", ""),
    ("SR", "", "", "", 1.0),
    ("AFIB", "", "", "", 1.0),
]
CODE_SETS = [
    {"NORM": 100.0, "SR": 0.0},
    {"IMI": 80.0, "LVH": 50.0, "SR": 0.0},
    {"ASMI": 100.0, "CRBBB": 100.0, "AFIB": 100.0},
    {"LVH": 100.0, "PVC": 100.0, "SR": 0.0},
]


def synth_signal(n: int, fs: float, seed: int, mains_hz: float | None = None) -> np.ndarray:
    """(n, 12) float mV: pulse train + sinusoids + 0.1 Hz drift + noise (+ mains), seeded."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / fs
    hr = rng.uniform(0.9, 1.6)
    phase = (t * hr) % 1.0
    pulse = (
        np.exp(-(((phase - 0.3) / 0.012) ** 2))
        - 0.2 * np.exp(-(((phase - 0.34) / 0.02) ** 2))
        + 0.25 * np.exp(-(((phase - 0.6) / 0.05) ** 2))
    )
    gains = rng.uniform(0.4, 1.6, 12) * rng.choice([-1, 1], 12)
    sig = pulse[:, None] * gains
    sig += 0.1 * np.sin(2 * np.pi * 10 * t)[:, None] * rng.uniform(0.5, 1, 12)
    sig += 0.3 * np.sin(2 * np.pi * 0.1 * t[:, None] + rng.uniform(0, 6, 12)[None])
    sig += 0.01 * rng.standard_normal((n, 12))
    if mains_hz:
        sig += 0.1 * np.sin(2 * np.pi * mains_hz * t)[:, None]
    return sig


def write_record(base: Path, sig: np.ndarray, fs: float, names=LEADS12, fmt: str = "16") -> None:
    """Write ``sig`` (n x k, mV) as WFDB record ``base`` (path without extension)."""
    base.parent.mkdir(parents=True, exist_ok=True)
    k = sig.shape[1]
    wfdb.wrsamp(
        base.name,
        fs=fs,
        units=["mV"] * k,
        sig_name=list(names),
        p_signal=sig,
        fmt=[fmt] * k,
        adc_gain=[1000.0] * k,
        baseline=[0] * k,
        write_dir=str(base.parent),
    )


def rel_name(ecg_id: int, rate_dir: str = "records100", suffix: str = "lr") -> str:
    return f"{rate_dir}/{ecg_id // 1000 * 1000:05d}/{ecg_id:05d}_{suffix}"


def write_tables(root: Path, rows: list[dict]) -> None:
    """ptbxl_database.csv (given rows, PTB-XL column subset) and scp_statements.csv."""
    root.mkdir(parents=True, exist_ok=True)
    cols = ["ecg_id", "patient_id", "age", "sex", "scp_codes", "strat_fold", "filename_lr", "filename_hr"]
    with open(root / "ptbxl_database.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({"age": 50, "sex": 0, **r})
    with open(root / "scp_statements.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["", "description", "diagnostic", "form", "rhythm", "diagnostic_class", "diagnostic_subclass"])
        for code, diag, cls, sub, rhythm in STATEMENTS:
            w.writerow([code, code.lower(), diag, "", rhythm, cls, sub])


def make_cohort(root: Path, n: int, seed: int = 0, fs: float = 100, rate_dir: str = "records100", fmt: str = "16") -> list[dict]:
    """A clean PTB-XL-shaped folder with ``n`` records; returns the metadata rows."""
    rows = []
    for i in range(n):
        ecg_id = i + 1
        rel = rel_name(ecg_id, rate_dir, "lr" if rate_dir == "records100" else "hr")
        write_record(root / rel, synth_signal(int(10 * fs), fs, seed * 100003 + i, mains_hz=50.0 if fs >= 200 else None), fs, fmt=fmt)
        rows.append(
            {
                "ecg_id": ecg_id,
                "patient_id": 1000 + i // 2,
                "strat_fold": i % 10 + 1,
                "scp_codes": repr(CODE_SETS[i % len(CODE_SETS)]),
                "filename_lr": rel if rate_dir == "records100" else "",
                "filename_hr": rel if rate_dir != "records100" else "",
            }
        )
    write_tables(root, rows)
    return rows
