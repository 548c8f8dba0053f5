"""Training curves (matplotlib, Agg backend, written atomically as PNG)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from ecgrecon.io.atomic import save_png  # noqa: E402


def loss_curve(history: pd.DataFrame, path, title: str = "") -> None:
    """Train and validation loss per epoch; the best epoch marked."""
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(history["epoch"], history["train_loss"], "o-", label="train")
    ax.plot(history["epoch"], history["val_loss"], "s-", label="validation")
    best = history.loc[history["val_loss"].idxmin()]
    ax.axvline(best["epoch"], color="grey", ls=":", label=f"best (epoch {int(best['epoch'])})")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.legend()
    save_png(fig, path, dpi=110, bbox_inches="tight")
