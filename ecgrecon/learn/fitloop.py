"""Resumable training loop with early stopping on a validation loss.

After every epoch the full training state (weights, optimizer, best weights so far, history)
is written atomically to a resume file. A rerun resumes from it only when its fingerprint
(configuration + data checksum) matches, otherwise training restarts cleanly. Each epoch's
randomness must depend only on (seed, epoch) so a resumed run ends bitwise identical to an
uninterrupted one. The caller writes the final checkpoint once, at the end.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ecgrecon.io.atomic import atomic_path


def fingerprint(settings: dict, *arrays: np.ndarray) -> str:
    """sha256 over the JSON of ``settings`` and the shapes and float64 sums of ``arrays``."""
    summary = [[list(a.shape), float(np.asarray(a, dtype=np.float64).sum())] for a in arrays]
    blob = json.dumps([settings, summary], sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()


def plain(d):
    """Tuples -> lists, at every depth (a weights_only-loadable, JSON-like settings dict for a checkpoint)."""
    if isinstance(d, dict):
        return {k: plain(v) for k, v in d.items()}
    if isinstance(d, list | tuple):
        return [plain(v) for v in d]
    return d


def resume_path(out_path) -> Path:
    """Resume state beside a checkpoint: ``x/{name}.pt`` -> ``x/{name}.resume.pt``."""
    p = Path(out_path)
    return p.with_name(p.stem + ".resume.pt")


def save_torch(path, obj) -> None:
    """torch.save atomically (only tensors, numbers, strings, lists, dicts: weights_only-loadable)."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def load_checkpoint(path, what: str) -> dict:
    """``torch.load(weights_only=True)`` of a finished checkpoint; ArtifactError naming the file."""
    from ecgrecon.data.datasets import ArtifactError

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        raise ArtifactError(f"{path}: {what} checkpoint not found") from exc
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same clear message
        raise ArtifactError(f"{path}: not a readable {what} checkpoint ({exc})") from exc


def load_state(path, expected_fingerprint: str, log=print) -> dict | None:
    """The saved state if present, loadable and made for the same fingerprint, else None."""
    p = Path(path)
    if not p.exists():
        return None
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - an unreadable state means a clean restart
        log(f"resume state {p} unreadable ({exc}); restarting from scratch")
        return None
    if state.get("fingerprint") != expected_fingerprint:
        log(f"resume state {p} was made for other settings or data; restarting from scratch")
        return None
    log(f"resuming from {p}: {state['epochs_done']} epoch(s) done")
    return state


def _snapshot(modules: dict[str, nn.Module]) -> dict:
    return {name: {k: v.detach().cpu().clone() for k, v in m.state_dict().items()} for name, m in modules.items()}


def _score(modules: dict[str, nn.Module], validate: Callable[[], dict]) -> dict:
    """``validate()`` with every module in eval mode and gradients off, as floats."""
    for m in modules.values():
        m.eval()
    with torch.no_grad():
        return {k: float(v) for k, v in validate().items()}


def lr_factor(schedule: str, epoch: int, max_epochs: int, warmup: int = 0, floor: float = 0.0) -> float:
    """Learning-rate multiplier of an epoch (0-based): ``constant`` 1; ``cosine`` 0.5 (1 + cos(pi epoch / max_epochs)).

    ``warmup`` > 0 holds the rate for that many epochs first and then decays over the remaining ones, and
    ``floor`` is the multiplier the decay ends at: ``floor + (1 - floor) 0.5 (1 + cos(pi k / (max_epochs -
    warmup)))`` with k = max(0, epoch - warmup) (the paper's encoder: PyTorch's CosineAnnealingLR with
    eta_min, stepped only after its warm-up epochs). A pure function of the epoch, so a resumed run sets
    exactly the same rates. ``plateau`` (rate halved when the validation loss stalls) has state; :func:`fit`
    runs it and this returns 1.
    """
    if schedule in ("constant", "plateau"):
        return 1.0
    if schedule == "cosine":
        if not warmup and not floor:
            return 0.5 * (1.0 + math.cos(math.pi * epoch / max_epochs))
        k, span = max(0, epoch - warmup), max(1, max_epochs - warmup)
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * k / span))
    raise ValueError(f"unknown lr_schedule {schedule!r} (constant, cosine or plateau)")


