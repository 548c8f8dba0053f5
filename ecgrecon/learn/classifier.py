"""Diagnostic retention: a PTB-XL superclass classifier on 12-lead 10-s 100-Hz records.

Classifier: a small 1-D CNN (:class:`SuperclassCNN`) on the record in mV, channels first
(12, T); multi-label (NORM, MI, STTC, CD, HYP) with binary cross-entropy, AdamW, trained on
seeded random 5-s crops of the *train* records (scored on whole records), early stopping on
the *validation* macro-AUC (best weights kept, resumable through :func:`ecgrecon.learn.fitloop.fit`).
Per-class decision thresholds maximise F1 on the validation split. The test split is only
scored.

Metrics (numpy): per-class AUC from ranks (Mann-Whitney U, ties get average ranks), F1 at the
chosen thresholds; macro = mean over the classes that have at least one positive and one
negative record in the scored set (the classes left out are reported).

Retention (:func:`retention_table`): the same classifier scores the test records with the
original leads and with V1, V3-V6 replaced by each method's reconstruction (the records
reassembled from the ``records/`` windows); retention = reconstructed / original, for
macro-F1 and macro-AUC.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from ecgrecon.data.datasets import ArtifactError, load_folds, open_clean
from ecgrecon.io.atomic import write_json
from ecgrecon.learn.device import derive_seed, intra_op_threads, resolve_device, seed_everything
from ecgrecon.learn.fitloop import Budget, fingerprint, fit, resume_path, save_torch, step
from ecgrecon.learn.models import conv_stack

CLASSES = ("NORM", "MI", "STTC", "CD", "HYP")
CFG_KEYS = ("width", "batch_size", "lr", "weight_decay", "max_epochs", "patience", "dropout", "crop")
"""The ``classifier`` config section (config.yaml holds the defaults). ``crop``: training sees random crops of
this many samples (0: whole records); scoring always uses the whole record (global pooling makes the network
length-agnostic)."""


class SuperclassCNN(nn.Module):
    """Conv-BN-ReLU-maxpool blocks, then global average and max pooling and a linear layer."""

    def __init__(self, n_leads: int = 12, n_classes: int = len(CLASSES), width: int = 32, dropout: float = 0.2):
        super().__init__()
        chans = [n_leads, width, 2 * width, 2 * width, 4 * width]
        self.features = conv_stack(chans, [7, 5, 5, 3])
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(2 * chans[-1], n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, 12, T) in mV -> logits (B, n_classes)."""
        f = self.features(x)
        return self.out(self.drop(torch.cat([f.mean(dim=-1), f.amax(dim=-1)], dim=1)))


def multi_hot(lists, classes=CLASSES) -> np.ndarray:
    """(n, C) float32 targets from per-record label lists (labels outside ``classes`` ignored)."""
    idx = {c: i for i, c in enumerate(classes)}
    y = np.zeros((len(lists), len(classes)), dtype=np.float32)
    for r, labels in enumerate(lists):
        for c in labels:
            if c in idx:
                y[r, idx[c]] = 1.0
    return y


def average_ranks(s: np.ndarray) -> np.ndarray:
    """1-based ranks of a 1-D array, ties sharing their average rank."""
    order = np.argsort(s, kind="mergesort")
    sorted_s = s[order]
    first = np.r_[True, sorted_s[1:] != sorted_s[:-1]]
    group = np.cumsum(first) - 1
    starts = np.flatnonzero(first)
    ends = np.r_[starts[1:], len(s)]
    avg = (starts + ends + 1) / 2.0  # mean of 1-based positions start+1..end
    ranks = np.empty(len(s))
    ranks[order] = avg[group]
    return ranks


