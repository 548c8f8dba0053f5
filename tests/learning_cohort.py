"""A small synthetic segments.h5 + folds.json following docs/artifacts.md, for the learning tests.

Each record: three dipole sources made of Gaussian P/Q/R/S/T waves whose shape depends on the
record's diagnostic class (MI: deep Q, small R; STTC: inverted T; CD: wide QRS; HYP: tall R),
plus a weak fourth source seen only by the chest leads; a per-patient random lead-field
matrix mixes them into 12 leads (mV) with noise and baseline wander.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from ecgrecon import LEADS12
from ecgrecon.io.h5io import write_table

FS, N_SAMPLES, WINDOW, HOP = 100.0, 1000, 256, 128
CLASSES = ["NORM", "MI", "STTC", "CD", "HYP"]
SUBCLASS = {"NORM": ["NORM"], "MI": ["IMI", "AMI"], "STTC": ["STTC", "NST_"], "CD": ["IRBBB", "LAFB"], "HYP": ["LVH"]}
BASE_FIELD = np.array(
    [  # lead-field rows (x, y, z) per lead in LEADS12 order
        [1.0, 0.2, 0.0],
        [0.5, 1.0, 0.1],
        [-0.5, 0.8, 0.1],
        [-0.75, -0.6, -0.05],
        [0.75, -0.4, -0.05],
        [0.0, 0.9, 0.1],
        [-0.3, 0.1, -1.0],
        [0.1, 0.2, -1.2],
        [0.5, 0.3, -0.8],
        [0.9, 0.3, -0.4],
        [1.1, 0.3, 0.0],
        [1.0, 0.2, 0.3],
    ]
)
CHEST_LOCAL = np.array([0, 0, 0, 0, 0, 0, 0.3, 0.1, 0.2, 0.25, 0.15, 0.1])


def _beat_sources(classes: list[str], t: np.ndarray, rng) -> np.ndarray:
    """(4, n) sources for one record: beats at a random heart rate."""
    hr = rng.uniform(55, 100)
    rr = 60.0 / hr
    width = 1.6 if "CD" in classes else 1.0
    r_amp = (1.6 if "HYP" in classes else 1.0) * (0.5 if "MI" in classes else 1.0)
    q_amp = -0.45 if "MI" in classes else -0.1
    t_amp = -0.25 if "STTC" in classes else 0.3
    waves = [  # (offset s, width s, amplitude per source x,y,z,local)
        (-0.18, 0.025, np.array([0.1, 0.12, 0.03, 0.0])),
        (-0.03 * width, 0.010 * width, q_amp * np.array([0.5, 0.4, 0.8, 0.3])),
        (0.0, 0.012 * width, r_amp * np.array([1.0, 0.9, 0.6, 0.4])),
        (0.03 * width, 0.012 * width, np.array([-0.2, -0.25, 0.5, -0.3])),
        (0.28, 0.05, t_amp * np.array([0.8, 0.6, -0.5, 0.2])),
    ]
    src = np.zeros((4, len(t)))
    for beat in np.arange(rng.uniform(0, rr), t[-1] + rr, rr * rng.uniform(0.97, 1.03)):
        for off, wid, amp in waves:
            src += amp[:, None] * np.exp(-0.5 * ((t - beat - off) / wid) ** 2)[None, :]
    return src


def write_cohort(out_dir, n_records: int = 80, seed: int = 0, hop: int = HOP) -> tuple[Path, Path]:
    """Write ``segments.h5`` and ``folds.json`` into ``out_dir``; return their paths."""
    rng = np.random.default_rng(seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t = np.arange(N_SAMPLES) / FS
    seg_x, seg_rows, win_x, win_rows = [], [], [], []
    starts = list(range(0, N_SAMPLES - WINDOW + 1, hop))
    rec_starts = list(range(0, N_SAMPLES - WINDOW + 1, WINDOW))
    if rec_starts[-1] + WINDOW < N_SAMPLES:
        rec_starts.append(N_SAMPLES - WINDOW)
    for i in range(n_records):
        ecg_id, patient = 1000 + i, 500 + i
        fold = 1 + i % 10
        r = rng.random()
        classes = [] if r < 0.05 else [CLASSES[int(rng.integers(len(CLASSES)))]]
        if classes and rng.random() < 0.2:
            classes = sorted(set(classes) | {CLASSES[int(rng.integers(1, len(CLASSES)))]})
        subs = sorted({SUBCLASS[c][int(rng.integers(len(SUBCLASS[c])))] for c in classes})
        field = np.hstack(
            [BASE_FIELD * rng.uniform(0.85, 1.15, (12, 1)) + rng.normal(0, 0.08, (12, 3)), CHEST_LOCAL[:, None] * rng.uniform(0.5, 1.5)]
        )
        sig = field @ _beat_sources(classes, t, rng)
        sig += rng.normal(0, 0.01, sig.shape) + 0.05 * np.sin(2 * np.pi * rng.uniform(0.1, 0.3) * t + rng.uniform(0, 6))
        sig = sig.astype(np.float32)
        common = {"ecg_id": ecg_id, "patient_id": patient, "strat_fold": fold}
        for s in starts:
            seg_x.append(sig[:, s : s + WINDOW])
            seg_rows.append(
                {
                    "seg_id": len(seg_rows),
                    **common,
                    "start": s,
                    "labels": json.dumps(subs),
                    "superclass": json.dumps(classes),
                    "subclass": json.dumps(subs),
                }
            )
        prev_end = 0
        for s in rec_starts:
            win_x.append(sig[:, s : s + WINDOW])
            win_rows.append({"win_id": len(win_rows), **common, "start": s, "n_keep_from": prev_end - s if prev_end > s else 0})
            prev_end = s + WINDOW
    seg_path, folds_path = out_dir / "segments.h5", out_dir / "folds.json"
    with h5py.File(seg_path, "w") as f:
        f.create_dataset("x", data=np.stack(seg_x))
        write_table(f, "meta", pd.DataFrame(seg_rows))
        f.create_dataset("records/x", data=np.stack(win_x))
        write_table(f["records"], "meta", pd.DataFrame(win_rows))
        f.attrs.update({"fs": FS, "window": WINDOW, "hop": hop, "leads": list(LEADS12)})
    ids = np.array([1000 + i for i in range(n_records)])
    fold_of = np.array([1 + i % 10 for i in range(n_records)])
    folds = {"official": {"train": ids[fold_of <= 8].tolist(), "val": ids[fold_of == 9].tolist(), "test": ids[fold_of == 10].tolist()}}
    pool = ids[fold_of <= 9]
    for k in range(3):
        folds[f"cv{k}"] = {
            "train": [int(e) for j, e in enumerate(pool) if j % 3 != k],
            "val": [int(e) for j, e in enumerate(pool) if j % 3 == k],
            "test": folds["official"]["test"],
        }
    folds_path.write_text(json.dumps({"seed": seed, "folds": folds}))
    return seg_path, folds_path


@pytest.fixture(autouse=True)
def one_torch_thread():
    """One intra-op thread: fast on a shared 2-core machine, and results independent of core count."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


TINY_PRIOR = {"T": 50, "channels": (8, 16), "time_dim": 16, "heads": 2, "batch_size": 16, "max_steps": 20, "eval_every": 10,
              "patience": 10, "ema": 0.9, "lr": 2e-3}  # fmt: skip
"""A diffusion prior small enough to train in seconds (tests of ecgrecon.learn.diffusion and its users)."""
