"""Printouts in the pipeline (rules render_printouts, digitize_printouts; ecgrecon.printout): render a seeded subset of the
official fold's test records as printout pages at each distortion level, digitise every image with the classical
digitiser and score it against what was drawn.

- :func:`render_from_clean`: clean.h5 + folds.json -> ``images/{level}/{ecg_id}.png``, a manifest CSV (one row per image:
  level, ecg_id, file, size, the distortion drawn) and ``truth.h5`` (the rendered signals in mV and, per image, the
  renderer's :class:`~ecgrecon.printout.layout.PrintoutTruth` as JSON). The record subset and each image's distortion
  are drawn from the run's seed (``derive_seed(seed, "printout", ...)``, per record and level).
- :func:`digitize_from_files`: every image of the manifest through :func:`~ecgrecon.printout.digitize.digitize_classical`
  -> ``digitized.h5`` (signals, NaN where not plotted; a failed image is all NaN, flagged and its error kept), the
  metrics table (:func:`metrics_table`) and an example figure (:func:`example_figure`).

Scoring (ecgrecon.printout.scoring) uses the plotted samples only. A failed image (the digitiser raised
:class:`~ecgrecon.printout.layout.PrintoutError`) is logged, counted in ``n_failed`` and scored as the Challenge scores a
missing output: every sample 0 (SNR 0 dB, coverage 0); its r, R2, RMSE and MAE are undefined and left out of those
means, and it counts as below every threshold of the r-threshold table.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from ecgrecon import LEADS12
from ecgrecon.data.datasets import ArtifactError, load_folds, open_clean
from ecgrecon.evaluation.cells import fmt
from ecgrecon.io.atomic import atomic_path, save_png, write_csv
from ecgrecon.printout.digitize import as_read, digitize_classical, read_image
from ecgrecon.printout.distort import distort
from ecgrecon.printout.layout import DURATION_S, PrintoutError, PrintoutTruth, get_layout, panels_of
from ecgrecon.printout.render import render_printout
from ecgrecon.printout.scoring import R_THRESHOLDS, lead_scores

FOLD = "official"
SCORES = ("snr", "pearson", "r2", "rmse", "mae", "coverage")
MANIFEST_COLUMNS = ("level", "ecg_id", "image", "width_px", "height_px", "distortion")


def choose_records(test_ids, n: int, seed: int) -> np.ndarray:
    """``n`` of the test records (all when n is 0 or larger), drawn with the run's ``seed``; ascending."""
    from ecgrecon.evaluation.diffusion_report import choose_records as draw  # torch: only where a seed is drawn

    return draw(test_ids, n, seed, "printout")


def distortion_rng(seed: int, level: str, ecg_id: int) -> np.random.Generator:
    """The generator of one image's distortion: one per record and level, from the run's seed."""
    from ecgrecon.learn.device import derive_seed

    return np.random.default_rng(derive_seed(seed, "printout", level, int(ecg_id)))


