"""Evaluate a noise task: every method on the test inputs corrupted with the test part of the noise, per level.

For a noise task (``corruption: noise``, :mod:`ecgrecon.tasks`) on the official fold's test split:
the task's own methods (trained with noise) and, when the task names ``clean_models``, that task's
clean-trained population methods, predict the targets from the same noisy inputs at every level.
Methods that read h get it from their encoder run on the noisy inputs (normalised with the clean
train statistics of reps.h5). Reference rows: ``noisy input`` (a denoising task's unprocessed input)
and ``zero``.

Metrics per (method, training, level, lead), on the test segments (definitions below; ``_seg``: mean
of per-segment values): RMSE pooled and seg-mean (mV), output SNR (dB, seg-mean), SNR improvement (dB:
output SNR minus input SNR of the same lead, denoising tasks only), PRD (%, seg-mean of
100 sqrt(sum e^2 / sum y^2)), cosine similarity and Pearson r (seg-mean); morphology errors (R amplitude,
ST60, T amplitude) on the first test window of every record. Tables per level (Markdown), a long CSV,
the test assignment (assignment.h5), a figure of RMSE against input SNR and a qualitative figure.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import h5py
import numpy as np
import pandas as pd

from ecgrecon import LEADS12
from ecgrecon import methods as registry
from ecgrecon.data.datasets import (
    ArtifactError,
    load_folds,
    normalise_h,
    read_leads,
    read_reps,
    read_segment_meta,
    split_rows,
    zscore_segments,
)
from ecgrecon.io.atomic import atomic_path, save_png, write_csv
from ecgrecon.learn.device import resolve_device
from ecgrecon.noise.corrupt import BEDIN, level_label, snr_db
from ecgrecon.signal.morphology import morphology_table, replace_leads
from ecgrecon.tasks import Task, with_derived

FOLD = "official"
NOISY = "noisy input"
EPS = 1e-12
LEVEL_COLUMNS = (
    ("rmse", "RMSE pooled (mV)"),
    ("rmse_seg", "RMSE seg-mean (mV)"),
    ("snr_out", "output SNR (dB)"),
    ("snr_imp", "SNR improvement (dB)"),
    ("prd", "PRD (%)"),
    ("cosine", "cosine"),
    ("pearson", "r"),
)


@dataclass
class Entry:
    """One evaluated predictor: a method with its artifacts, trained with noise (``own``) or clean."""

    method: str
    artifacts: object
    training: str  # noise | clean

    @property
    def label(self) -> str:
        """Table label: the display name, with how it was trained (nothing for a method that fits nothing)."""
        if registry.get(self.method).kind == "fixed":
            return registry.display(self.method)
        return f"{registry.display(self.method)} ({self.training}-trained)"


@dataclass
class NoiseEvalSettings:
    task: Task
    entries: list
    encoders: dict = field(default_factory=dict)  # encoder config section -> (encoder.pt, reps.h5)
    clean: dict = field(default_factory=dict)  # the clean config section (the filter method)
    device: str = "auto"


def per_segment(y: np.ndarray, p: np.ndarray) -> dict[str, np.ndarray]:
    """(n,) per-segment metrics of one lead: rmse, snr (dB), prd (%), cosine, pearson."""
    y64, p64 = y.astype(np.float64), p.astype(np.float64)
    e = p64 - y64
    se, sy = np.sum(e * e, axis=1), np.sum(y64 * y64, axis=1)
    sp = np.sum(p64 * p64, axis=1)
    yc, pc = y64 - y64.mean(axis=1, keepdims=True), p64 - p64.mean(axis=1, keepdims=True)
    den = np.sqrt(np.sum(yc * yc, axis=1) * np.sum(pc * pc, axis=1))
    return {
        "rmse": np.sqrt(se / y.shape[1]),
        "snr": 10 * np.log10(np.maximum(sy, EPS) / np.maximum(se, EPS)),
        "prd": 100 * np.sqrt(se / np.maximum(sy, EPS)),
        "cosine": np.sum(y64 * p64, axis=1) / np.maximum(np.sqrt(sy * sp), EPS),
        "pearson": np.where(den > EPS, np.sum(yc * pc, axis=1) / np.maximum(den, EPS), np.nan),
    }


def lead_rows(y: np.ndarray, p: np.ndarray, leads, snr_in: dict, base: dict) -> list[dict]:
    """Long-table rows (one per lead) of prediction ``p`` against ``y`` (n, L, T); ``snr_in``: lead -> (n,)
    input SNR of that lead (denoising), for the SNR improvement."""
    rows = []
    for j, lead in enumerate(leads):
        m = per_segment(y[:, j], p[:, j])
        imp = m["snr"] - snr_in[lead] if lead in snr_in else np.full(len(y), np.nan)
        rows.append(
            {
                **base,
                "lead": lead,
                "rmse": float(np.sqrt(np.mean((p[:, j].astype(np.float64) - y[:, j]) ** 2))),
                "rmse_seg": float(m["rmse"].mean()),
                "snr_out": float(m["snr"].mean()),
                "snr_imp": float(np.mean(imp)),
                "prd": float(m["prd"].mean()),
                "cosine": float(m["cosine"].mean()),
                "pearson": float(np.nanmean(m["pearson"])) if np.isfinite(m["pearson"]).any() else float("nan"),
                "n_segments": int(len(y)),
            }
        )
    return rows


def settings_from_rule(t: dict, inputs, clean: dict, device: str) -> NoiseEvalSettings:
    """The settings of a noise task's evaluation from a rule's ``task`` params (rules/common.smk noise_task_params) and
    named inputs (noise_evaluate_inputs: ``own__`` / ``clean__`` artifacts, ``encoder__`` / ``reps__`` files)."""
    from ecgrecon.io.runlog import file_list

    task = Task(t["name"], tuple(t["inputs"]), tuple(t["targets"]), tuple(t["derived"]), "noise", tuple(t["methods"]))

    def artifact(prefix, m):
        kind = registry.get(m).kind
        if kind == "fixed":
            return None
        given = inputs[f"{prefix}__{registry.artifact_key(m, FOLD)}"]
        return file_list(given) if kind == "decoder" else str(given)

    own = [m for m in t["methods"] if registry.get(m).joint]
    entries = [Entry(m, artifact("own", m), "noise") for m in own] + [Entry(m, artifact("clean", m), "clean") for m in t["clean_methods"]]
    encoders = {sec: (inputs[f"encoder__{sec}"], inputs[f"reps__{sec}"]) for sec in t["encoder_sections"]}
    return NoiseEvalSettings(task=task, entries=entries, encoders=encoders, clean=dict(clean), device=device)


def load_encoders(encoders: dict, dev) -> dict:
    """Encoder section -> (encoder, tile, train mean, train std of h): loaded once for every level."""
    from ecgrecon.learn.train_encoder import load_encoder

    out = {}
    for section, (enc_path, reps_path) in encoders.items():
        encoder, _ = load_encoder(enc_path, dev)
        with h5py.File(reps_path, "r") as f:
            tile = bool(f.attrs.get("tile", False))
        _, _, mean, std = read_reps(reps_path, FOLD)
        out[section] = (encoder, tile, mean, std)
    return out


def _noisy_h(loaded: dict, noisy_in: np.ndarray, ecg_ids, dev) -> dict:
    """Encoder section -> (h of the noisy inputs, normalised with the clean train statistics, None)."""
    from ecgrecon.learn.reps import encode, tile_by_record

    out = {}
    for section, (encoder, tile, mean, std) in loaded.items():
        h = encode(encoder, noisy_in, dev)
        if tile:
            h = tile_by_record(h, ecg_ids)
        out[section] = (normalise_h(h, mean, std), None)
    return out


def predict_entries(s: NoiseEvalSettings, noisy_in: np.ndarray, ids, fs: float, dev, encoders: dict | None = None) -> dict:
    """Label -> (n, n_scored, W) predictions of every entry from the noisy inputs (n, n_inputs, W) of windows of records
    ``ids``, and the unprocessed ``noisy input`` of a denoising task; ``encoders``: :func:`load_encoders` of
    ``s.encoders`` (loaded here when None)."""
    task = s.task
    encoders = load_encoders(s.encoders, dev) if encoders is None else encoders
    data = registry.EvalData(
        fold=FOLD,
        inputs=list(task.inputs),
        targets=list(task.targets),
        raw_in=noisy_in,
        x=zscore_segments(noisy_in),
        h=None,
        r_raw=None,
        rx=None,
        rh=None,
        device=dev,
        clean={**s.clean, "fs": fs},
        h_by=_noisy_h(encoders, noisy_in, ids, dev),
    )
    data.h = data.h_by.get("encoder", (None, None))[0]
    preds = {}
    for e in s.entries:
        p = registry.predict(e.method, e.artifacts, data)
        preds[e.label] = with_derived(p.segments, noisy_in, task)
    if task.denoising:
        preds[NOISY] = np.stack([noisy_in[:, task.inputs.index(lead)] for lead in task.scored], axis=1)
    return preds


def _first_windows(meta_test: pd.DataFrame) -> np.ndarray:
    """Row positions (in the test rows) of each record's first window (the morphology sample)."""
    first = meta_test.reset_index(drop=True).groupby("ecg_id")["start"].idxmin()
    return np.sort(first.to_numpy())


