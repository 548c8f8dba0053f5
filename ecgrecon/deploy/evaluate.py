"""Score an exported model on your own WFDB records with the pipeline's own tables (``ecgrecon evaluate``).

Per record that holds the model's input leads *and* every target lead: the leads are read and
cleaned exactly as ``ecgrecon reconstruct`` does (:func:`ecgrecon.deploy.reconstruct.read_input`,
:func:`~ecgrecon.deploy.reconstruct.clean_record`: the pipeline's cleaning, at the model rate), then
cut into the pipeline's two kinds of windows:

- *segments*: every full window at the bundle's hop (:func:`ecgrecon.data.segment.hop_starts`;
  Table I, segment level). Unlike the pipeline there is no QC pass (its bounds are not in the
  bundle): every window counts.
- *record windows*: non-overlapping windows plus one aligned to the record end
  (:func:`ecgrecon.data.segment.record_windows`; Table II, record level, and the morphology errors).

The model (:func:`ecgrecon.deploy.reconstruct.predict_windows`) and the bundle's population linear
map GL (:func:`ecgrecon.deploy.bundle.bundle_gl`; bundles exported before GL was included are
scored alone, and the outputs say so) predict the same windows; the all-zero reference predictor
is scored too. The tables are the pipeline's: :func:`ecgrecon.evaluation.evaluate.segment_table`,
:func:`~ecgrecon.evaluation.evaluate.record_table`, their Markdown renderings, and the morphology
errors of :func:`ecgrecon.signal.morphology.morphology_table` on the reassembled records
(:func:`ecgrecon.data.records.reassembled_records`; records that hold all 12 leads, or whose
missing limb leads follow from I and II).

A record without some target lead (absent, or with NaN samples) is listed and skipped; a bad
record (unreadable, no input lead, too short, ...) is reported like ``reconstruct`` does, and the
others are still scored.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ecgrecon import LEADS12
from ecgrecon import methods as registry
from ecgrecon.data.records import reassembled_records
from ecgrecon.data.segment import hop_starts, record_windows
from ecgrecon.deploy.bundle import ReconModel, bundle_gl, read_bundle
from ecgrecon.deploy.reconstruct import clean_record, predict_windows, read_input
from ecgrecon.evaluation.evaluate import CONVENTIONS, EvalSettings, record_md, record_table, segment_table, table1_md
from ecgrecon.io.atomic import atomic_path, save_png, write_csv
from ecgrecon.io.wfdbio import RecordError
from ecgrecon.learn.linear import LinearMap
from ecgrecon.signal.metrics import reassemble, record_lead_metrics
from ecgrecon.signal.morphology import error_summary, morphology_table
from ecgrecon.tasks import derive

FOLD = "input"
"""Value of the tables' ``fold`` column: the records given on the command line."""
REFERENCE = "zero"
"""The pipeline's reference predictor kept in the tables (its ``train_mean`` needs the train split)."""
LIMB = ("III", "AVR", "AVL", "AVF")
OUTPUTS = {
    "segment_csv": "segment_metrics.csv",
    "record_csv": "record_metrics.csv",
    "records_csv": "records.csv",
    "morph_csv": "morphology_metrics.csv",
    "not_scored_csv": "not_scored.csv",
    "md": "metrics.md",
    "figure": "rmse_per_lead.png",
}
"""Output name -> file name in the output folder."""


@dataclass
class Scored:
    """The windows of one record, cleaned at the model rate, and every method's predictions."""

    source: Path
    fs: float
    n_samples: int
    seg_y: np.ndarray  # (n_seg, n_targets, W)
    seg_pred: dict  # method -> (n_seg, n_targets, W)
    rec_starts: np.ndarray
    rec_keep: np.ndarray
    rec_y: np.ndarray  # (n_rwin, n_targets, W)
    rec_pred: dict
    rec12: np.ndarray | None  # (n_rwin, 12, W) for the morphology errors, or None


@dataclass
class Evaluation:
    """Tables of one ``evaluate`` run (the pipeline's formats) and what was not scored."""

    methods: list[str]
    segment: pd.DataFrame
    record: pd.DataFrame
    records: pd.DataFrame
    morphology: pd.DataFrame
    n_morph_records: int
    not_scored: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def load_gl(model: ReconModel) -> LinearMap | None:
    """The bundle's GL map (None for a bundle exported before GL was included)."""
    return bundle_gl(read_bundle(model.path), model.path)