def auc_per_class(y: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """ROC AUC per column from ranks (NaN where a class lacks positives or negatives)."""
    y = np.asarray(y, dtype=bool)
    out = np.full(y.shape[1], np.nan)
    for c in range(y.shape[1]):
        pos = int(y[:, c].sum())
        neg = len(y) - pos
        if pos and neg:
            r = average_ranks(np.asarray(scores[:, c], dtype=np.float64))
            out[c] = (r[y[:, c]].sum() - pos * (pos + 1) / 2) / (pos * neg)
    return out


def f1_per_class(y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """F1 per column of boolean predictions (NaN where a class has no positive record)."""
    y, pred = np.asarray(y, dtype=bool), np.asarray(pred, dtype=bool)
    tp = (y & pred).sum(axis=0)
    fp = (~y & pred).sum(axis=0)
    fn = (y & ~pred).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(y.sum(axis=0) > 0, 2 * tp / (2 * tp + fp + fn), np.nan)


def choose_thresholds(y: np.ndarray, scores: np.ndarray, default: float = 0.5) -> np.ndarray:
    """Per class, the threshold (score >= t is positive) maximising F1 on (y, scores).

    Candidates: midpoints between consecutive distinct scores (and below the lowest); a class
    without positives keeps ``default``.
    """
    y = np.asarray(y, dtype=bool)
    out = np.full(y.shape[1], default, dtype=np.float64)
    for c in range(y.shape[1]):
        if not y[:, c].any():
            continue
        s = np.asarray(scores[:, c], dtype=np.float64)
        order = np.argsort(-s, kind="mergesort")
        s_sorted, y_sorted = s[order], y[order, c]
        last = np.r_[s_sorted[1:] != s_sorted[:-1], True]  # cut after the last copy of a score
        tp = np.cumsum(y_sorted)[last]
        fp = np.cumsum(~y_sorted)[last]
        f1 = 2 * tp / (2 * tp + fp + (y_sorted.sum() - tp))
        k = int(np.argmax(f1))
        cut = np.flatnonzero(last)[k]
        below = s_sorted[cut + 1] if cut + 1 < len(s_sorted) else s_sorted[cut] - 1e-6
        out[c] = (s_sorted[cut] + below) / 2
    return out


def scores_summary(y: np.ndarray, prob: np.ndarray, thresholds: np.ndarray, classes=CLASSES) -> dict:
    """Macro and per-class AUC and F1, and the classes left out of each macro mean."""
    auc = auc_per_class(y, prob)
    f1 = f1_per_class(y, prob >= thresholds[None, :])
    return {
        "macro_auc": float(np.nanmean(auc)) if np.isfinite(auc).any() else float("nan"),
        "macro_f1": float(np.nanmean(f1)) if np.isfinite(f1).any() else float("nan"),
        "auc": dict(zip(classes, map(float, auc))),
        "f1": dict(zip(classes, map(float, f1))),
        "auc_undefined": [c for c, a in zip(classes, auc) if not np.isfinite(a)],
        "f1_undefined": [c for c, v in zip(classes, f1) if not np.isfinite(v)],
    }


@torch.no_grad()
def predict_proba(model: nn.Module, x: np.ndarray, device="cpu", batch: int = 256) -> np.ndarray:
    """Sigmoid probabilities (n, C) for records x (n, 12, T) in mV."""
    model.eval()
    dev = torch.device(device)
    out = [
        torch.sigmoid(model(torch.from_numpy(np.ascontiguousarray(x[i : i + batch], dtype=np.float32)).to(dev))).cpu().numpy()
        for i in range(0, len(x), batch)
    ]
    return np.concatenate(out) if out else np.zeros((0, model.out.out_features), np.float32)


def _check_records(x: np.ndarray, y: np.ndarray, what: str) -> None:
    if x.ndim != 3 or x.shape[1] != 12:
        raise ValueError(f"{what}: expected records (n, 12, T), got shape {x.shape}")
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"{what}: {len(x)} records for {len(y)} label rows")
    if not np.isfinite(x).all():
        raise ValueError(f"{what}: non-finite values in the records")


TRAIN_THREADS = 1
"""Intra-op threads of classifier training. With two threads its CPU results varied in the last bits with the
machine's load (a local and a SLURM run of the same job, same thread count, differed; the cause inside torch
was not isolated), and the differences grew into other checkpoints; on one thread they do not."""


def train(
    x_train, y_train, x_val, y_val, *, cfg: dict | None = None, seed: int = 0, state_path, device: str = "auto", log=print
) -> tuple[SuperclassCNN, dict]:
    """Train with early stopping on validation macro-AUC on :data:`TRAIN_THREADS` threads (CPU); returns the best
    model and a summary.

    The summary holds the per-class thresholds chosen on validation and the validation scores.
    """
    with intra_op_threads(TRAIN_THREADS):
        return _train(x_train, y_train, x_val, y_val, cfg=cfg, seed=seed, state_path=state_path, device=device, log=log)


def _train(x_train, y_train, x_val, y_val, *, cfg, seed, state_path, device, log) -> tuple[SuperclassCNN, dict]:
    missing = [k for k in CFG_KEYS if k not in (cfg or {})]
    if missing:
        raise ValueError(f"classifier config lacks {missing} (the `classifier` section of config.yaml)")
    _check_records(x_train, y_train, "train")
    _check_records(x_val, y_val, "val")
    if not (y_train.sum(axis=0) > 0).any():
        raise ValueError("train: no positive label in any class")
    dev = resolve_device(device)
    seed_everything(seed, dev)
    torch.manual_seed(derive_seed(seed, "classifier-init"))
    model = SuperclassCNN(x_train.shape[1], y_train.shape[1], int(cfg["width"]), float(cfg["dropout"])).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=float(cfg["lr"]), weight_decay=float(cfg["weight_decay"]))
    xt = torch.from_numpy(np.ascontiguousarray(x_train, dtype=np.float32)).to(dev)
    yt = torch.from_numpy(np.ascontiguousarray(y_train, dtype=np.float32)).to(dev)
    bs, n, t = int(cfg["batch_size"]), len(xt), xt.shape[-1]
    crop = int(cfg["crop"]) if 0 < int(cfg["crop"]) < t else t

    def train_epoch(epoch: int) -> float:
        g = torch.Generator().manual_seed(derive_seed(seed, "classifier-batches", epoch))
        perm = torch.randperm(n, generator=g).to(dev)
        starts = torch.randint(0, t - crop + 1, (n,), generator=g).to(dev)
        window = torch.arange(crop, device=dev)
        total = 0.0
        for lo in range(0, n, bs):
            idx = perm[lo : lo + bs]
            cols = (starts[lo : lo + bs, None] + window[None, :])[:, None, :].expand(-1, xt.shape[1], -1)
            xb = torch.gather(xt[idx], 2, cols)
            total += step(opt, F.binary_cross_entropy_with_logits(model(xb), yt[idx])) * len(idx)
        return total / n

    def validate() -> dict:
        prob = predict_proba(model, x_val, dev)
        auc = auc_per_class(y_val, prob)
        macro = float(np.nanmean(auc)) if np.isfinite(auc).any() else 0.5
        bce = float(F.binary_cross_entropy(torch.from_numpy(prob).clamp(1e-7, 1 - 1e-7), torch.from_numpy(np.asarray(y_val, np.float32))))
        return {"val_loss": 1.0 - macro, "val_macro_auc": macro, "val_bce": bce}

    settings = {"cfg": cfg, "seed": seed, "device": dev.type, "threads": torch.get_num_threads()}
    fp = fingerprint(settings, x_train, y_train, x_val, y_val)
    budget = Budget.of(cfg, lr_schedule="constant")  # the classifier section has no schedule: a constant rate
    result = fit({"model": model}, opt, train_epoch, validate, budget=budget, state_path=state_path, fp=fp, log=log)
    model.load_state_dict(result["best"]["model"])
    model.eval()
    prob = predict_proba(model, x_val, dev)
    thresholds = choose_thresholds(y_val, prob)
    summary = {
        "best_epoch": int(result["best_epoch"]),
        "epochs_run": len(result["history"]),
        "thresholds": thresholds.tolist(),
        "val": scores_summary(y_val, prob, thresholds),
        "history": result["history"],
        "cfg": cfg,
    }
    return model, summary