def evaluate_noise(segments, folds_path, noise, s: NoiseEvalSettings, out: dict, log=print) -> pd.DataFrame:
    """Write the noise task's tables and figures (``out``: csv, md, morph_csv, assignment, fig_rmse, fig_examples)."""
    task = s.task
    meta, attrs = read_segment_meta(segments)
    fs = float(attrs["fs"])
    rows = split_rows(meta, load_folds(folds_path, FOLD), segments)["test"]
    if len(rows) == 0:
        raise ArtifactError(f"{segments}: fold '{FOLD}' has no test segments")
    mt = meta.iloc[rows]
    ids, starts = mt["ecg_id"].to_numpy(), mt["start"].to_numpy()
    clean12 = read_leads(segments, list(LEADS12), rows)
    ix = [LEADS12.index(lead) for lead in task.inputs]
    clean_in, y = clean12[:, ix], clean12[:, [LEADS12.index(lead) for lead in task.scored]]
    dev = resolve_device(s.device)
    first = _first_windows(mt)
    records, morph_rows, examples = [], [], {}
    gains_by_level = {}
    log(
        f"noise task {task.name}: {len(rows)} test segments of {mt['ecg_id'].nunique()} records; noise {noise.kind} "
        f"({noise.source}); levels {[level_label(v) for v in noise.levels]}; {len(s.entries)} predictors"
    )
    encoders = load_encoders(s.encoders, dev)
    for level in noise.levels:
        noisy_in, g = noise.apply(clean_in, task.inputs, ids, starts, "test", level)
        gains_by_level[level_label(level)] = g
        snr_in_all = snr_db(clean_in, noisy_in)
        snr_in = {lead: snr_in_all[:, j] for j, lead in enumerate(task.inputs) if lead in task.scored}
        base = {
            "task": task.name,
            "kind": noise.kind,
            "source": noise.source,
            "level": level_label(level),
            "snr_in": float(np.mean(snr_in_all)),
        }
        preds = predict_entries(s, noisy_in, ids, fs, dev, encoders)
        preds["zero"] = np.zeros_like(y)
        for label, p in preds.items():
            method = next((e.method for e in s.entries if e.label == label), label)
            training = next((e.training for e in s.entries if e.label == label), "-")
            records += lead_rows(y, p, task.scored, snr_in, {**base, "predictor": label, "method": method, "training": training})
        # morphology on the first window of every record (12 leads: the targets replaced)
        truth12 = clean12[first]
        recon = {label: replace_leads(truth12, p[first], task.scored) for label, p in preds.items() if label != "zero"}
        summary, _ = morphology_table(truth12, recon, fs, task.scored)
        summary.insert(0, "level", level_label(level))
        morph_rows.append(summary)
        examples[level_label(level)] = (noisy_in, preds)
        log(
            f"  {level_label(level)}: input SNR {np.mean(snr_in_all):.1f} dB; "
            + ", ".join(f"{lab} {np.sqrt(np.mean((p - y) ** 2)):.4f}" for lab, p in preds.items() if lab != "zero")
        )
    table = pd.DataFrame(records)
    write_csv(out["csv"], table)
    morph = pd.concat(morph_rows, ignore_index=True)
    write_csv(out["morph_csv"], morph)
    _write_assignment(out["assignment"], noise, ids, starts, task, gains_by_level, mt)
    with atomic_path(out["md"]) as tmp:
        tmp.write_text(markdown(table, task, noise))
    rmse_figure(table, out["fig_rmse"], f"{task.name}: {noise.kind} noise ({noise.source})")
    examples_figure(examples, clean_in, y, task, fs, out["fig_examples"], noise)
    return table


