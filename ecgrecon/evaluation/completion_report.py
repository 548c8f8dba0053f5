"""Printout completion in the pipeline (rule complete_printouts; ecgrecon.printout.complete): the digitised partial
records of digitize_printouts -> 12 leads x 10 s by each completion method, scored against the rendered records.

:func:`complete_from_files`: fits the GL completion map (lead II +-K -> the 11 other leads) on the train segments of
the official fold (alpha on its val segments; never its test segments) and saves it as JSON, completes every image of
digitized.h5 with ``visible``, ``GL`` and ``PPM`` (:func:`~ecgrecon.printout.complete.complete_record`), and with
``diffusion`` when a prior is given (the run trains it: results/prior/model.pt; ``printout.completion.diffusion``) and writes

- ``completion.h5``: ``signals/{method}`` (n_images, n, 12) mV (NaN for a skipped image), per image ``ecg_id``,
  ``level``, ``image``, ``skipped``, ``reason``; per image and lead ``fallback`` (PPM used GL) and ``alpha`` (PPM's a);
  with a prior also per image ``diffusion_nfe`` (network evaluations per sample), ``diffusion_seconds``,
  ``diffusion_empty`` (windows with nothing observed: GL there);
- the metrics table (:func:`metrics_table`: per level, method, region and lead, + ``Mean``) as CSV and Markdown;
- an example figure (:func:`example_figure`: one record, truth, digitised windows, completions).

A skipped image (rhythm strip not read, e.g. the digitiser failed on it) is logged with its reason, counted in
``n_skipped`` and left out of every mean, for every method, so the methods are compared on the same images. A lead
whose window was not read falls back to GL in PPM: counted per level in ``n_fallback`` (lead windows).
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from ecgrecon import LEADS12
from ecgrecon.data.datasets import ArtifactError, read_segment_meta
from ecgrecon.evaluation.cells import fmt
from ecgrecon.evaluation.printout_report import FOLD, nanmean, nanmedian, read_truth
from ecgrecon.io.atomic import atomic_path, save_png, write_csv
from ecgrecon.learn.device import resolve_device
from ecgrecon.learn.diffusion.prior import PRIOR_LEADS, load_prior
from ecgrecon.printout.complete import (
    METHODS,
    REFERENCE,
    REGIONS,
    SCORES,
    CompletionError,
    DiffusionSetup,
    complete_record,
    completion_scores,
    fit_gl,
    region_masks,
)
from ecgrecon.printout.layout import LEAD_NAMES

COLUMNS = ("snr_mean_db", "snr_median_db", "pearson", "r2", "rmse_mv", "mae_mv", "coverage")


def read_digitized(path) -> dict:
    """signals (n_images, n, 12), ecg_id, level, image, failed of digitized.h5 and its attrs; ArtifactError naming it."""
    if not Path(path).is_file():
        raise ArtifactError(f"{path}: file not found")
    try:
        with h5py.File(path, "r") as h5:
            return {
                "signals": h5["signals"][()],
                "ecg_id": h5["ecg_id"][()],
                "level": list(h5["level"].asstr()[()]),
                "image": list(h5["image"].asstr()[()]),
                "failed": h5["failed"][()].astype(bool),
                "attrs": dict(h5.attrs),
            }
    except (OSError, KeyError) as exc:
        raise ArtifactError(f"{path}: not a digitized.h5 of digitize_printouts ({exc})") from None


def metrics_table(per_image: dict, levels: list[str], skipped: np.ndarray, fallback: np.ndarray) -> pd.DataFrame:
    """Per level, method, region and lead (+ ``Mean``: each image's mean over its leads first, leads without a
    sample in the region left out) the mean and median SNR over images, mean r, R2, RMSE, MAE, coverage.

    ``per_image[method][region][score]``: (n_images, 12). Skipped images are left out (``n_skipped``);
    ``n_fallback``: PPM lead windows of the scored images that fell back to GL."""
    levels_arr = np.asarray(levels)
    rows = []
    for level in dict.fromkeys(levels):
        sel = (levels_arr == level) & ~skipped
        n_img, n_skip = int(sel.sum()), int(((levels_arr == level) & skipped).sum())
        n_fb = int(fallback[sel].sum())
        for method in METHODS:
            if method not in per_image:
                continue
            for region in REGIONS:
                s = per_image[method][region]
                for j, lead in enumerate([*LEADS12, "Mean"]):
                    vals = {k: (np.array([nanmean(r) for r in s[k][sel]]) if lead == "Mean" else s[k][sel, j]) for k in SCORES}
                    rows.append({"level": level, "method": method, "region": region, "lead": lead, "n_images": n_img,
                                 "n_skipped": n_skip, "n_fallback": n_fb,
                                 "snr_mean_db": nanmean(vals["snr"]), "snr_median_db": nanmedian(vals["snr"]),
                                 "pearson": nanmean(vals["pearson"]), "r2": nanmean(vals["r2"]),
                                 "rmse_mv": nanmean(vals["rmse"]), "mae_mv": nanmean(vals["mae"]),
                                 "coverage": nanmean(vals["coverage"])})  # fmt: skip
    return pd.DataFrame(rows)


def markdown(metrics: pd.DataFrame, attrs: dict) -> str:
    """completion_metrics.md (same inputs, same bytes)."""
    parts = [
        f"# Printouts: completion to 12 leads x 10 s ({attrs['layout']} page at {attrs['dpi']:g} dpi, fold {FOLD} test records)",
        "",
        "What the page gives back: the digitised windows (`visible`, nothing filled), GL (population ridge map from lead "
        f"II, +-{attrs['context']} samples, fitted on the official fold's train segments, alpha on its val segments) "
        "and PPM (per-patient map lead II -> each lead fitted on the lead's digitised window, shrunk toward GL, a "
        "chosen inside the window). Every method keeps the digitised samples and fills only the rest. Regions: "
        "`full` the whole 10 s, `unseen` the samples the layout does not plot, `plotted` those it does (the "
        "digitiser's own error; the methods differ there only on plotted samples the digitiser did not read). A missing "
        "sample counts as 0 mV (Challenge 2024), so "
        "`visible` scores 0 dB on the unseen part. Means over leads (lead II has no unseen part in 3x4), then images; "
        "images whose rhythm strip was not read are skipped (counted) for every method.",
        "",
        *_diffusion_lines(attrs.get("diffusion")),
        "| level | method | region | images (skipped) | GL fallbacks | SNR mean (dB) | SNR median (dB) | r | R² | RMSE (mV) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in metrics[metrics["lead"] == "Mean"].itertuples():
        fb = str(r.n_fallback) if r.method == "PPM" else "-"
        parts.append(
            f"| {r.level} | {r.method} | {r.region} | {r.n_images} ({r.n_skipped}) | {fb} | {fmt(r.snr_mean_db, 2)} | "
            f"{fmt(r.snr_median_db, 2)} | {fmt(r.pearson, 4)} | {fmt(r.r2)} | {fmt(r.rmse_mv, 4)} |"
        )
    parts += ["", "## per lead: RMSE (mV) over the unseen part", "", "| level | method | " + " | ".join(LEADS12) + " |",
              "|---" * 14 + "|"]  # fmt: skip
    sub = metrics[(metrics["region"] == "unseen") & (metrics["lead"] != "Mean")]
    for (level, method), g in sub.groupby(["level", "method"], sort=False):
        parts.append(f"| {level} | {method} | " + " | ".join(fmt(v) for v in g["rmse_mv"]) + " |")
    return "\n".join(parts + [""])


def _diffusion_lines(d: dict | None) -> list[str]:
    if not d:
        return []
    opts = ", ".join(f"{k}={v}" for k, v in sorted(d["options"].items())) or "defaults"
    return [
        f"`diffusion`: the posterior mean of the diffusion prior of I, II, V1-V6 (window {d['window']} samples) given the "
        "digitised samples of those leads and lead I derived from the read limb leads where I was not read; sampler "
        f"`{d['sampler']}` (options: {opts}), K = {d['K']} samples, {d['steps']} steps, {fmt(d['nfe'], 1)} network "
        f"evaluations per sample and window, {fmt(d['seconds'], 2)} s per record (mean over the completed images).",
        "",
    ]


def example_figure(path, label: np.ndarray, completion: dict, plotted: np.ndarray, fs: float, title: str) -> None:
    """One record, one row per lead: the truth, the digitised windows and each completion (12 x T arrays)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = np.arange(label.shape[1]) / fs
    styles = {
        "GL": dict(color="tab:orange", lw=0.8, ls="--"),
        "PPM": dict(color="tab:green", lw=0.8),
        "diffusion": dict(color="tab:red", lw=0.8, ls="-."),
    }
    fig, axes = plt.subplots(len(LEADS12), 1, figsize=(11, 15), sharex=True)
    for j, (ax, lead) in enumerate(zip(axes, LEADS12)):
        shown = plotted[j]
        edges = np.flatnonzero(np.diff(np.r_[0, shown.astype(int), 0]))
        for a, b in zip(edges[::2], edges[1::2]):
            ax.axvspan(t[a], t[b - 1], color="0.92", lw=0)
        ax.plot(t, label[j], color="k", lw=1.0, label="truth")
        for m, st in styles.items():
            if m in completion:
                ax.plot(t, completion[m][j], label=m, **st)
        ax.plot(t, completion["visible"][j], color="tab:blue", lw=1.4, alpha=0.7, label="digitised")
        ax.set_ylabel(LEAD_NAMES[lead], rotation=0, labelpad=14)
        ax.tick_params(labelsize=7)
    axes[0].legend(loc="upper right", ncol=4, fontsize=7)
    axes[0].set_title(title, fontsize=9)
    axes[-1].set_xlabel("s (grey: the span the page plots)")
    fig.tight_layout()
    save_png(fig, path, dpi=90)