def _label_rows(clean_h5, meta: pd.DataFrame, ids, classes) -> tuple[np.ndarray, np.ndarray]:
    """(rows of ``meta`` whose ecg_id is in ``ids``, in file order; their multi-hot superclasses)."""
    if "superclass" not in meta.columns:
        raise ArtifactError(f"{clean_h5}: meta has no 'superclass' column")
    rows = np.flatnonzero(np.isin(meta["ecg_id"].to_numpy(np.int64), np.asarray(ids, dtype=np.int64)))
    try:
        lists = [json.loads(v) for v in meta["superclass"].to_numpy()[rows]]
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{clean_h5}: meta column 'superclass' is not JSON lists ({exc})") from exc
    return rows, multi_hot(lists, classes)


def load_labels(clean_h5, ids, classes=CLASSES) -> tuple[np.ndarray, np.ndarray, int]:
    """(y (n, C), ecg_id (n,), samples per record) of the cleaned records with these ecg_ids; no signals read."""
    f, meta = open_clean(clean_h5)
    with f:
        n_samples = int(f["signals"].shape[1])
    rows, y = _label_rows(clean_h5, meta, ids, classes)
    return y, meta["ecg_id"].to_numpy(np.int64)[rows], n_samples


def load_records(clean_h5, ids, classes=CLASSES) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x (n, 12, T) float32 mV, y (n, C), ecg_id (n,)) of the cleaned records with these ecg_ids."""
    f, meta = open_clean(clean_h5)
    with f:
        rows, y = _label_rows(clean_h5, meta, ids, classes)
        x = f["signals"][rows] if len(rows) else np.zeros((0,) + f["signals"].shape[1:], np.float32)
    if not np.isfinite(x).all():
        raise ArtifactError(f"{clean_h5}: non-finite values in the signals")
    return np.ascontiguousarray(np.swapaxes(x, 1, 2)), y, meta["ecg_id"].to_numpy(np.int64)[rows]


def train_from_clean(
    clean_h5, folds, fold: str, out_model, out_json, *, cfg: dict | None = None, seed: int = 0, device: str = "auto", log=print
) -> dict:
    """Train on the fold's train records of clean.h5 (early stop, thresholds on val); write model + JSON."""
    ids = load_folds(folds, fold)
    x_tr, y_tr, _ = load_records(clean_h5, ids["train"])
    x_va, y_va, _ = load_records(clean_h5, ids["val"])
    log(
        f"classifier {fold}: {len(x_tr)} train, {len(x_va)} val records; positives per class "
        + ", ".join(f"{c} {int(v)}" for c, v in zip(CLASSES, y_tr.sum(axis=0)))
    )
    state = resume_path(out_model)
    model, summary = train(x_tr, y_tr, x_va, y_va, cfg=cfg, seed=seed, state_path=state, device=device, log=log)
    summary.update(fold=fold, classes=list(CLASSES), n_train=len(x_tr), n_val=len(x_va))
    save_torch(
        out_model,
        {
            "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "classes": list(CLASSES),
            "thresholds": summary["thresholds"],
            "width": int(summary["cfg"]["width"]),
            "dropout": float(summary["cfg"]["dropout"]),
            "n_leads": 12,
        },
    )
    write_json(out_json, summary)
    state.unlink(missing_ok=True)
    log(
        f"classifier {fold}: best epoch {summary['best_epoch']}, val macro-AUC {summary['val']['macro_auc']:.3f}, "
        f"macro-F1 {summary['val']['macro_f1']:.3f}"
    )
    return summary