def _reader(model: ReconModel) -> ReconModel:
    """The model with every other lead of the 12 as 'targets', so read_input also reads what the
    morphology needs (a lead present once and without NaN samples)."""
    extra = [lead for lead in LEADS12 if lead not in model.inputs and lead not in model.targets]
    return dataclasses.replace(model, meta={**model.meta, "targets": [*model.targets, *extra]})


def _twelve(leads: dict[str, np.ndarray]) -> np.ndarray | None:
    """(12, n) in LEADS12 order; missing limb leads derived from I and II; None if still incomplete."""
    have = dict(leads)
    if "I" in have and "II" in have:
        for lead in LIMB:
            have.setdefault(lead, derive(lead, have["I"], have["II"]))
    if any(lead not in have for lead in LEADS12):
        return None
    return np.stack([have[lead] for lead in LEADS12]).astype(np.float32)


def score_record(path, model: ReconModel, gl: LinearMap | None) -> Scored | list[str]:
    """Windows and predictions of one record, or the list of target leads it lacks (then not scored).

    RecordError (one line naming the file) for a record ``reconstruct`` would refuse too."""
    reader = _reader(model)
    rec = read_input(path, reader)
    lacking = [lead for lead in model.targets if lead not in rec.originals]
    if lacking:
        return lacking
    y, names = clean_record(rec, reader)
    k, window, hop = len(model.inputs), int(model.meta["window"]), int(model.meta["hop"])
    col = {**{lead: j for j, lead in enumerate(model.inputs)}, **{lead: k + j for j, lead in enumerate(names)}}
    tcols = [col[lead] for lead in model.targets]

    def cut(starts):
        return np.stack([y[s : s + window].T for s in starts]).astype(np.float32)  # (n, leads, W)

    seg_starts = hop_starts(len(y), window, hop)
    rec_starts, rec_keep = record_windows(len(y), window)
    seg, rwin = cut(seg_starts), cut(rec_starts)
    preds = {}
    for name, wins in (("seg", seg), ("rec", rwin)):
        x = np.ascontiguousarray(wins[:, :k])
        p = {model.meta["variant"]: predict_windows(model, x)}
        if gl is not None:
            p["GL"] = gl.predict(x)
        preds[name] = p
    twelve = _twelve({lead: rwin[:, j] for lead, j in col.items()})
    rec12 = None if twelve is None else np.swapaxes(twelve, 0, 1)  # (n_rwin, 12, W)
    return Scored(Path(path), rec.fs, rec.n_samples, seg[:, tcols], preds["seg"], rec_starts, rec_keep, rwin[:, tcols], preds["rec"], rec12)


def settings_of(model: ReconModel, methods: list[str]) -> EvalSettings:
    """The pipeline's evaluation settings for this model's leads and the scored methods."""
    return EvalSettings(inputs=model.inputs, targets=model.targets, methods=methods, folds=[FOLD], task="user records", device="cpu")


def tables(scored: list[Scored], model: ReconModel, methods: list[str]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, int]:
    """(segment table, record table, morphology summary, n records in it) with the pipeline's functions."""
    s = settings_of(model, methods)
    y = np.concatenate([r.seg_y for r in scored])
    pred = {m: np.concatenate([r.seg_pred[m] for r in scored]) for m in methods}
    ry = np.concatenate([r.rec_y for r in scored])
    rpred = {m: np.concatenate([r.rec_pred[m] for r in scored]) for m in methods}
    rmeta = pd.DataFrame(
        {
            "ecg_id": np.concatenate([np.full(len(r.rec_starts), i) for i, r in enumerate(scored)]).astype(np.int64),
            "start": np.concatenate([r.rec_starts for r in scored]).astype(np.int64),
            "n_keep_from": np.concatenate([r.rec_keep for r in scored]).astype(np.int64),
        }
    )
    zero = {"zero": np.zeros_like(y), "train_mean": np.zeros_like(y)}  # train_mean: placeholder, rows dropped
    rzero = {"zero": np.zeros_like(ry), "train_mean": np.zeros_like(ry)}
    res = {"y": y, "pred": {**pred, **zero}, "ry": ry, "rrows": np.arange(len(rmeta)), "rpred": {**rpred, **rzero}}
    seg = segment_table(FOLD, res, s)
    rec = record_table(FOLD, res, rmeta, s)
    keep = [*methods, REFERENCE]
    seg = seg[seg["variant"].isin(keep)].reset_index(drop=True)
    rec = rec[rec["variant"].isin(keep)].reset_index(drop=True)
    morph, n_morph = morphology(scored, methods, model)
    return seg, rec, morph, n_morph


