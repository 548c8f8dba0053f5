"""The learned single-lead digitiser in the pipeline (rules train_digitizer, evaluate_digitizer; docs/printout.md).

Data: the source's protocol, 10 s of lead I drawn by :func:`~ecgrecon.printout.render.render_single_lead` (0.5-40 Hz
band-passed, the drawn signal is the target) at ``printout.learned.image_size``, distorted at every ``printout.levels``
level with one generator per record and level (``derive_seed(seed, "printout", "single", level, ecg_id)``) and
resized back to the model's input size (a crop changes the size): one image per (record, level).

- training: the official fold's *train* records (at most ``train_records``, drawn with the run's seed), early stopping
  and model selection on its *val* records (``val_records``); the test fold is never opened for either
  (:func:`learned_records` reads only the train and val id lists);
- evaluation: the test records :func:`~ecgrecon.evaluation.printout_report.render_from_clean` chose (``truth.h5``),
  each image read by the learned digitiser and by the classical single-lead digitiser
  (:func:`~ecgrecon.printout.single.digitize_single_classical`) -- the *same* uint8 image, stored in ``predictions.h5``
  -- and scored with :mod:`ecgrecon.printout.scoring` as the page digitiser is.

Images are rendered once per run into a uint8 array in memory (96 x 384 x 3 = 110 KB each: the benchmark config's
~1,500 training images take ~170 MB), not written to disk: they are a pure function of the cleaned records, the
levels and the seed, so a resumed run renders the same ones (the fingerprint of the resume state checks it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import h5py
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from ecgrecon import LEADS12
from ecgrecon.data.datasets import ArtifactError, load_folds, open_clean
from ecgrecon.evaluation.cells import fmt
from ecgrecon.io.atomic import atomic_path, save_png, write_csv
from ecgrecon.printout.distort import distort
from ecgrecon.printout.layout import DURATION_S, PrintoutError
from ecgrecon.printout.learned import ARCH_DEFAULTS, build_digitizer, images_to_tensor
from ecgrecon.printout.render import render_single_lead
from ecgrecon.printout.scoring import R_THRESHOLDS, lead_scores

FOLD = "official"
LEAD = "I"
DIGITISERS = ("learned", "classical")
SCORES = ("snr", "pearson", "r2", "rmse", "mae", "coverage")
MODEL_KEYS = ("arch", "image_size", "d_model", "n_heads", "n_layers", "column_channels")


@dataclass
class StripSet:
    """One split's single-lead images: ``images`` (M, H, W, 3) uint8, ``targets`` (M, n) float32 mV (the drawn,
    band-passed lead I), and per image its ``ecg_id`` and ``level``."""

    images: np.ndarray
    targets: np.ndarray
    ecg_id: np.ndarray
    level: list[str]

    def __len__(self) -> int:
        return len(self.ecg_id)


def strip_rng(seed: int, level: str, ecg_id: int) -> np.random.Generator:
    """The generator of one single-lead image's distortion (per record and level, from the run's seed)."""
    from ecgrecon.learn.device import derive_seed

    return np.random.default_rng(derive_seed(seed, "printout", "single", level, int(ecg_id)))


def strip_image(signal: np.ndarray, fs: float, level: str, seed: int, ecg_id: int, image_size) -> tuple[np.ndarray, np.ndarray]:
    """(image (H, W, 3) uint8 at ``image_size`` = (H, W), drawn signal (n,)) of one record's lead I at ``level``."""
    import cv2

    h, w = int(image_size[0]), int(image_size[1])
    img, _, drawn = render_single_lead(signal, fs, size=(w, h))
    out, _ = distort(img, level, strip_rng(seed, level, ecg_id))
    if out.shape[:2] != (h, w):
        out = cv2.resize(out, (w, h), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(out), drawn


def strip_set(signals: np.ndarray, ids, fs: float, levels, seed: int, image_size) -> StripSet:
    """Every (record, level) image of ``signals`` ((n_records, n) lead I, mV), records outer, levels inner."""
    images, targets, eids, lv = [], [], [], []
    for x, e in zip(signals, ids):
        for level in levels:
            img, drawn = strip_image(x, fs, level, seed, int(e), image_size)
            images.append(img)
            targets.append(drawn.astype(np.float32))
            eids.append(int(e))
            lv.append(level)
    h, w = int(image_size[0]), int(image_size[1])
    return StripSet(np.stack(images) if images else np.zeros((0, h, w, 3), np.uint8),
                    np.stack(targets) if targets else np.zeros((0, 0), np.float32), np.array(eids, np.int64), lv)  # fmt: skip


def learned_records(folds_json, clean_ids, cfg: dict, seed: int) -> dict[str, np.ndarray]:
    """{train, val}: the official fold's train / val records present in the cleaned file, at most ``train_records`` /
    ``val_records`` of each (0: all), drawn with the run's seed. The test ids are not read."""
    from ecgrecon.evaluation.diffusion_report import choose_records

    folds = load_folds(folds_json, FOLD)
    out = {}
    for split, cap in (("train", cfg["train_records"]), ("val", cfg["val_records"])):
        ids = choose_records(np.intersect1d(folds[split], clean_ids), int(cap), seed, f"printout-learned-{split}")
        if not len(ids):
            raise ArtifactError(f"{folds_json}: no {split} record of fold '{FOLD}' in the cleaned file")
        out[split] = ids
    return out


def lead_i(clean_h5, ids) -> tuple[np.ndarray, float]:
    """((len(ids), n) lead I of the first 10 s of each record, fs) from the cleaned file."""
    f, meta = open_clean(clean_h5)
    with f:
        fs = float(f.attrs["fs"])
        ecg = meta["ecg_id"].to_numpy(np.int64)
        pos = {int(e): i for i, e in enumerate(ecg)}
        n = min(int(f["signals"].shape[1]), int(round(DURATION_S * fs)))
        j = LEADS12.index(LEAD)
        sig = np.stack([np.asarray(f["signals"][pos[int(e)], :n, j], dtype=np.float64) for e in ids])
    return sig, fs


def build_model(cfg: dict, n_out: int, seed: int) -> torch.nn.Module:
    """A freshly initialised digitiser of ``cfg['arch']`` (seeded: the same seed gives the same weights)."""
    from ecgrecon.learn.device import derive_seed

    torch.manual_seed(derive_seed(seed, "printout", "digitizer", "init"))
    return build_digitizer(cfg, n_out)


def _batches(n: int, size: int, order=None):
    order = np.arange(n) if order is None else order
    for i in range(0, n, size):
        yield order[i : i + size]


def _mse(model, data: StripSet, batch: int, dev) -> tuple[float, float]:
    """(mean squared error mV^2, RMSE mV) of ``model`` on every image of ``data`` (eval mode, no gradients)."""
    sse, count = 0.0, 0
    for idx in _batches(len(data), batch):
        x = images_to_tensor(data.images[idx]).to(dev)
        y = torch.from_numpy(data.targets[idx]).to(dev)
        sse += float(F.mse_loss(model(x), y, reduction="sum"))
        count += y.numel()
    return sse / count, float(np.sqrt(sse / count))


def train_digitizer(
    train: StripSet, val: StripSet, cfg: dict, *, seed: int, fs: float, out_pt, log_csv, curve_png, device: str = "auto",
    threads: int = 1, log=print, epoch_hook=None,
) -> dict:  # fmt: skip
    """Train LeadImageDigitizer (AdamW on the MSE, ecgrecon.learn.fitloop.fit: early stopping on the val images' loss,
    resumable) and write the best weights (``out_pt``, weights_only-loadable), the per-epoch log and the loss curve."""
    from ecgrecon.learn.curves import loss_curve
    from ecgrecon.learn.device import derive_seed, resolve_device, set_threads
    from ecgrecon.learn.fitloop import Budget, fingerprint, fit, plain, resume_path, save_torch, step

    set_threads(threads)
    dev = resolve_device(device)
    cfg = {**ARCH_DEFAULTS, **cfg}
    n_out = int(train.targets.shape[1])
    model = build_model(cfg, n_out, seed).to(dev)
    n_params = int(sum(p.numel() for p in model.parameters()))
    opt = torch.optim.AdamW(model.parameters(), lr=float(cfg["lr"]), weight_decay=float(cfg["weight_decay"]))
    batch = int(cfg["batch_size"])
    settings = {k: cfg[k] for k in (*MODEL_KEYS, "lr", "weight_decay", "batch_size", "max_epochs", "patience", "lr_schedule")}
    settings = plain({**settings, "seed": int(seed), "fs": float(fs), "n_out": n_out})
    fp = fingerprint({**settings, "train": train.ecg_id.tolist(), "val": val.ecg_id.tolist(), "levels": train.level},
                     train.images, train.targets, val.images, val.targets)  # fmt: skip
    log(f"digitizer: {len(train)} train / {len(val)} val images ({len(set(train.ecg_id))} / {len(set(val.ecg_id))} records of "
        f"fold {FOLD}), {n_params:,} parameters, device {dev}, {threads} thread(s)")  # fmt: skip

    def train_epoch(epoch: int) -> float:
        g = torch.Generator().manual_seed(derive_seed(seed, "printout", "digitizer", "epoch", epoch))
        order = torch.randperm(len(train), generator=g).numpy()
        total, count = 0.0, 0
        for idx in _batches(len(train), batch, order):
            x = images_to_tensor(train.images[idx]).to(dev)
            y = torch.from_numpy(train.targets[idx]).to(dev)
            total += step(opt, F.mse_loss(model(x), y)) * len(idx)
            count += len(idx)
        return total / count

    def validate() -> dict:
        loss, rmse = _mse(model, val, batch, dev)
        return {"val_loss": loss, "val_rmse_mv": rmse}

    state = resume_path(out_pt)
    t0 = time.perf_counter()
    res = fit({"model": model}, opt, train_epoch, validate, budget=Budget.of(cfg), state_path=state, fp=fp, log=log,
              epoch_hook=epoch_hook)  # fmt: skip
    seconds = time.perf_counter() - t0
    history = pd.DataFrame(res["history"])
    history["n_params"] = n_params
    trained_s = float(history["seconds"].sum())
    ckpt = {"state_dict": res["best"]["model"], "settings": settings, "best_epoch": int(res["best_epoch"]),
            "best_val": float(res["best_val"]), "n_params": n_params, "train_seconds": round(trained_s, 3),
            "train_ids": np.unique(train.ecg_id).tolist(), "val_ids": np.unique(val.ecg_id).tolist(),
            "levels": list(dict.fromkeys(train.level)), "lead": LEAD, "fold": FOLD}  # fmt: skip
    write_csv(log_csv, history)
    loss_curve(history, curve_png, title=f"learned digitiser (lead {LEAD}, {n_params / 1e6:.1f} M parameters)")
    save_torch(out_pt, ckpt)
    state.unlink(missing_ok=True)
    log(f"digitizer: best epoch {res['best_epoch']} (val MSE {res['best_val']:.5f} mV^2); {trained_s:.1f} s of training over "
        f"{len(history) - (history['epoch'] == 0).sum()} epoch(s), {seconds:.1f} s in this run")  # fmt: skip
    return ckpt


def train_from_files(clean_h5, folds_json, out: dict, *, cfg: dict, levels, seed: int, device: str = "auto", threads: int = 1,
                     log=print, epoch_hook=None) -> dict:  # fmt: skip
    """Rule train_digitizer: ``out`` names pt (digitizer.pt), csv (train_log.csv), png (loss_curve.png)."""
    f, meta = open_clean(clean_h5)
    with f:
        ids = meta["ecg_id"].to_numpy(np.int64)
    recs = learned_records(folds_json, ids, cfg, seed)
    sets = {}
    for split, e in recs.items():
        sig, fs = lead_i(clean_h5, e)
        sets[split] = strip_set(sig, e, fs, levels, seed, cfg["image_size"])
    return train_digitizer(sets["train"], sets["val"], cfg, seed=seed, fs=fs, out_pt=out["pt"], log_csv=out["csv"],
                           curve_png=out["png"], device=device, threads=threads, log=log, epoch_hook=epoch_hook)  # fmt: skip


def load_digitizer(path) -> tuple[torch.nn.Module, dict]:
    """(model in eval mode, checkpoint) of a digitizer.pt; PrintoutError (one line naming the file) when missing,
    unreadable or not a digitiser checkpoint."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise PrintoutError(f"{path}: digitizer checkpoint not found") from None
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same one-line message
        raise PrintoutError(f"{path}: not a readable digitizer checkpoint ({type(exc).__name__})") from None
    try:
        s = ckpt["settings"]
        model = build_digitizer(s, int(s["n_out"]))
        model.load_state_dict(ckpt["state_dict"])
    except Exception as exc:  # noqa: BLE001
        raise PrintoutError(f"{path}: not a digitizer checkpoint ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})") from None
    return model.eval(), ckpt


def _scores(label: np.ndarray, output: np.ndarray, failed: bool) -> dict[str, float]:
    """One image's scores (lead_scores over the whole 10 s); a failed image scores as a missing output (SNR 0 dB)."""
    s = lead_scores(label, np.full_like(label, np.nan) if failed else output)
    out = {k: float(v[0]) for k, v in s.items()}
    if failed:
        out.update(pearson=np.nan, r2=np.nan, rmse=np.nan, mae=np.nan)
    return out


def _finite(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x[np.isfinite(x)]


def _stat(x, fn) -> float:
    x = _finite(x)
    return float(fn(x)) if x.size else float("nan")


def score_table(per_image: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(metrics, r thresholds) per digitiser and level from the per-image scores (columns digitiser, level, failed and
    SCORES): mean / median / sd SNR, mean and median r, mean R2, RMSE, MAE, coverage; the share of images with r at or
    above each threshold (failed images below every one)."""
    rows, thr = [], []
    for (dig, level), g in per_image.groupby(["digitiser", "level"], sort=False):
        n, n_fail = len(g), int(g["failed"].sum())
        rows.append({"digitiser": dig, "level": level, "n_images": n, "n_failed": n_fail,
                     "snr_mean_db": _stat(g["snr"], np.mean), "snr_median_db": _stat(g["snr"], np.median),
                     "snr_sd_db": _stat(g["snr"], np.std), "pearson": _stat(g["pearson"], np.mean),
                     "pearson_median": _stat(g["pearson"], np.median), "r2": _stat(g["r2"], np.mean),
                     "rmse_mv": _stat(g["rmse"], np.mean), "mae_mv": _stat(g["mae"], np.mean),
                     "coverage": _stat(g["coverage"], np.mean)})  # fmt: skip
        r = g["pearson"].to_numpy(np.float64)
        ok = np.isfinite(r) & ~g["failed"].to_numpy(bool)
        thr.append({"digitiser": dig, "level": level, "n_images": n, "n_failed": n_fail,
                    **{f"r_ge_{t:g}": float((r[ok] >= t).sum() / n) for t in R_THRESHOLDS}})  # fmt: skip
    return pd.DataFrame(rows), pd.DataFrame(thr)


def markdown(metrics: pd.DataFrame, thresholds: pd.DataFrame, info: dict) -> str:
    """metrics.md: both digitisers on the same single-lead images, the source's figures beside them."""
    parts = [
        f"# Printouts: learned vs classical digitiser, single-lead images of lead {LEAD} ({info['height']} x {info['width']} px, "
        f"{info['n_records']} test records of fold {FOLD})",
        "",
        f"The learned digitiser (arch `{info.get('arch', 'source')}`): {info['n_params']:,} parameters, best epoch "
        f"{info['best_epoch']}, trained on "
        f"{info['n_train']} images of the train fold (val: {info['n_val']}). Both digitisers read the same distorted "
        "images; scores over the whole 10 s of the drawn (0.5-40 Hz) lead I. SNR: PhysioNet Challenge 2024 (a failed "
        "image scores 0 dB). The source (1968 x 472 px clean renders of PTB-XL): r 0.972 (median 0.982), R² 0.945, RMSE "
        "0.2107, MAE 0.1258, SNR 14.4 +- 5.5 dB: comparable only with the `clean` rows at the source's resolution.",
        "",
        "| digitiser | level | images | failed | SNR mean (dB) | SNR median (dB) | SNR sd | r | r median | R² | RMSE (mV) | MAE (mV) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in metrics.itertuples():
        parts.append(f"| {r.digitiser} | {r.level} | {r.n_images} | {r.n_failed} | {fmt(r.snr_mean_db, 2)} | "
                     f"{fmt(r.snr_median_db, 2)} | {fmt(r.snr_sd_db, 2)} | {fmt(r.pearson, 4)} | {fmt(r.pearson_median, 4)} | "
                     f"{fmt(r.r2)} | {fmt(r.rmse_mv, 4)} | {fmt(r.mae_mv, 4)} |")  # fmt: skip
    cols = [c for c in thresholds.columns if c.startswith("r_ge_")]
    parts += ["", "## share of images with r at or above each threshold (the source: 24.2 / 81.8 / 96.3 / 99.1 %)", "",
              "| digitiser | level | images | " + " | ".join(f"r ≥ {c[5:]}" for c in cols) + " |",
              "|---" * (3 + len(cols)) + "|"]  # fmt: skip
    for d in thresholds.to_dict("records"):
        parts.append(f"| {d['digitiser']} | {d['level']} | {d['n_images']} | " + " | ".join(fmt(d[c], 2) for c in cols) + " |")
    return "\n".join(parts + [""])


def example_figure(path, images: np.ndarray, truth: np.ndarray, preds: dict, level: list[str], ecg_id: np.ndarray, fs: float) -> None:
    """Per level, the first record: its image and the truth with both digitisers' traces."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    levels = list(dict.fromkeys(level))
    fig, axes = plt.subplots(2 * len(levels), 1, figsize=(10, 3.6 * len(levels)), squeeze=False)
    for i, lv in enumerate(levels):
        k = level.index(lv)
        ax_img, ax = axes[2 * i, 0], axes[2 * i + 1, 0]
        ax_img.imshow(images[k], aspect="auto")
        ax_img.set_axis_off()
        ax_img.set_title(f"{lv}: record {ecg_id[k]} (lead {LEAD}), the image both digitisers read", fontsize=8)
        t = np.arange(truth.shape[1]) / fs
        ax.plot(t, truth[k], color="black", lw=0.9, label="drawn (truth)")
        ax.plot(t, preds["learned"][k], color="tab:blue", lw=0.7, label="learned")
        ax.plot(t, preds["classical"][k], color="tab:red", lw=0.7, alpha=0.8, label="classical")
        ax.set_xlabel("s")
        ax.set_ylabel("mV")
        ax.legend(fontsize=7, loc="upper right", ncol=3)
    fig.tight_layout()
    save_png(fig, path, dpi=110)


def evaluate_from_files(model_pt, truth_h5, out: dict, *, levels, seed: int, threads: int = 1, log=print) -> pd.DataFrame:
    """Rule evaluate_digitizer: the test records of ``truth.h5`` (render_printouts' choice) as single-lead images at every
    level, read by the learned (``model_pt``) and the classical digitiser. ``out`` names h5 (predictions.h5: images,
    truth, both predictions, per-image scores), csv, md, thresholds, png."""
    from ecgrecon.learn.device import set_threads
    from ecgrecon.printout.single import digitize_single_classical

    set_threads(threads)
    model, ckpt = load_digitizer(model_pt)
    with h5py.File(truth_h5, "r") as h5:
        signals, ids, fs = h5["signals"][()][:, :, LEADS12.index(LEAD)], h5["ecg_id"][()].astype(np.int64), float(h5.attrs["fs"])
    s = ckpt["settings"]
    if abs(float(s["fs"]) - fs) > 1e-9:
        raise PrintoutError(f"{model_pt}: trained at {s['fs']:g} Hz, {truth_h5} holds {fs:g} Hz records")
    overlap = set(ids.tolist()) & set(ckpt["train_ids"]) | set(ids.tolist()) & set(ckpt["val_ids"])
    if overlap:
        raise PrintoutError(f"{model_pt}: trained or selected on test record(s) {sorted(overlap)[:5]} of {truth_h5}")
    data = strip_set(signals, ids, fs, levels, seed, s["image_size"])
    if data.targets.shape[1] != int(s["n_out"]):
        raise PrintoutError(f"{model_pt}: outputs {s['n_out']} samples, the test images hold {data.targets.shape[1]}")
    log(f"digitizer: {len(data)} test images ({len(ids)} records x {len(levels)} level(s)), lead {LEAD}")
    t0 = time.perf_counter()
    with torch.no_grad():
        learned = np.concatenate([model(images_to_tensor(data.images[i])).double().numpy() for i in _batches(len(data), 16)])
    learned_s = (time.perf_counter() - t0) / max(1, len(data))
    classical = np.full(data.targets.shape, np.nan)
    errors = []
    t0 = time.perf_counter()
    for k in range(len(data)):
        name = f"{data.level[k]}/{data.ecg_id[k]} (single-lead image)"
        try:
            classical[k] = digitize_single_classical(data.images[k], fs, data.targets.shape[1], name=name)[0]
            errors.append("")
        except PrintoutError as exc:
            errors.append(str(exc))
            log(f"digitizer: classical digitiser failed on {name}: {exc}")
    classical_s = (time.perf_counter() - t0) / max(1, len(data))
    truth = data.targets.astype(np.float64)
    preds = {"learned": learned, "classical": classical}
    failed = {"learned": np.zeros(len(data), bool), "classical": np.array([bool(e) for e in errors])}
    rows = []
    for dig in DIGITISERS:
        for k in range(len(data)):
            rows.append({"digitiser": dig, "level": data.level[k], "ecg_id": int(data.ecg_id[k]), "failed": bool(failed[dig][k]),
                         **_scores(truth[k], preds[dig][k], bool(failed[dig][k]))})  # fmt: skip
    per_image = pd.DataFrame(rows)
    metrics, thresholds = score_table(per_image)
    arch, n_train = s.get("arch", "source"), len(ckpt["train_ids"]) * len(ckpt["levels"])  # predictions.h5 and metrics.md
    with atomic_path(out["h5"]) as tmp, h5py.File(tmp, "w") as h5:
        h5.create_dataset("images", data=data.images, compression="gzip", compression_opts=4)
        h5["truth"] = truth
        h5["learned"] = learned
        h5["classical"] = classical
        h5["classical_failed"] = failed["classical"]
        h5["classical_error"] = np.array(errors, dtype=h5py.string_dtype())
        h5["ecg_id"] = data.ecg_id
        h5["level"] = np.array(data.level, dtype=h5py.string_dtype())
        h5.attrs.update(fs=fs, lead=LEAD, seed=int(seed), n_params=int(ckpt["n_params"]), best_epoch=int(ckpt["best_epoch"]),
                        learned_s_per_image=learned_s, classical_s_per_image=classical_s, arch=arch,
                        image_size=[int(v) for v in s["image_size"]], train_seconds=float(ckpt.get("train_seconds", np.nan)),
                        n_train_images=n_train)  # fmt: skip
    write_csv(out["csv"], metrics)
    write_csv(out["thresholds"], thresholds)
    info = {"arch": arch, "height": int(s["image_size"][0]), "width": int(s["image_size"][1]),
            "n_records": len(ids), "n_params": int(ckpt["n_params"]),
            "best_epoch": int(ckpt["best_epoch"]), "n_train": n_train,
            "n_val": len(ckpt["val_ids"]) * len(ckpt["levels"])}  # fmt: skip
    with atomic_path(out["md"]) as tmp:
        tmp.write_text(markdown(metrics, thresholds, info))
    example_figure(out["png"], data.images, truth, preds, data.level, data.ecg_id, fs)
    log("digitizer: " + "; ".join(f"{r.digitiser} {r.level} SNR {r.snr_mean_db:.2f} dB r {r.pearson:.3f}" for r in metrics.itertuples()))
    log(f"digitizer: {learned_s * 1e3:.1f} ms (learned) and {classical_s * 1e3:.1f} ms (classical) per image")
    return metrics


def read_predictions(path) -> dict:
    """predictions.h5 as a dict of arrays (+ ``attrs``)."""
    with h5py.File(path, "r") as h5:
        d = {k: h5[k][()] for k in ("images", "truth", "learned", "classical", "classical_failed", "ecg_id")}
        d["level"] = list(h5["level"].asstr()[()])
        d["attrs"] = dict(h5.attrs)
    return d


__all__ = [
    "StripSet", "evaluate_from_files", "learned_records", "load_digitizer", "read_predictions", "score_table", "strip_image",
    "strip_set", "train_digitizer", "train_from_files",
]  # fmt: skip