def _write_assignment(path, noise, ids, starts, task, gains_by_level, mt) -> None:
    a = noise.assignment(ids, starts, "test")
    ix = [LEADS12.index(lead) for lead in task.inputs]
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("seg_id", data=mt["seg_id"].to_numpy(np.int64))
        f.create_dataset("ecg_id", data=ids.astype(np.int64))
        f.create_dataset("channel", data=a.channel[:, ix])
        f.create_dataset("offset", data=a.offset[:, ix])
        for label, g in gains_by_level.items():
            f.create_dataset(f"gain/{label}", data=g.astype(np.float32))
        f.attrs.update(
            {
                "kind": noise.kind,
                "source": noise.source,
                "split": "test",
                "leads": list(task.inputs),
                "seed": noise.seed,
                "task": task.name,
                "note": "offset: first sample of the segment's noise in the bank's test part; channel: NSTDB channel",
            }
        )


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Mean over leads per (level, predictor), in table order."""
    cols = [c for c, _ in LEVEL_COLUMNS]
    g = table.groupby(["level", "predictor"], sort=False)
    return g[cols].mean().reset_index()


def markdown(table: pd.DataFrame, task: Task, noise) -> str:
    src = noise.source
    label = "SYNTHETIC noise (no NSTDB on this machine)" if src == "synthetic" else f"NSTDB noise ({src})"
    out = [
        f"# {task.name}: {noise.kind} noise, {label}",
        "",
        f"Inputs {', '.join(task.inputs)} corrupted with the test part of the noise; targets {', '.join(task.scored)} "
        "scored against the clean leads (official fold, test split). Mean over the scored leads; SNR improvement "
        "only where the target was an input (denoising).",
        "",
    ]
    s = summary(table)
    for level, block in s.groupby("level", sort=False):
        snr = table.loc[table["level"] == level, "snr_in"].iloc[0]
        out += [
            f"## {level} (input SNR {snr:.1f} dB)",
            "",
            "| predictor | " + " | ".join(n for _, n in LEVEL_COLUMNS) + " |",
            "|---" * (len(LEVEL_COLUMNS) + 1) + "|",
        ]
        for _, r in block.iterrows():
            cells = [
                "-" if pd.isna(r[c]) else f"{r[c]:.3f}" if c in ("rmse", "rmse_seg", "cosine", "pearson") else f"{r[c]:.1f}"
                for c, _ in LEVEL_COLUMNS
            ]
            out.append(f"| {r['predictor']} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def rmse_figure(table: pd.DataFrame, path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = table[table["level"] != BEDIN]
    fig, ax = plt.subplots(figsize=(6, 4))
    for pred, block in s.groupby("predictor", sort=False):
        if pred == "zero":
            continue
        m = block.groupby("snr_in", sort=True)["rmse"].mean()
        ax.plot(m.index, m.values, marker="o", label=pred, linestyle="--" if "clean-trained" in pred else "-")
    ax.set_xlabel("input SNR (dB)")
    ax.set_ylabel("RMSE pooled (mV, mean over leads)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    save_png(fig, path, dpi=120)
    plt.close(fig)


def examples_figure(examples: dict, clean_in, y, task: Task, fs: float, path, noise) -> None:
    """Noisy input, predictions of the noise-trained methods, clean target: one test segment, one lead, the lowest level."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    level = list(examples)[-1]
    noisy_in, preds = examples[level]
    lead = task.scored[0]
    j = 0
    i = int(np.argmax(np.ptp(y[:, j], axis=1)))  # a clear beat
    t = np.arange(y.shape[-1]) / fs
    fig, ax = plt.subplots(figsize=(8, 3.2))
    if lead in task.inputs:
        ax.plot(t, noisy_in[i, task.inputs.index(lead)], color="0.7", lw=0.8, label="noisy input")
    for label, p in preds.items():
        if label in ("zero", NOISY) or "clean-trained" in label:
            continue
        ax.plot(t, p[i, j], lw=1.0, label=label)
    ax.plot(t, y[i, j], color="k", lw=1.2, label="clean")
    ax.set_xlabel("s")
    ax.set_ylabel(f"{lead} (mV)")
    ax.set_title(f"{task.name}: {noise.kind} at {level} ({noise.source})", fontsize=9)
    ax.legend(fontsize=7, ncol=3)
    save_png(fig, path, dpi=120)
    plt.close(fig)


