"""Realism of the diffusion prior (issue #16): unconditional samples against real training windows, same measures.

Both sets are windows of the prior's 8 independent leads (I, II, V1-V6, mV); the 12 leads are derived from them
(:func:`ecgrecon.learn.diffusion.prior.derive_12`, Einthoven / Goldberger) and every window goes through the
measures of ``bench/realism_report.py`` (:func:`ecgrecon.signal.measures.record_features`, one window as one
record): per-lead peak-to-peak and RMS after the 0.5-45 Hz band-pass, heart rate from the R peaks detected on
lead II, QRS duration of the median beat (spatial velocity of the 8 independent leads).

Short windows. The prior's windows are 256 samples (2.56 s) at 100 Hz: a window holds 2-4 beats at 50-100
beats/min, so its heart rate is the median of 1-3 RR intervals and its median beat is made of the 1-3 beats whose
whole [-300, +500] ms window fits inside. A measure is *undefined* (NaN) for a window where it cannot be taken:
heart rate with fewer than 2 R peaks, QRS duration with no complete beat (and every measure of a window with
non-finite values); the table reports the share of windows where each measure is defined, per set, and the
distribution summaries and distances use the defined values only.

Table (:func:`prior_realism`, :func:`compare_measures`): one row per measure (``ptp`` and ``rms`` per lead,
``hr``, ``qrs_ms``) with, for the reference (``ref_``) and the samples (``samp_``): n, defined share, mean,
percentiles 5 / 25 / 50 / 75 / 95 and IQR; and the distances between the two sets: the 1-D Wasserstein distance
(:func:`scipy.stats.wasserstein_distance`, in the measure's unit), the same divided by the reference IQR
(``w_iqr``: unit-free, comparable across measures; NaN when the reference IQR is 0) and the two-sample
Kolmogorov-Smirnov statistic (:func:`scipy.stats.ks_2samp`, in [0, 1]).

Driver (:func:`prior_realism_from_files`): n unconditional DDIM samples of the trained prior (a seeded
``torch.Generator``) against n windows of the fold's train split (a seeded choice), written as CSV, markdown and
PNG, atomically.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.stats import ks_2samp, wasserstein_distance

from ecgrecon import LEADS12
from ecgrecon.data.datasets import ArtifactError, load_folds, read_leads, read_segment_meta, split_rows
from ecgrecon.evaluation.cells import fmt
from ecgrecon.io.atomic import atomic_path, save_png, write_csv
from ecgrecon.learn.device import derive_seed, resolve_device
from ecgrecon.learn.diffusion.prior import PRIOR_LEADS, derive_12, load_prior, load_prior_windows, require_match, sample_unconditional
from ecgrecon.learn.diffusion.records import record_length, to_records
from ecgrecon.signal.measures import record_features

SETS = ("ref", "samp")
"""Column prefixes of the two sets: the real (reference) windows and the prior's samples."""
UNITS = {"ptp": "mV", "rms": "mV", "hr": "beats/min", "qrs_ms": "ms"}
QUANTILES = (5, 25, 50, 75, 95)


def measure_columns() -> list[str]:
    """Columns of :func:`window_measures`: ptp_<lead>, rms_<lead> (``LEADS12`` order), hr, qrs_ms."""
    return [f"ptp_{k}" for k in LEADS12] + [f"rms_{k}" for k in LEADS12] + ["hr", "qrs_ms"]


def window_measures(x8: np.ndarray, fs: float) -> pd.DataFrame:
    """One row per window of x8 (n, 8, W) mV in ``PRIOR_LEADS`` order: the measures of its derived 12 leads
    (columns :func:`measure_columns`; NaN where undefined, every column NaN for a window with non-finite values)."""
    x8 = np.asarray(x8, dtype=np.float64)
    if x8.ndim != 3 or x8.shape[1] != len(PRIOR_LEADS):
        raise ValueError(f"windows must be (n, {len(PRIOR_LEADS)}, W) in leads {', '.join(PRIOR_LEADS)}, got shape {x8.shape}")
    cols = measure_columns()
    rows = np.full((len(x8), len(cols)), np.nan)
    for i, x12 in enumerate(derive_12(x8)):
        if not np.isfinite(x12).all():
            continue
        f = record_features(x12.T, fs)
        rows[i] = np.concatenate([f["ptp"], f["rms"], [f["hr"], f["qrs_ms"]]])
    return pd.DataFrame(rows, columns=cols)