def morphology(scored: list[Scored], methods: list[str], model: ReconModel) -> tuple[pd.DataFrame, int]:
    """Morphology errors (R amplitude, ST60, T amplitude; the pipeline's ``morphology_metrics.csv``
    columns) of every method on the records with 12 leads (records may differ in length: one at a time)."""
    fs = float(model.meta["fs"])
    errors, n = [], 0
    for r in scored:
        if r.rec12 is None:
            continue
        meta = pd.DataFrame({"ecg_id": 0, "start": r.rec_starts, "n_keep_from": r.rec_keep})
        _, truth12, recon = reassembled_records(r.rec12, meta, {m: r.rec_pred[m] for m in methods}, model.targets)
        _, err = morphology_table(truth12, recon, fs, model.targets)
        err["record"] = n
        errors.append(err)
        n += 1
    if not errors:
        return pd.DataFrame(), 0
    errors = pd.concat(errors, ignore_index=True)
    parts = []
    for m in methods:
        summary = error_summary(errors[errors["method"] == m].drop(columns="method"))
        summary.insert(0, "method", m)
        parts.append(summary)
    out = pd.concat(parts, ignore_index=True)
    out.insert(0, "fold", FOLD)
    out.insert(2, "n_records", n)
    return out, n


def per_record(scored: list[Scored], model: ReconModel, methods: list[str]) -> pd.DataFrame:
    """One row per record, method and lead (+ Mean): record-level RMSE, R², r (the Table II values)."""
    rows = []
    for r in scored:
        meta = pd.DataFrame({"ecg_id": 0, "start": r.rec_starts, "n_keep_from": r.rec_keep})
        truth = reassemble(r.rec_y, meta)[0]
        base = {"record": str(r.source), "fs": r.fs, "n_samples": r.n_samples, "n_segments": len(r.seg_y), "n_record_windows": len(r.rec_y)}
        for m in methods:
            pred = reassemble(r.rec_pred[m], meta)[0]
            per = [record_lead_metrics(truth[j], pred[j]) for j in range(len(model.targets))]
            rows += [{**base, "method": m, "lead": lead, **d} for lead, d in zip(model.targets, per)]
            mean = {k: float(np.nanmean([d[k] for d in per])) if any(np.isfinite(d[k]) for d in per) else float("nan") for k in per[0]}
            rows.append({**base, "method": m, "lead": "Mean", **mean})
    return pd.DataFrame(rows)


def evaluate_records(paths, model: ReconModel, gl: LinearMap | None, on_error=None, on_skip=None, bad_inputs=()) -> Evaluation | None:
    """Score every record of ``paths``; ``on_error(message)`` / ``on_skip(message)`` are called per
    bad / skipped record (the others go on). ``bad_inputs``: RecordErrors of input paths or list
    entries that named no record (listed in ``not_scored`` too). None when no record could be scored."""
    scored = []
    not_scored = [{"record": exc.path, "status": "error", "file": exc.path, "reason": exc.reason} for exc in bad_inputs]
    for path in paths:
        try:
            got = score_record(path, model, gl)
        except RecordError as exc:
            not_scored.append({"record": str(path), "status": "error", "file": exc.path, "reason": exc.reason})
            if on_error:
                on_error(str(exc))
            continue
        if isinstance(got, list):
            hea = Path(path).with_name(Path(path).name + ".hea")
            reason = f"no target lead(s) {', '.join(got)} (absent or with NaN samples): nothing to score against"
            not_scored.append({"record": str(path), "status": "skipped", "file": str(hea), "reason": reason})
            if on_skip:
                on_skip(f"{hea}: skipped, {reason}")
            continue
        scored.append(got)
    methods = [model.meta["variant"]] + (["GL"] if gl is not None else [])
    ns = pd.DataFrame(not_scored, columns=["record", "status", "file", "reason"])
    if not scored:
        return None
    seg, rec, morph, n_morph = tables(scored, model, methods)
    notes = []
    if gl is None:
        notes.append(f"{model.path.name} holds no GL map (exported before GL was included): the model is evaluated alone")
    n_lacking12 = len(scored) - n_morph
    if n_lacking12:
        notes.append(f"morphology errors on {n_morph} of {len(scored)} records (the others lack leads of the 12 that I and II do not give)")
    return Evaluation(methods, seg, rec, per_record(scored, model, methods), morph, n_morph, ns, notes)


