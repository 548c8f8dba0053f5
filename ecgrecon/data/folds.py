"""Patient-wise splits: PTB-XL's official strat_fold split and patient-grouped CV folds.

Fold ids: ``official`` (train = split.train_folds, val = split.val_folds, test =
split.test_folds) and ``cv0`` .. ``cv{k-1}``: the patients of train+val are shuffled with the
seed and dealt into k groups of near-equal record count; group i is the validation set of
``cv{i}``; the test set is always the official test folds (fold 10), never used for choices.
"""

from __future__ import annotations

import h5py
import numpy as np
import pandas as pd

from ecgrecon.io.atomic import write_json
from ecgrecon.io.h5io import read_table


class LeakageError(RuntimeError):
    """A patient appears in more than one split of a fold."""


def official_split(meta: pd.DataFrame, split_cfg: dict) -> dict[str, list[int]]:
    """ecg_ids per split by strat_fold; a patient spread over split groups is an error."""
    out = {}
    for name, key in (("train", "train_folds"), ("val", "val_folds"), ("test", "test_folds")):
        rows = meta[meta["strat_fold"].isin(split_cfg[key])]
        out[name] = sorted(int(e) for e in rows["ecg_id"])
    check_no_leakage(meta, out, "official")
    return out


def cv_splits(meta: pd.DataFrame, split_cfg: dict, seed: int) -> dict[str, dict[str, list[int]]]:
    """k patient-grouped folds over train+val; test stays the official test split."""
    k = int(split_cfg["cv_k"])
    pool = meta[meta["strat_fold"].isin(list(split_cfg["train_folds"]) + list(split_cfg["val_folds"]))]
    counts = pool.groupby("patient_id").size().sort_index()
    if len(counts) < k:
        raise ValueError(f"cv_k={k} needs at least {k} patients in train+val, found {len(counts)}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(counts))
    # Deal patients (largest first after shuffling, stable) to the group with fewest records.
    patients = counts.index.to_numpy()[order]
    sizes = counts.to_numpy()[order]
    by_size = np.argsort(-sizes, kind="stable")
    load = np.zeros(k, dtype=np.int64)
    group_of = {}
    for i in by_size:
        g = int(np.argmin(load))
        group_of[patients[i]] = g
        load[g] += sizes[i]
    test = sorted(int(e) for e in meta[meta["strat_fold"].isin(split_cfg["test_folds"])]["ecg_id"])
    groups = pool["patient_id"].map(group_of).to_numpy()
    folds = {}
    for g in range(k):
        split = {
            "train": sorted(int(e) for e in pool["ecg_id"][groups != g]),
            "val": sorted(int(e) for e in pool["ecg_id"][groups == g]),
            "test": test,
        }
        check_no_leakage(meta, split, f"cv{g}")
        folds[f"cv{g}"] = split
    return folds


def check_no_leakage(meta: pd.DataFrame, split: dict[str, list[int]], name: str) -> None:
    """Raise LeakageError if any patient_id has records in two splits of ``split``."""
    patient_of = dict(zip(meta["ecg_id"].astype(int), meta["patient_id"].astype(int)))
    seen: dict[int, str] = {}
    for part, ids in split.items():
        for pid in {patient_of[e] for e in ids}:
            if pid in seen and seen[pid] != part:
                raise LeakageError(f"fold {name}: patient {pid} is in both {seen[pid]} and {part}")
            seen[pid] = part


def make_folds(meta: pd.DataFrame, split_cfg: dict, seed: int) -> dict:
    """All folds as {fold_id: {train, val, test}}."""
    folds = {"official": official_split(meta, split_cfg)}
    folds.update(cv_splits(meta, split_cfg, seed))
    return folds


def make_folds_file(clean_h5, out_json, split_cfg: dict, seed: int, log=print) -> dict:
    """Read the cleaned metadata, build the folds, write folds.json atomically."""
    with h5py.File(clean_h5, "r") as f:
        meta = read_table(f["meta"])
    folds = make_folds(meta, split_cfg, seed)
    for name, split in folds.items():
        log(f"{name}: " + ", ".join(f"{k} {len(v)} records" for k, v in split.items()))
    write_json(out_json, {"seed": seed, "folds": folds})
    return folds