def summary_over_tasks(csvs, out_csv, out_md, out_fig, log=print) -> pd.DataFrame:
    """Mean over leads per (task, level, predictor) of every noise task's metrics.csv; a Markdown table of RMSE per
    level and a figure of RMSE against input SNR, one panel per task (noise kind)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tables = [pd.read_csv(p) for p in csvs]
    if not tables:
        raise ArtifactError("noise summary: no noise task in this run")
    t = pd.concat(tables, ignore_index=True)
    cols = [c for c, _ in LEVEL_COLUMNS]
    keys = ["task", "kind", "source", "level", "predictor", "training"]
    s = t.groupby(keys, sort=False)[[*cols, "snr_in"]].mean().reset_index()
    write_csv(out_csv, s)
    lines = ["# Noise tasks: RMSE pooled (mV, mean over the scored leads) per input level", ""]
    for task, block in s.groupby("task", sort=False):
        levels = list(dict.fromkeys(block["level"]))
        kind, source = block["kind"].iloc[0], block["source"].iloc[0]
        tag = "SYNTHETIC noise" if source == "synthetic" else source
        lines += [f"## {task} ({kind}, {tag})", "", "| predictor | " + " | ".join(levels) + " |", "|---" * (len(levels) + 1) + "|"]
        for pred, rows in block.groupby("predictor", sort=False):
            v = dict(zip(rows["level"], rows["rmse"]))
            lines.append(f"| {pred} | " + " | ".join(f"{v[lv]:.4f}" if lv in v else "-" for lv in levels) + " |")
        lines.append("")
    with atomic_path(out_md) as tmp:
        tmp.write_text("\n".join(lines))
    tasks = list(dict.fromkeys(s["task"]))
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.5 * len(tasks), 3.8), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        block = s[(s["task"] == task) & (s["level"] != BEDIN)]
        for pred, rows in block.groupby("predictor", sort=False):
            if pred == "zero":
                continue
            rows = rows.sort_values("snr_in")
            ax.plot(rows["snr_in"], rows["rmse"], marker="o", label=pred, linestyle="--" if "clean-trained" in pred else "-")
        src = block["source"].iloc[0] if len(block) else ""
        ax.set_title(f"{task}: {block['kind'].iloc[0] if len(block) else ''} ({src})", fontsize=9)
        ax.set_xlabel("input SNR (dB)")
        ax.set_ylabel("RMSE pooled (mV)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    save_png(fig, out_fig, dpi=110)
    plt.close(fig)
    log(f"noise summary: {len(tasks)} tasks, {len(s)} rows")
    return s