def step(optimizer: torch.optim.Optimizer, loss: torch.Tensor, clip: float | None = None) -> float:
    """One optimiser step on ``loss`` (gradients cleared first; their global norm clipped to ``clip`` when
    given); returns the loss as a float."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if clip:
        torch.nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]], float(clip))
    optimizer.step()
    return loss.item()


def _fresh_state(modules: dict[str, nn.Module], fp: str) -> dict:
    return {
        "fingerprint": fp,
        "epochs_done": 0,
        "stopped": False,
        "best_val": float("inf"),
        "best_epoch": -1,
        "bad_epochs": 0,
        "history": [],
        "best": _snapshot(modules),
    }


def _score_untrained(state: dict, modules: dict[str, nn.Module], validate: Callable[[], dict], log) -> None:
    """History row ``epoch`` 0: the untrained weights, which stay the best unless an epoch beats them."""
    val = _score(modules, validate)
    if not np.isfinite(val["val_loss"]):
        raise FloatingPointError(f"epoch 0: validation loss is not finite ({val['val_loss']})")
    state.update(best_val=val["val_loss"], best_epoch=0)
    state["history"].append({"epoch": 0, "lr": 0.0, "train_loss": float("nan"), **val, "best": True, "seconds": 0.0})
    log(f"epoch 0 (before training: the initial or pre-trained weights): val {val['val_loss']:.5f} *")


def _run_epoch(state: dict, epoch: int, modules, optimizer, base_lrs, train_epoch, validate, budget, *, state_path, log) -> None:
    """Train and score one epoch, update the best weights and the patience count, save the resume state."""
    t0 = time.perf_counter()
    for g, lr in zip(optimizer.param_groups, base_lrs):
        g["lr"] = lr * budget.factor(epoch) * state.get("plateau_scale", 1.0)
    for m in modules.values():
        m.train()
    train_loss = float(train_epoch(epoch))
    val = _score(modules, validate)
    if not np.isfinite(train_loss) or not np.isfinite(val["val_loss"]):
        raise FloatingPointError(f"epoch {epoch + 1}: loss is not finite (train {train_loss}, val {val['val_loss']})")
    improved = val["val_loss"] < state["best_val"] - budget.min_delta
    if budget.lr_schedule == "plateau":
        _plateau_step(state, val["val_loss"], budget)
    if improved:
        state.update(best_val=val["val_loss"], best_epoch=epoch + 1, bad_epochs=0, best=_snapshot(modules))
    else:
        state["bad_epochs"] += 1
    row = {
        "epoch": epoch + 1,
        "lr": optimizer.param_groups[0]["lr"],
        "train_loss": train_loss,
        **val,
        "best": improved,
        "seconds": round(time.perf_counter() - t0, 3),
    }
    state["history"].append(row)
    state["epochs_done"] = epoch + 1
    state["stopped"] = state["bad_epochs"] >= budget.patience
    state["current"] = _snapshot(modules)
    state["optimizer"] = optimizer.state_dict()
    save_torch(state_path, state)
    log(
        f"epoch {epoch + 1}/{budget.max_epochs}: train {train_loss:.5f} val {val['val_loss']:.5f}"
        f"{' *' if improved else ''} ({row['seconds']:.1f} s)"
    )


def _plateau_step(state: dict, val_loss: float, budget: Budget) -> None:
    """PyTorch's ReduceLROnPlateau (mode min, relative threshold 1e-4, no cooldown) on the state dict, so that
    it resumes with the rest: after more than ``plateau_patience`` epochs without a relative improvement
    of the plateau's own best, the rate scale is multiplied by ``plateau_factor``."""
    best = state.get("plateau_best", float("inf"))
    if val_loss < best * (1.0 - 1e-4):
        state["plateau_best"], state["plateau_bad"] = val_loss, 0
    else:
        state["plateau_bad"] = state.get("plateau_bad", 0) + 1
    if state["plateau_bad"] > budget.plateau_patience:
        state["plateau_scale"] = state.get("plateau_scale", 1.0) * budget.plateau_factor
        state["plateau_bad"] = 0