def _write_png(path: Path, img: np.ndarray) -> None:
    import cv2

    with atomic_path(path) as tmp:
        ok, buf = cv2.imencode(".png", cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        if not ok:
            raise RuntimeError(f"{path}: PNG encoding failed")
        tmp.write_bytes(buf.tobytes())


def render_from_clean(clean_h5, folds_json, images_dir, manifest_csv, truth_h5, *, cfg: dict, seed: int, log=print) -> pd.DataFrame:
    """Render the chosen test records at every level of ``cfg`` (the ``printout`` section); returns the manifest."""
    lay = get_layout(cfg["layout"])
    test = load_folds(folds_json, FOLD)["test"]
    f, meta = open_clean(clean_h5)
    with f:
        fs = float(f.attrs["fs"])
        ecg = meta["ecg_id"].to_numpy(np.int64)
        ids = choose_records(np.intersect1d(test, ecg), int(cfg["records"]), seed)
        if not len(ids):
            raise ArtifactError(f"{folds_json}: no test record of fold '{FOLD}' in {clean_h5}")
        rows = np.searchsorted(ecg, ids) if np.all(np.diff(ecg) > 0) else np.array([int(np.flatnonzero(ecg == i)[0]) for i in ids])
        n = min(int(f["signals"].shape[1]), int(round(DURATION_S * fs)))
        signals = np.stack([np.asarray(f["signals"][int(r), :n], dtype=np.float64) for r in rows])
    log(f"printout: {len(ids)} test records of fold {FOLD} ({cfg['records']} asked), {lay.name} at {cfg['dpi']} dpi, "
        f"levels {', '.join(cfg['levels'])}, {fs:g} Hz")  # fmt: skip
    images_dir = Path(images_dir)
    manifest, truths = [], []
    for i, ecg_id in enumerate(ids):
        img, truth = render_printout(signals[i], fs, layout=lay, dpi=float(cfg["dpi"]))
        for level in cfg["levels"]:
            out, applied = distort(img, level, distortion_rng(seed, level, ecg_id))
            rel = Path(level) / f"{int(ecg_id)}.png"
            _write_png(images_dir / rel, out)
            manifest.append({"level": level, "ecg_id": int(ecg_id), "image": rel.as_posix(), "width_px": out.shape[1],
                             "height_px": out.shape[0], "distortion": json.dumps(applied, sort_keys=True)})  # fmt: skip
            truths.append(json.dumps(truth.to_dict()))
    table = pd.DataFrame(manifest, columns=list(MANIFEST_COLUMNS))
    with atomic_path(truth_h5) as tmp, h5py.File(tmp, "w") as h5:
        h5["signals"] = signals
        h5["ecg_id"] = ids
        h5["truth"] = np.array(truths, dtype=h5py.string_dtype())  # per manifest row
        h5["image"] = np.array(table["image"].tolist(), dtype=h5py.string_dtype())
        h5.attrs.update(fs=fs, layout=lay.name, dpi=float(cfg["dpi"]), leads=list(LEADS12), fold=FOLD, seed=int(seed))
    write_csv(manifest_csv, table)
    log(f"printout: wrote {len(table)} images under {images_dir}")
    return table


def read_truth(truth_h5) -> tuple[np.ndarray, np.ndarray, list[PrintoutTruth], list[str], dict]:
    """(signals (n_records, n, 12) mV, ecg_id, per-image truths, per-image files, attrs) of truth.h5."""
    with h5py.File(truth_h5, "r") as h5:
        truths = [PrintoutTruth.from_dict(json.loads(s)) for s in h5["truth"].asstr()[()]]
        return h5["signals"][()], h5["ecg_id"][()], truths, list(h5["image"].asstr()[()]), dict(h5.attrs)


def digitize_images(images_dir, manifest: pd.DataFrame, layout: str, fs: float, n_samples: int, log=print):
    """Digitise every manifest image -> (signals (n_images, n, 12), errors ('' when it worked), diagnostics, seconds)."""
    out = np.full((len(manifest), n_samples, len(LEADS12)), np.nan)
    errors, diags, seconds = [], [], []
    for k, row in enumerate(manifest.itertuples()):
        t0 = time.perf_counter()
        try:
            sig, diag = digitize_classical(Path(images_dir) / row.image, layout, fs=fs, n_samples=n_samples, name=row.image)
            out[k], err = sig, ""
            diag = {key: v for key, v in diag.items() if key != "short_panels"}
        except PrintoutError as exc:
            err, diag = str(exc), {}
            log(f"printout: digitiser failed on {row.image} (level {row.level}): {exc}")
        seconds.append(time.perf_counter() - t0)
        errors.append(err)
        diags.append(diag)
    return out, errors, diags, np.array(seconds)


def image_scores(label: np.ndarray, output: np.ndarray, truth: PrintoutTruth, failed: bool) -> dict[str, np.ndarray]:
    """Per-lead scores of one image (lead_scores on the plotted samples); a failed image scores as an all-missing output."""
    s = lead_scores(label, np.full_like(label, np.nan) if failed else output, truth.plotted())
    if failed:  # the Challenge: a missing output is 0 everywhere -> SNR 0 dB; the other scores are undefined
        for key in ("pearson", "r2", "rmse", "mae"):
            s[key] = np.full(len(LEADS12), np.nan)
    return s


def nanmean(x) -> float:
    """Mean of the finite values (NaN when there are none)."""
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    return float(x.mean()) if x.size else float("nan")


def nanmedian(x) -> float:
    """Median of the finite values (NaN when there are none)."""
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    return float(np.median(x)) if x.size else float("nan")


def metrics_table(per_image: dict[str, np.ndarray], manifest: pd.DataFrame, failed: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(metrics, r thresholds). ``per_image``: score -> (n_images, 12). Metrics: per level and lead (+ ``Mean``: each
    image's mean over its leads first) the mean and median SNR over images, the mean r, R2, RMSE, MAE, coverage;
    n_images and n_failed. Thresholds: per level, the share of images whose mean r over leads reaches each threshold
    (failed images counted below every threshold)."""
    rows, thr = [], []
    for level in dict.fromkeys(manifest["level"]):
        sel = (manifest["level"] == level).to_numpy()
        n_img, n_fail = int(sel.sum()), int(failed[sel].sum())
        for j, lead in enumerate([*LEADS12, "Mean"]):
            vals = {}
            for key in SCORES:
                v = per_image[key][sel]
                if lead == "Mean":
                    v = np.array([nanmean(r) for r in v])
                else:
                    v = v[:, j]
                vals[key] = v
            rows.append({"level": level, "lead": lead, "n_images": n_img, "n_failed": n_fail,
                         "snr_mean_db": nanmean(vals["snr"]), "snr_median_db": nanmedian(vals["snr"]),
                         "pearson": nanmean(vals["pearson"]), "r2": nanmean(vals["r2"]), "rmse_mv": nanmean(vals["rmse"]),
                         "mae_mv": nanmean(vals["mae"]), "coverage": nanmean(vals["coverage"])})  # fmt: skip
        r_rec = np.array([nanmean(r) for r in per_image["pearson"][sel]])
        ok = np.isfinite(r_rec) & ~failed[sel]
        thr.append({"level": level, "n_images": n_img, "n_failed": n_fail,
                    **{f"r_ge_{t:g}": float((r_rec[ok] >= t).sum() / n_img) if n_img else float("nan") for t in R_THRESHOLDS}})  # fmt: skip
    return pd.DataFrame(rows), pd.DataFrame(thr)


def markdown(metrics: pd.DataFrame, thresholds: pd.DataFrame, attrs: dict) -> str:
    """metrics.md: reproducible (same seed, same bytes); the digitiser's wall time is in the log and digitized.h5."""
    parts = [
        f"# Printouts: classical digitiser ({attrs['layout']} page at {attrs['dpi']:g} dpi, {len(attrs['ecg_id'])} test records "
        f"of fold {attrs['fold']})",
        "",
        "Scores on the plotted samples only (3x4: 2.5 s per lead, lead II 10 s from the rhythm strip). SNR: PhysioNet "
        "Challenge 2024 (a missing sample counts as 0; a failed image scores 0 dB); r, R2, RMSE, MAE over the samples read; "
        "coverage: share of plotted samples read.",
        "",
        "| level | images | failed | SNR mean (dB) | SNR median (dB) | r | R² | RMSE (mV) | MAE (mV) | coverage |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in metrics[metrics["lead"] == "Mean"].itertuples():
        parts.append(
            f"| {r.level} | {r.n_images} | {r.n_failed} | {fmt(r.snr_mean_db, 2)} | {fmt(r.snr_median_db, 2)} | "
            f"{fmt(r.pearson, 4)} | {fmt(r.r2)} | {fmt(r.rmse_mv, 4)} | {fmt(r.mae_mv, 4)} | {fmt(r.coverage)} |"
        )
    parts += ["", "## share of images with mean r over leads at or above each threshold (the source's table)", ""]
    cols = [c for c in thresholds.columns if c.startswith("r_ge_")]
    parts += ["| level | images | failed | " + " | ".join(f"r ≥ {c[5:]}" for c in cols) + " |", "|---" * (3 + len(cols)) + "|"]
    for d in thresholds.to_dict("records"):
        parts.append(f"| {d['level']} | {d['n_images']} | {d['n_failed']} | " + " | ".join(fmt(d[c], 2) for c in cols) + " |")
    parts += ["", "## per lead: mean SNR (dB)", "", "| level | " + " | ".join(LEADS12) + " |", "|---" * 13 + "|"]
    for level, g in metrics[metrics["lead"] != "Mean"].groupby("level", sort=False):
        parts.append(f"| {level} | " + " | ".join(fmt(v, 1) for v in g["snr_mean_db"]) + " |")
    return "\n".join(parts + [""])


def trace_pixels(signals: np.ndarray, diag: dict, layout: str, fs: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """(columns, rows) on the deskewed image of each drawn panel's digitised samples (linear time axis per row)."""
    lay = get_layout(layout)
    out = []
    x_pulse = [p["x"] for p in diag["pulses"]]
    for p in panels_of(lay, signals.shape[0]):
        idx = np.arange(p.start, p.stop)
        mv = signals[idx, LEADS12.index(p.lead)]
        col = diag["t0_column"][p.row] + idx / fs * diag["row_px_per_s"][p.row]
        base = diag["baseline_row"][p.row] + diag["row_tilt"][p.row] * (col - x_pulse[p.row])
        out.append((col, base - mv * diag["px_per_mv"][p.row]))
    return out


def draw_overlay(ax, img: np.ndarray, signals: np.ndarray, diag: dict, layout: str, fs: float, title: str = "") -> None:
    """The deskewed image with the digitised traces on top (red, half transparent)."""
    ax.imshow(as_read(img, diag), interpolation="antialiased")  # skew (and perspective, where corrected) undone
    for col, row in trace_pixels(signals, diag, layout, fs):
        ax.plot(col, row, color="tab:blue", lw=0.6, alpha=0.8)
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=8)


def example_figure(path, images_dir, manifest: pd.DataFrame, signals: np.ndarray, diags: list, attrs: dict) -> None:
    """One image per level (the first that was digitised; else the first, marked failed) with the traces overlaid."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    levels = list(dict.fromkeys(manifest["level"]))
    fig, axes = plt.subplots(len(levels), 1, figsize=(10, 6.5 * len(levels)), squeeze=False)
    for ax, level in zip(axes[:, 0], levels):
        ks = np.flatnonzero((manifest["level"] == level).to_numpy())
        good = [k for k in ks if diags[k]]
        k = good[0] if good else ks[0]
        img, _ = read_image(Path(images_dir) / manifest["image"].iloc[k])
        row = manifest.iloc[k]
        if diags[k]:
            draw_overlay(
                ax, img, signals[k], diags[k], attrs["layout"], attrs["fs"], f"{level}: record {row.ecg_id}, digitised traces in blue"
            )
        else:
            ax.imshow(img)
            ax.set_axis_off()
            ax.set_title(f"{level}: record {row.ecg_id}, digitiser failed on every image of this level", fontsize=8)
    fig.tight_layout()
    save_png(fig, path, dpi=110)


def digitize_from_files(images_dir, manifest_csv, truth_h5, out: dict, *, log=print) -> pd.DataFrame:
    """Rule digitize_printouts: ``out`` names h5 (digitized.h5), csv, md (metrics), thresholds (CSV), png (example)."""
    manifest = pd.read_csv(manifest_csv)
    labels, ids, truths, files, attrs = read_truth(truth_h5)
    if files != manifest["image"].tolist():
        raise ArtifactError(f"{truth_h5}: images differ from {manifest_csv}")
    attrs["ecg_id"] = ids
    fs, n = float(attrs["fs"]), labels.shape[1]
    log(f"printout: digitising {len(manifest)} images ({attrs['layout']}, {fs:g} Hz, {n} samples)")
    signals, errors, diags, seconds = digitize_images(images_dir, manifest, attrs["layout"], fs, n, log=log)
    failed = np.array([bool(e) for e in errors])
    rec = {int(e): i for i, e in enumerate(ids)}
    per_image = {k: np.full((len(manifest), len(LEADS12)), np.nan) for k in SCORES}
    for k, row in enumerate(manifest.itertuples()):
        s = image_scores(labels[rec[int(row.ecg_id)]], signals[k], truths[k], bool(failed[k]))
        for key in SCORES:
            per_image[key][k] = s[key]
    metrics, thresholds = metrics_table(per_image, manifest, failed)
    with atomic_path(out["h5"]) as tmp, h5py.File(tmp, "w") as h5:
        h5["signals"] = signals
        h5["ecg_id"] = manifest["ecg_id"].to_numpy(np.int64)
        h5["level"] = np.array(manifest["level"].tolist(), dtype=h5py.string_dtype())
        h5["image"] = np.array(manifest["image"].tolist(), dtype=h5py.string_dtype())
        h5["failed"] = failed
        h5["error"] = np.array(errors, dtype=h5py.string_dtype())
        h5["seconds"] = seconds
        h5["diagnostics"] = np.array([json.dumps(d, default=float) for d in diags], dtype=h5py.string_dtype())
        h5.attrs.update(fs=fs, layout=attrs["layout"], dpi=attrs["dpi"], leads=list(LEADS12))
    write_csv(out["csv"], metrics)
    write_csv(out["thresholds"], thresholds)
    with atomic_path(out["md"]) as tmp:
        tmp.write_text(markdown(metrics, thresholds, attrs))
    example_figure(out["png"], images_dir, manifest, signals, diags, attrs)
    mean = metrics[metrics["lead"] == "Mean"]
    log("printout: " + "; ".join(f"{r.level} SNR {r.snr_mean_db:.2f} dB, r {r.pearson:.3f}, {r.n_failed}/{r.n_images} failed"
                                 for r in mean.itertuples()))  # fmt: skip
    log(f"printout: {np.mean(seconds):.2f} s per image")
    return metrics
