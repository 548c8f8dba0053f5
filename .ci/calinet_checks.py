"""What a CI run must hold for CaLiNet-E (method calinet) of a task that lists it (imported by the check scripts)."""

from pathlib import Path

import numpy as np
import pandas as pd

METHODS = {"GL", "PCM-raw", "PCM", "CaLiNet-E"}
CONDITIONS = {"cal 2 s", "cal 1 s", "cal 0.5 s"}


def check_calinet(work: Path, task: str) -> None:
    """The extended PCM table (finite, every method, the Mean row), the robustness table, the training log."""
    d = work / "results" / task / "calinet"
    m = pd.read_csv(d / "metrics.csv")
    assert METHODS <= set(m["method"]), (task, sorted(set(m["method"])))
    assert "Mean" in set(m["lead"]) and (m["n_windows"] > 0).all(), task
    assert np.isfinite(m[["pcc", "nrmse", "rmse", "r2"]].to_numpy()).all(), task
    rob = pd.read_csv(d / "robustness.csv")
    assert CONDITIONS <= set(rob["condition"]) and np.isfinite(rob["rmse"]).all(), (task, sorted(set(rob["condition"])))
    log = pd.read_csv(d / "train_log.csv")
    assert len(log) >= 2 and np.isfinite(log["val_loss"]).all(), task
    mean = m[m["lead"] == "Mean"].set_index("method")
    print(f"CaLiNet-E, task {task}: mean RMSE (mV) " + ", ".join(f"{k} {mean.loc[k, 'rmse']:.3f}" for k in mean.index))