def complete_from_files(
    digitized_h5, truth_h5, segments_h5, folds_json, out: dict, *, cfg: dict, prior=None, seed: int = 0, device="cpu", log=print
) -> pd.DataFrame:
    """Rule complete_printouts. ``out`` names gl (JSON map), h5 (completion.h5), csv, md (metrics), png (example);
    ``cfg`` the ``printout.completion`` section (context, gl_alphas, ppm_alphas, min_coverage; ``diffusion``: sampler,
    K, steps, options); ``prior`` the diffusion prior's checkpoint (None: no ``diffusion`` method), sampled on
    ``device`` with generators derived from ``seed``."""
    dig = read_digitized(digitized_h5)
    labels, ids, truths, files, attrs = read_truth(truth_h5)
    if files != dig["image"]:
        raise ArtifactError(f"{digitized_h5}: images differ from {truth_h5}")
    fs, n = float(attrs["fs"]), labels.shape[1]
    if dig["signals"].shape[1:] != (n, len(LEADS12)):
        raise ArtifactError(f"{digitized_h5}: signals have shape {dig['signals'].shape}, expected (n_images, {n}, 12)")
    _, seg_attrs = read_segment_meta(segments_h5)
    if float(seg_attrs["fs"]) != fs:
        raise ArtifactError(f"{segments_h5}: segments at {float(seg_attrs['fs']):g} Hz, the printouts at {fs:g} Hz")
    context, min_cov = int(cfg["context"]), float(cfg["min_coverage"])
    gl = fit_gl(segments_h5, folds_json, FOLD, context, cfg["gl_alphas"], log=log)
    gl.save(out["gl"])
    setup = None
    if prior is not None:
        loaded = load_prior(prior, leads=PRIOR_LEADS, fs=fs, device=resolve_device(device))
        setup = DiffusionSetup.of(loaded, cfg["diffusion"], seed)
    methods = [m for m in METHODS if m != "diffusion" or setup is not None]
    rec = {int(e): i for i, e in enumerate(ids)}
    n_img = len(dig["image"])
    signals = {m: np.full((n_img, n, len(LEADS12)), np.nan) for m in methods}
    per_image = {m: {r: {k: np.full((n_img, len(LEADS12)), np.nan) for k in SCORES} for r in REGIONS} for m in methods}
    cost = {k: np.full(n_img, np.nan) for k in ("nfe", "seconds", "empty")}
    skipped = np.zeros(n_img, dtype=bool)
    reasons = [""] * n_img
    fallback = np.zeros((n_img, len(LEADS12)), dtype=bool)
    alpha = np.full((n_img, len(LEADS12)), np.nan)
    log(f"completion: {n_img} images, methods {', '.join(methods)}, context {context}, PPM a in {list(cfg['ppm_alphas'])}")
    if setup is not None:
        log(f"completion: diffusion prior {prior} (window {setup.prior.window}), sampler {setup.sampler}, K {setup.K}, "
            f"steps {setup.steps}, options {setup.options}")  # fmt: skip
    for k, image in enumerate(dig["image"]):
        label = labels[rec[int(dig["ecg_id"][k])]].T
        plotted = truths[k].plotted()
        try:
            c = complete_record(
                dig["signals"][k].T,
                plotted,
                gl,
                context=context,
                alphas=cfg["ppm_alphas"],
                min_coverage=min_cov,
                name=image,
                diffusion=setup,
            )
        except CompletionError as exc:
            skipped[k], reasons[k] = True, str(exc)
            log(f"completion: skipped {image} (level {dig['level'][k]}): {exc}")
            continue
        for note in c.notes:
            log(f"completion: {image}: {note}")
        fallback[k], alpha[k] = c.fallback, c.alpha
        for key in cost if c.diffusion else ():
            cost[key][k] = c.diffusion[key]
        masks = region_masks(plotted)
        for m, sig in c.signals.items():
            signals[m][k] = sig.T
            for region, mask in masks.items():
                s = completion_scores(label, sig, mask)
                for key in SCORES:
                    per_image[m][region][key][k] = s[key]
    metrics = metrics_table(per_image, dig["level"], skipped, fallback)
    with atomic_path(out["h5"]) as tmp, h5py.File(tmp, "w") as h5:
        for m in methods:
            h5[f"signals/{m}"] = signals[m]
        h5["ecg_id"] = np.asarray(dig["ecg_id"], dtype=np.int64)
        h5["level"] = np.array(dig["level"], dtype=h5py.string_dtype())
        h5["image"] = np.array(dig["image"], dtype=h5py.string_dtype())
        h5["skipped"] = skipped
        h5["reason"] = np.array(reasons, dtype=h5py.string_dtype())
        h5["fallback"] = fallback
        h5["alpha"] = alpha
        h5.attrs.update(fs=fs, layout=attrs["layout"], leads=list(LEADS12), methods=list(methods), reference=REFERENCE,
                        context=context, fold=FOLD)  # fmt: skip
        if setup is not None:
            for key in ("nfe", "seconds", "empty"):
                h5[f"diffusion_{key}"] = cost[key]
            h5.attrs.update(diffusion_sampler=setup.sampler, diffusion_K=setup.K, diffusion_steps=setup.steps,
                            diffusion_window=int(setup.prior.window), diffusion_seed=int(seed))  # fmt: skip
    write_csv(out["csv"], metrics)
    with atomic_path(out["md"]) as tmp:
        info = None
        if setup is not None:
            info = {"sampler": setup.sampler, "options": dict(setup.options), "K": setup.K, "steps": setup.steps,
                    "window": int(setup.prior.window), "nfe": nanmean(cost["nfe"]), "seconds": nanmean(cost["seconds"])}  # fmt: skip
        tmp.write_text(markdown(metrics, {**attrs, "context": context, "diffusion": info}))
    done = np.flatnonzero(~skipped)
    if len(done):
        order = [k for k in done if dig["level"][k] == "clean"] or list(done)
        k = int(order[0])
        comp = {m: signals[m][k].T for m in methods}
        shown = "GL, PPM and diffusion" if setup is not None else "GL and PPM"
        title = f"record {int(dig['ecg_id'][k])}, level {dig['level'][k]}: truth, digitised windows, {shown} completions"
        example_figure(out["png"], labels[rec[int(dig["ecg_id"][k])]].T, comp, truths[k].plotted(), fs, title)
    else:
        _empty_figure(out["png"], "every image was skipped: no rhythm strip read")
    mean = metrics[(metrics["lead"] == "Mean") & (metrics["region"] == "unseen")]
    log("completion (unseen part): " + "; ".join(f"{r.level} {r.method} RMSE {r.rmse_mv:.4f} mV, SNR {r.snr_mean_db:.2f} dB"
                                                   for r in mean.itertuples()))  # fmt: skip
    log(f"completion: {int(skipped.sum())} of {n_img} images skipped, {int(fallback[~skipped].sum())} lead windows fell back to GL")
    if setup is not None:
        log(f"completion: diffusion {nanmean(cost['nfe']):.0f} network evaluations per sample, {nanmean(cost['seconds']):.2f} s "
            f"per record, {int(np.nansum(cost['empty']))} windows with nothing observed (GL there)")  # fmt: skip
    return metrics


def _empty_figure(path, text: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 2))
    ax.text(0.5, 0.5, text, ha="center", va="center")
    ax.set_axis_off()
    save_png(fig, path, dpi=90)
