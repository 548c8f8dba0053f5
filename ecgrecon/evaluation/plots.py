"""Figures of the learning stages (matplotlib, Agg backend, written atomically as PNG)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ecgrecon.io.atomic import save_png  # noqa: E402
from ecgrecon.methods import REGISTRY  # noqa: E402


def color(name: str) -> str:
    """Line colour of the ground truth or a method (the registry's)."""
    return "black" if name == "truth" else REGISTRY[name].color if name in REGISTRY else "tab:gray"


def label(name: str) -> str:
    """Legend entry of the ground truth or a method (the registry's)."""
    if name == "truth":
        return "ground truth"
    return (REGISTRY[name].legend or REGISTRY[name].display) if name in REGISTRY else name


def _empty(path, title: str, why: str) -> None:
    """A figure that says why there is nothing to draw (e.g. no labelled test segment)."""
    fig, ax = plt.subplots(figsize=(4, 2))
    ax.axis("off")
    ax.set_title(title)
    ax.text(0.5, 0.5, why, ha="center", va="center")
    _save(fig, path)


def _save(fig, path) -> None:
    save_png(fig, path, dpi=110, bbox_inches="tight")


def affinity_heatmap(matrix: np.ndarray, classes: list[str], path, title: str) -> None:
    """Class-to-class k-NN affinity matrix (rows: query class, columns: neighbour class)."""
    if not len(classes):
        return _empty(path, title, "no labelled test segments")
    fig, ax = plt.subplots(figsize=(1.0 + 0.7 * len(classes), 0.6 + 0.7 * len(classes)))
    im = ax.imshow(matrix, vmin=0, vmax=1, cmap="viridis")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    for i in range(len(classes)):
        for j in range(len(classes)):
            if np.isfinite(matrix[i, j]):
                ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", color="white" if matrix[i, j] < 0.6 else "black", fontsize=8)
    ax.set_xlabel("neighbour class")
    ax.set_ylabel("query class")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.046)
    _save(fig, path)


def class_radar(values: dict[str, dict[str, float]], path, title: str) -> None:
    """Radar of RMSE (mV) per class; ``values[variant][class]``."""
    classes = list(next(iter(values.values()), {}).keys())
    if not classes:
        return _empty(path, title, "no labelled test segments")
    angles = np.linspace(0, 2 * np.pi, len(classes), endpoint=False).tolist()
    fig = plt.figure(figsize=(5.5, 5.5))
    ax = fig.add_subplot(projection="polar")
    for variant, per_class in values.items():
        v = [per_class[c] for c in classes]
        ax.plot(angles + angles[:1], v + v[:1], "o-", color=color(variant), label=label(variant))
        ax.fill(angles + angles[:1], v + v[:1], color=color(variant), alpha=0.1)
    ax.set_xticks(angles, classes, fontsize=8)
    ax.set_title(title)
    ax.legend(loc="upper right", bbox_to_anchor=(1.3, 1.1))
    _save(fig, path)


def qualitative(examples: list[dict], leads: list[str], fs: float, path) -> None:
    """Rows: one beat per class; columns: target leads; ground truth vs each variant (mV).

    ``examples``: dicts with ``title`` and ``signals`` {"truth"|variant: (n_leads, n) array}.
    """
    if not examples:
        return _empty(path, "qualitative examples", "no labelled test segments")
    rows, cols = len(examples), len(leads)
    fig, axes = plt.subplots(rows, cols, figsize=(2.3 * cols, 1.7 * rows), squeeze=False, sharex=True)
    for r, ex in enumerate(examples):
        for c, lead in enumerate(leads):
            ax = axes[r, c]
            for name, sig in ex["signals"].items():
                t = np.arange(sig.shape[1]) / fs
                ax.plot(t, sig[c], color=color(name), lw=1.4 if name == "truth" else 1.0, label=label(name))
            if r == 0:
                ax.set_title(lead)
            if c == 0:
                ax.set_ylabel(f"{ex['title']}\nmV", fontsize=8)
            if r == rows - 1:
                ax.set_xlabel("s")
    axes[0, -1].legend(fontsize=7, loc="upper right")
    _save(fig, path)