@dataclass(frozen=True)
class Budget:
    """How long a fit runs: at most ``max_epochs``, stopping after ``patience`` epochs without a lower validation loss,
    with the per-epoch learning-rate ``lr_schedule`` (:func:`lr_factor`)."""

    max_epochs: int
    patience: int
    lr_schedule: str
    warmup: int = 0  # cosine: epochs at the full rate before the decay
    floor: float = 0.0  # cosine: multiplier the decay ends at
    plateau_factor: float = 0.5  # plateau: the rate is multiplied by this ...
    plateau_patience: int = 5  # ... after this many epochs without a lower validation loss
    min_delta: float = 0.0  # an epoch improves when its validation loss is below the best minus this

    @classmethod
    def of(cls, cfg: dict, lr_schedule: str | None = None) -> Budget:
        """From a config section (``max_epochs``, ``patience``, and ``lr_schedule`` unless given); a section whose
        schedule is ``plateau`` also gives ``plateau: {factor, patience}`` and ``min_delta``."""
        schedule = cfg["lr_schedule"] if lr_schedule is None else lr_schedule
        plateau = {}
        if schedule == "plateau":
            p = cfg["plateau"]
            plateau = {"plateau_factor": float(p["factor"]), "plateau_patience": int(p["patience"]), "min_delta": float(cfg["min_delta"])}
        return cls(int(cfg["max_epochs"]), int(cfg["patience"]), schedule, **plateau)

    def factor(self, epoch: int) -> float:
        return lr_factor(self.lr_schedule, epoch, self.max_epochs, self.warmup, self.floor)


def fit(
    modules: dict[str, nn.Module],
    optimizer: torch.optim.Optimizer,
    train_epoch: Callable[[int], float],
    validate: Callable[[], dict],
    *,
    budget: Budget,
    state_path,
    fp: str,
    log=print,
    epoch_hook: Callable[[int], None] | None = None,
    validate_initial: bool = False,
) -> dict:
    """Train until ``max_epochs`` or ``patience`` epochs without a lower ``val_loss``.

    ``train_epoch(epoch)`` returns the mean training loss; ``validate()`` returns a dict of
    floats with at least ``val_loss``. Returns best weights per module, best epoch and loss,
    and the per-epoch history. ``epoch_hook(epoch)`` runs after the epoch's state is saved.
    Each epoch's learning rate is the optimizer's base rate times :func:`lr_factor`.
    ``validate_initial``: score the untrained weights first (history row ``epoch`` 0); they stay
    the best weights unless an epoch beats them (e.g. a residual model that starts as its anchor).
    """
    base_lrs = [g["lr"] for g in optimizer.param_groups]
    state = load_state(state_path, fp, log)
    if state is None:
        state = _fresh_state(modules, fp)
        if validate_initial:
            _score_untrained(state, modules, validate, log)
    else:
        for name, m in modules.items():
            m.load_state_dict(state["current"][name])
        optimizer.load_state_dict(state["optimizer"])
    for g, lr in zip(optimizer.param_groups, base_lrs):
        g["lr"] = lr
    for epoch in range(state["epochs_done"], budget.max_epochs):
        if state["stopped"]:
            break
        _run_epoch(state, epoch, modules, optimizer, base_lrs, train_epoch, validate, budget, state_path=state_path, log=log)
        if epoch_hook is not None:
            epoch_hook(epoch)
    if state["stopped"]:
        log(f"early stop: no improvement for {budget.patience} epochs; best epoch {state['best_epoch']}")
    return {"best": state["best"], "best_epoch": state["best_epoch"], "best_val": state["best_val"], "history": state["history"]}