def _summary(v: np.ndarray, prefix: str) -> dict:
    ok = v[np.isfinite(v)]
    q = np.percentile(ok, QUANTILES) if len(ok) else np.full(len(QUANTILES), np.nan)
    out = {f"{prefix}_n": len(v), f"{prefix}_defined": len(ok) / len(v) if len(v) else np.nan}
    out[f"{prefix}_mean"] = float(ok.mean()) if len(ok) else np.nan
    out.update({f"{prefix}_p{p}": float(x) for p, x in zip(QUANTILES, q)})
    out[f"{prefix}_median"] = out.pop(f"{prefix}_p50")
    out[f"{prefix}_iqr"] = out[f"{prefix}_p75"] - out[f"{prefix}_p25"]
    return out


def compare_measures(samples: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    """The realism table (module docstring) of two per-window measure tables (:func:`window_measures`)."""
    rows = []
    for col in measure_columns():
        kind, _, lead = col.partition("_") if col.startswith(("ptp_", "rms_")) else (col, "", "")
        u, v = reference[col].to_numpy(np.float64), samples[col].to_numpy(np.float64)
        row = {"measure": col, "kind": kind, "lead": lead, "unit": UNITS[kind], **_summary(u, "ref"), **_summary(v, "samp")}
        u, v = u[np.isfinite(u)], v[np.isfinite(v)]
        w = float(wasserstein_distance(u, v)) if len(u) and len(v) else np.nan
        iqr = row["ref_iqr"]
        row["wasserstein"] = w
        row["w_iqr"] = w / iqr if np.isfinite(iqr) and iqr > 0 else np.nan
        row["ks"] = float(ks_2samp(u, v).statistic) if len(u) and len(v) else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def prior_realism(samples_8: np.ndarray, reference_8: np.ndarray, fs: float) -> pd.DataFrame:
    """The realism table of prior samples (n, 8, W) mV against reference windows (m, 8, W) mV at ``fs`` Hz.

    The 12 leads are derived from the 8 (``derive_12``); each window is measured as one record (ptp / RMS per
    lead after the 0.5-45 Hz band-pass, heart rate from R peaks on lead II, QRS duration of the median beat).
    At 256 samples (2.56 s) at 100 Hz the heart rate and the QRS duration of a window come from only 2-4 beats
    (1-3 RR intervals; the complete beats of the median beat), and are NaN where no such beats are found; the
    ``*_defined`` columns give the share of windows where each measure is defined. One row per measure: both
    sets' n, defined share, mean, p5 / p25 / median / p75 / p95, IQR, and the Wasserstein distance (raw and
    divided by the reference IQR, ``w_iqr``) and the KS statistic between them."""
    return compare_measures(window_measures(samples_8, fs), window_measures(reference_8, fs))


def _digits(kind: str) -> int:
    return {"ptp": 2, "rms": 3, "hr": 1, "qrs_ms": 1}[kind]


def realism_markdown(df: pd.DataFrame, meta: Mapping) -> str:
    """A short markdown report of the table: the sizes and settings in ``meta`` (key: value), then per measure the
    reference and sample median [IQR], the defined shares (rate and QRS) and the distances (W / ref IQR, KS)."""
    head = ", ".join(f"{k} {v}" for k, v in meta.items())
    lines = [
        "# Diffusion prior: realism of unconditional samples",
        "",
        f"{head}." if head else "",
        "",
        "Measures of the 12 leads derived from the 8 (ptp and RMS after a 0.5-45 Hz band-pass; heart rate from the "
        "R peaks on lead II; QRS duration of the median beat). Windows of 2.56 s: the rate and the QRS come from 2-4 "
        "beats per window, and are missing (NaN) where none are found; 'defined' is the share of windows where the "
        "measure could be taken. Distance: 1-D Wasserstein distance divided by the reference IQR (0: the same "
        "distribution; 1: shifted by one reference IQR) and the two-sample KS statistic.",
        "",
        "| measure | unit | reference median [IQR] | samples median [IQR] | defined ref / samples | W / ref IQR | KS |",
        "|---|---|---|---|---|---|---|",
    ]
    order = sorted(range(len(df)), key=lambda i: (0 if df["kind"].iloc[i] in ("hr", "qrs_ms") else 1, i))
    for i in order:
        r = df.iloc[i]
        d = _digits(r["kind"])
        ref = f"{fmt(r['ref_median'], d, '-')} [{fmt(r['ref_p25'], d, '-')}, {fmt(r['ref_p75'], d, '-')}]"
        smp = f"{fmt(r['samp_median'], d, '-')} [{fmt(r['samp_p25'], d, '-')}, {fmt(r['samp_p75'], d, '-')}]"
        shares = f"{r['ref_defined']:.0%} / {r['samp_defined']:.0%}"
        lines.append(f"| {r['measure']} | {r['unit']} | {ref} | {smp} | {shares} | {fmt(r['w_iqr'], 2, '-')} | {fmt(r['ks'], 2, '-')} |")
    summary = []
    for kind in ("ptp", "rms"):
        sub = df[df["kind"] == kind]
        if len(sub):
            summary.append(f"{kind}: mean W / ref IQR over the 12 leads {fmt(float(np.nanmean(sub['w_iqr'])), 2, '-')}")
    if summary:
        lines += ["", "; ".join(summary) + "."]
    return "\n".join(lines) + "\n"


def _from_summary(df: pd.DataFrame, prefix: str, col: str) -> dict:
    r = df.set_index("measure").loc[col]
    return {
        "med": r[f"{prefix}_median"],
        "q1": r[f"{prefix}_p25"],
        "q3": r[f"{prefix}_p75"],
        "whislo": r[f"{prefix}_p5"],
        "whishi": r[f"{prefix}_p95"],
        "fliers": [],
    }


def realism_figure(data: pd.DataFrame | Mapping[str, pd.DataFrame], path, title: str = "Diffusion prior samples vs real windows") -> None:
    """Figure of the main measures for both sets, saved atomically as PNG.

    ``data``: the realism table (:func:`compare_measures`: per-lead ptp and RMS as median and IQR, rate and QRS as
    box plots of p5 / p25 / median / p75 / p95) or the per-window measures ``{"reference": ..., "samples": ...}``
    (:func:`window_measures`: the same per-lead panels, and histograms of rate and QRS duration)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    raw = not isinstance(data, pd.DataFrame)
    table = compare_measures(data["samples"], data["reference"]) if raw else data
    names = {"ref": "reference (real)", "samp": "prior samples"}
    colors = {"ref": "tab:blue", "samp": "tab:pink"}
    fig, axes = plt.subplots(2, 2, figsize=(13, 8))
    x = np.arange(len(LEADS12))
    for ax, kind, label in ((axes[0, 0], "ptp", "peak-to-peak (mV)"), (axes[0, 1], "rms", "RMS (mV)")):
        sub = table[table["kind"] == kind].set_index("lead").reindex(list(LEADS12))
        for j, p in enumerate(SETS):
            med, lo, hi = sub[f"{p}_median"].to_numpy(), sub[f"{p}_p25"].to_numpy(), sub[f"{p}_p75"].to_numpy()
            ax.errorbar(x + (j - 0.5) * 0.3, med, yerr=[med - lo, hi - med], fmt="o", capsize=3, color=colors[p], label=names[p])
        ax.set_xticks(x, LEADS12)
        ax.set_ylabel(label + ", median and IQR")
        ax.legend()
    for ax, col, label in ((axes[1, 0], "hr", "heart rate (beats/min)"), (axes[1, 1], "qrs_ms", "QRS duration (ms)")):
        shares = "; ".join(f"{names[p]} {table.set_index('measure').loc[col, f'{p}_defined']:.0%}" for p in SETS)
        if raw:
            vals = {p: d[col].to_numpy(np.float64) for p, d in (("ref", data["reference"]), ("samp", data["samples"]))}
            vals = {p: v[np.isfinite(v)] for p, v in vals.items()}
            both = np.concatenate(list(vals.values()))
            bins = np.linspace(both.min(), both.max() + 1e-9, 25) if len(both) else 10
            for p in SETS:
                if len(vals[p]):
                    ax.hist(vals[p], bins=bins, density=True, alpha=0.5, color=colors[p], label=names[p])
            ax.set_xlabel(label)
            ax.set_ylabel("density")
            ax.legend()
        else:
            stats = [_from_summary(table, p, col) for p in SETS]
            if all(np.isfinite(s["med"]) for s in stats):
                ax.bxp(stats, showfliers=False)
            ax.set_xticks([1, 2], [names[p] for p in SETS])
            ax.set_ylabel(label + ", box 25-75 %, whiskers 5-95 %")
        ax.set_title(f"defined in: {shares}", fontsize=9)
    fig.suptitle(title)
    fig.tight_layout()
    save_png(fig, path, dpi=90)


def _reference_windows(segments_h5, folds_json, fold: str, n: int, seed: int, kind: str = "segment") -> tuple[np.ndarray, float, int, int]:
    """n windows (a seeded choice, in file order) of the fold's train split: (x (n, 8, W) mV, fs, window, n_train).
    ``kind='record'``: n whole train records (W: their common length before the 10.24-s padding)."""
    if kind == "record":
        w = load_prior_windows(segments_h5, folds_json, fold, "train", group="records")
        ids, x, n_valid = to_records(w.x, w.meta, record_length(w.fs))
        rng = np.random.default_rng(derive_seed(seed, "prior-realism", "reference"))
        pick = np.sort(rng.choice(len(ids), size=min(n, len(ids)), replace=False))
        keep = int(n_valid[pick].min())
        return x[pick, :, :keep], w.fs, keep, len(ids)
    meta, attrs = read_segment_meta(segments_h5)
    split_ids = load_folds(folds_json, fold)
    if "train" not in split_ids:
        raise ArtifactError(f"{folds_json}: fold '{fold}' has no split 'train'")
    rows = split_rows(meta, split_ids, segments_h5)["train"]
    if not len(rows):
        raise ArtifactError(f"{segments_h5}: no segment windows of fold '{fold}' split 'train'")
    rng = np.random.default_rng(derive_seed(seed, "prior-realism", "reference"))
    pick = np.sort(rng.choice(rows, size=min(n, len(rows)), replace=False))
    return read_leads(segments_h5, list(PRIOR_LEADS), pick), float(attrs["fs"]), int(attrs["window"]), len(rows)


def prior_realism_from_files(
    prior_pt,
    segments_h5,
    folds_json,
    out: Mapping[str, str | Path],
    *,
    n: int,
    steps: int,
    seed: int,
    fold: str = "official",
    device: str = "cpu",
    eta: float = 0.0,
    log: Callable[[str], None] = print,
) -> pd.DataFrame:
    """Draw ``n`` unconditional samples of the prior at ``prior_pt`` (DDIM, ``steps`` steps, ``eta``; noise from a
    ``torch.Generator`` seeded with ``seed``) and compare them with ``n`` windows of the train split of ``fold``
    (a choice seeded by ``seed``); write ``out["csv"]`` (the table), ``out["md"]`` and ``out["png"]`` atomically.
    The prior must match the segments' leads, rate and window (:func:`load_prior`). Returns the table."""
    if n < 2 or steps < 1:
        raise ValueError(f"need n >= 2 windows and steps >= 1, got n {n}, steps {steps}")
    missing = [k for k in ("csv", "md", "png") if k not in out]
    if missing:
        raise ValueError(f"out needs the paths {missing}")
    dev = resolve_device(device)
    prior = load_prior(prior_pt, leads=PRIOR_LEADS, device=dev)
    kind = prior.settings.window
    ref, fs, window, n_train = _reference_windows(segments_h5, folds_json, fold, n, seed, kind)
    require_match(prior_pt, (prior.leads, prior.fs, prior.window), fs=fs, window=record_length(fs) if kind == "record" else window)
    log(f"prior realism: {len(ref)} of {n_train} train windows (fold {fold}); sampling {n} windows, {steps} DDIM steps on {dev}")
    t0 = time.perf_counter()
    samples = sample_unconditional(
        prior.model,
        prior.schedule,
        n,
        steps=steps,
        generator=torch.Generator().manual_seed(int(seed)),
        scale=prior.scale,
        window=prior.window,
        eta=eta,
        clip=prior.ckpt.get("x0_clip"),
        prediction=prior.settings.prediction,
    )
    seconds = time.perf_counter() - t0
    samples = samples[..., :window]  # a record prior's samples without the padding of the 10.24-s window
    n_bad = int((~np.isfinite(samples).all(axis=(1, 2))).sum())
    log(f"prior realism: {n} samples in {seconds:.1f} s" + (f" ({n_bad} with non-finite values: measures NaN)" if n_bad else ""))
    values = {"reference": window_measures(ref, fs), "samples": window_measures(samples, fs)}
    table = compare_measures(values["samples"], values["reference"])
    meta = {
        "samples": n,
        "reference windows": f"{len(ref)} (train split of fold {fold}, {n_train} there)",
        "DDIM steps": steps,
        "eta": eta,
        "seed": seed,
        "window": f"{window} samples at {fs:g} Hz" + (" (whole records; the prior's window is 10.24 s)" if kind == "record" else ""),
        "prior best step": prior.ckpt.get("best_step", "?"),
        "sampling": f"{seconds:.1f} s on {dev}",
    }
    write_csv(out["csv"], table.round(6))
    with atomic_path(out["md"]) as tmp:
        tmp.write_text(realism_markdown(table, meta))
    realism_figure(values, out["png"], title=f"Diffusion prior: {n} samples vs {len(ref)} real train windows ({steps} DDIM steps)")
    worst = table.sort_values("w_iqr", ascending=False).iloc[0]
    log(f"prior realism: largest W / ref IQR {worst['w_iqr']:.2f} ({worst['measure']}); written {out['csv']}, {out['md']}, {out['png']}")
    return table