def load_classifier(path, device="cpu") -> tuple[SuperclassCNN, np.ndarray, list[str]]:
    """(model, thresholds, classes) from a checkpoint written by :func:`train_from_clean`."""
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
        model = SuperclassCNN(int(ck["n_leads"]), len(ck["classes"]), int(ck["width"]), float(ck["dropout"]))
        model.load_state_dict(ck["state_dict"])
    except FileNotFoundError as exc:
        raise ArtifactError(f"{path}: classifier checkpoint not found") from exc
    except Exception as exc:  # noqa: BLE001
        raise ArtifactError(f"{path}: not a readable classifier checkpoint ({exc})") from exc
    return model.to(device).eval(), np.asarray(ck["thresholds"], dtype=np.float64), list(ck["classes"])


def retention_table(
    model: nn.Module, thresholds: np.ndarray, y: np.ndarray, records: dict[str, np.ndarray], classes=CLASSES, device="cpu"
) -> pd.DataFrame:
    """Macro-F1 / macro-AUC per method and retention relative to ``records['original']``.

    ``records``: method -> (n, 12, T) test records (same records, same order as ``y``).
    """
    if "original" not in records:
        raise ValueError("records must include 'original' (the unmodified 12-lead records)")
    rows = []
    for method, x in records.items():
        _check_records(x, y, f"records of {method}")
        s = scores_summary(y, predict_proba(model, x, device), thresholds, classes)
        rows.append(
            {
                "method": method,
                "n_records": len(x),
                "macro_f1": s["macro_f1"],
                "macro_auc": s["macro_auc"],
                **{f"f1_{c}": s["f1"][c] for c in classes},
                **{f"auc_{c}": s["auc"][c] for c in classes},
                "classes_undefined": ",".join(sorted(set(s["auc_undefined"]) | set(s["f1_undefined"]))),
            }
        )
    table = pd.DataFrame(rows)
    orig = table.set_index("method").loc["original"]
    table["f1_retention"] = table["macro_f1"] / orig["macro_f1"]
    table["auc_retention"] = table["macro_auc"] / orig["macro_auc"]
    return table
