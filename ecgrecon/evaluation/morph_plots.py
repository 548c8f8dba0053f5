"""Bland-Altman figure of the morphology measures of one lead, all methods side by side."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ecgrecon.io.atomic import save_png  # noqa: E402
from ecgrecon.signal.morphology import QUANTITIES, QUANTITY_NAMES  # noqa: E402


def bland_altman_stats(truth: np.ndarray, recon: np.ndarray) -> dict:
    """Means, differences (recon - truth), bias and 95 % limits of agreement over finite pairs."""
    t, r = np.asarray(truth, np.float64), np.asarray(recon, np.float64)
    ok = np.isfinite(t) & np.isfinite(r)
    diff, mean = r[ok] - t[ok], (r[ok] + t[ok]) / 2
    bias = float(diff.mean()) if len(diff) else np.nan
    sd = float(diff.std(ddof=1)) if len(diff) > 1 else np.nan
    return {"mean": mean, "diff": diff, "bias": bias, "sd": sd, "loa": (bias - 1.96 * sd, bias + 1.96 * sd), "n": int(ok.sum())}


def bland_altman_figure(errors: pd.DataFrame, lead: str, path, title: str = "") -> dict:
    """One panel per method (rows) and quantity (columns) for ``lead``; returns the statistics.

    ``errors``: the long table of :func:`ecgrecon.signal.morphology.morphology_table` (columns method,
    lead, quantity, truth, recon). Writes a PNG atomically.
    """
    sub = errors[errors["lead"] == lead]
    if sub.empty:
        raise ValueError(f"no morphology values for lead {lead!r} (have {sorted(errors['lead'].unique())})")
    methods = list(dict.fromkeys(sub["method"]))
    fig, axes = plt.subplots(
        len(methods), len(QUANTITIES), figsize=(4.0 * len(QUANTITIES), 2.8 * len(methods)), squeeze=False, sharex="col"
    )
    stats = {}
    for i, m in enumerate(methods):
        for k, q in enumerate(QUANTITIES):
            g = sub[(sub["method"] == m) & (sub["quantity"] == q)]
            s = bland_altman_stats(g["truth"].to_numpy(), g["recon"].to_numpy())
            stats[(m, q)] = {key: s[key] for key in ("bias", "sd", "loa", "n")}
            ax = axes[i, k]
            ax.scatter(s["mean"], s["diff"], s=8, alpha=0.5)
            ax.axhline(0.0, color="grey", lw=0.8)
            if np.isfinite(s["bias"]):
                ax.axhline(s["bias"], color="tab:red", lw=1.2, label=f"bias {s['bias']:+.3f}")
            if np.isfinite(s["sd"]):
                for y in s["loa"]:
                    ax.axhline(y, color="tab:red", ls="--", lw=1.0)
                ax.plot([], [], "r--", label=f"LoA {s['loa'][0]:+.3f} / {s['loa'][1]:+.3f}")
            ax.set_title(f"{m}: {QUANTITY_NAMES[q]} (n={s['n']})", fontsize=9)
            if i == len(methods) - 1:
                ax.set_xlabel("mean of truth and reconstruction (mV)")
            if k == 0:
                ax.set_ylabel("reconstruction - truth (mV)")
            ax.legend(fontsize=7, loc="upper right")
    fig.suptitle(title or f"Bland-Altman, lead {lead}")
    fig.tight_layout()
    save_png(fig, path, dpi=110)
    return stats