def write_outputs(ev: Evaluation, model: ReconModel, out_dir) -> dict[str, Path]:
    """Write the tables, the Markdown report and the figure into ``out_dir``, each file atomically."""
    out = {k: Path(out_dir) / v for k, v in OUTPUTS.items()}
    write_csv(out["segment_csv"], ev.segment)
    write_csv(out["record_csv"], ev.record)
    write_csv(out["records_csv"], ev.records)
    write_csv(out["morph_csv"], ev.morphology)
    write_csv(out["not_scored_csv"], ev.not_scored)
    with atomic_path(out["md"]) as tmp:
        tmp.write_text(markdown(ev, model))
    figure(ev, model, out["figure"])
    return out


def markdown(ev: Evaluation, model: ReconModel) -> str:
    """Tables I and II (the pipeline's renderings) of the records given, with what was (not) scored."""
    s = settings_of(model, ev.methods)
    n_seg, n_rec = int(ev.segment["n_segments"].iloc[0]), int(ev.record["n_records"].iloc[0])
    counts = ev.not_scored["status"].value_counts()
    parts = [
        f"# ecgrecon evaluate: {model.label()}",
        "",
        f"{n_rec} records scored; {int(counts.get('skipped', 0))} skipped (a target lead absent), "
        f"{int(counts.get('error', 0))} bad (see not_scored.csv). Inputs {', '.join(model.inputs)}, targets "
        f"{', '.join(model.targets)}, cleaned as in the pipeline at {model.meta['fs']:g} Hz; segments: every "
        f"{model.meta['window']}-sample window at hop {model.meta['hop']} (no QC pass); records: non-overlapping windows, "
        "the last aligned to the record end. Methods: "
        + ", ".join(f"{registry.display(m)} ({registry.get(m).description})" for m in ev.methods)
        + ".",
        "",
        *[f"Note: {n}." for n in ev.notes],
        "",
        f"## Table I: segment level ({n_seg} segments)",
        "",
        CONVENTIONS,
        "",
        table1_md(ev.segment, FOLD, s),
        "",
        f"## Table II: record level ({n_rec} records, mean ± 95 % CI over records)",
        "",
        record_md(ev.record, FOLD, s),
        "",
    ]
    return "\n".join(parts)


def figure(ev: Evaluation, model: ReconModel, path) -> None:
    """Per-lead record-level RMSE (mean ± 95 % CI over records) of the model and GL; beside it, with
    GL, each record's mean-over-leads RMSE of the model against GL's."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    leads = [*model.targets, "Mean"]
    t = ev.record.set_index(["variant", "lead"])
    two = "GL" in ev.methods
    fig, axes = plt.subplots(1, 2 if two else 1, figsize=(11 if two else 6.5, 3.8), squeeze=False)
    ax, width = axes[0, 0], 0.8 / len(ev.methods)
    x = np.arange(len(leads))
    for i, m in enumerate(ev.methods):
        mean = [t.loc[(m, lead), "rmse_mean"] for lead in leads]
        ci = [t.loc[(m, lead), "rmse_ci95"] for lead in leads]
        method = registry.get(m)
        ax.bar(x + (i - (len(ev.methods) - 1) / 2) * width, mean, width, yerr=ci, capsize=2, color=method.color, label=method.legend or m)
    ax.set_xticks(x, leads)
    ax.set_ylabel("RMSE (mV), mean over records")
    ax.set_title(f"record-level RMSE per lead ({int(ev.record['n_records'].iloc[0])} records, ± 95 % CI)", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    if two:
        mean = ev.records[ev.records["lead"] == "Mean"].pivot(index="record", columns="method", values="rmse")
        ax = axes[0, 1]
        v = model.meta["variant"]
        ax.scatter(mean["GL"], mean[v], s=10, color=registry.get(v).color)
        hi = float(np.nanmax(mean[["GL", v]].to_numpy())) * 1.05 if len(mean) else 1.0
        ax.plot([0, hi], [0, hi], color="gray", lw=0.8, ls="--")
        ax.set_xlim(0, hi)
        ax.set_ylim(0, hi)
        ax.set_xlabel("GL RMSE (mV)")
        ax.set_ylabel(f"{registry.display(v)} RMSE (mV)")
        below = int((mean[v] < mean["GL"]).sum())
        ax.set_title(f"per record, mean over leads: {registry.display(v)} below GL on {below} of {len(mean)}", fontsize=9)
        ax.grid(alpha=0.3)
    fig.suptitle(f"ecgrecon evaluate: {model.path.name} (variant {model.meta['variant']})", fontsize=10)
    fig.tight_layout()
    save_png(fig, path, dpi=100)
