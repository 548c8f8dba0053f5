"""Evaluate the population methods of one task on the test split of every configured fold.

Writes the predictions (HDF5), Table I (segment level), Table II (10-s record level), per-class
RMSE, morphology errors, the latent k-NN affinity of x and h, and the figures. Metric definitions:
ecgrecon.signal.metrics. RMSE and R² are reported in both conventions, named in every table: *pooled*
over all test samples of a lead (CSV ``rmse``, ``r2``; this project's headline) and the *mean of
per-segment values* used by Youssef & Singla (CSV ``rmse_seg``, ``r2_seg``; Table II: ``*_mean`` over
records beside ``rmse_pooled``, ``r2_pooled``); Pearson r is the mean of per-segment (per-record) r.
Every method of the task (the registry, :mod:`ecgrecon.methods`: GL, C, C-h, ChA, ...) predicts the
same test segments and records through ``methods.predict``; the task's derived limb leads are then
computed from I and II (:func:`ecgrecon.tasks.with_derived`) and scored beside the targets against
the recorded leads.
Reference predictors: ``zero`` (all-zero signal) and ``train_mean`` (mean train waveform of the
lead: from the decoder checkpoints for the targets, from the train segments for derived leads).
Fold 10 is only read here, never for choices.
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
    class_vocab,
    label_lists,
    load_folds,
    load_h,
    read_leads,
    read_segment_meta,
    split_rows,
    zscore_segments,
)
from ecgrecon.data.records import reassembled_records
from ecgrecon.evaluation import plots
from ecgrecon.evaluation.cells import fmt
from ecgrecon.evaluation.morph_plots import bland_altman_figure
from ecgrecon.io.atomic import atomic_path, write_csv
from ecgrecon.learn.device import resolve_device
from ecgrecon.signal.measures import detect_r_peaks
from ecgrecon.signal.metrics import (
    METRICS,
    RECORD_METRICS,
    affinity_matrix,
    knn_neighbours,
    lead_metrics,
    mean_ci,
    pooled_rmse_r2,
    reassemble,
    record_lead_metrics,
)
from ecgrecon.signal.morphology import morphology_table
from ecgrecon.tasks import Task, with_derived

BASELINES = ("zero", "train_mean")
NAME = registry.display
"""Table label of a method or reference predictor (the registry's display name)."""
TABLE1_METRICS = ("rmse", "rmse_seg", "r2", "r2_seg", "pearson_seg")
"""The Table I columns (segment_metrics.csv names), in report order."""
LABELS = {
    "rmse": "RMSE pooled (mV)",
    "rmse_seg": "RMSE seg-mean (mV, authors')",
    "r2": "R² pooled",
    "r2_seg": "R² seg-mean (authors')",
    "pearson_seg": "r seg-mean",
}
"""Plain Markdown names of the Table I metrics (pooled over all test samples vs mean of per-segment values)."""
RECORD_COLUMNS = (
    ("rmse_pooled", "RMSE pooled (mV)"),
    ("rmse", "RMSE rec-mean (mV, ± 95 % CI)"),
    ("r2_pooled", "R² pooled"),
    ("r2", "R² rec-mean (± 95 % CI)"),
    ("pearson", "r rec-mean (± 95 % CI)"),
)
"""Table II columns in report order: a record_metrics.csv column (``*_pooled``) or a RECORD_METRICS key
(``{key}_mean`` ± ``{key}_ci95`` over records), and its Markdown name."""


@dataclass
class EvalSettings:
    """What to evaluate: one task (inputs, targets, derived leads, population methods in table order), the
    folds, labels.level and the ``evaluation`` config section."""

    inputs: list
    targets: list
    methods: list
    folds: list
    derived: list = field(default_factory=list)
    task: str = "paper"
    level: str = "superclass"
    knn_k: int = 10
    n_subclasses: int = 3
    min_class_records: int = 5
    device: str = "auto"

    @property
    def as_task(self) -> Task:
        return Task(self.task, tuple(self.inputs), tuple(self.targets), tuple(self.derived), "none", tuple(self.methods))

    @property
    def scored(self) -> list:
        """The leads every table reports: targets, then derived leads (:attr:`ecgrecon.tasks.Task.scored`)."""
        return self.as_task.scored

    @property
    def uses_h(self) -> bool:
        """Some method reads h of our encoder (the ``reps`` input; other designs' h come in ``reps_by``)."""
        return any(registry.get(m).uses_h and registry.get(m).encoder_section == "encoder" for m in self.methods)


def methods(res: dict, s: EvalSettings) -> list[str]:
    """Reported methods in table order (the task's population methods, registry order)."""
    return [m for m in s.methods if m in res["pred"]]


def _train_mean(segments, meta, ids, leads) -> dict:
    """Mean train waveform of each of ``leads`` over the fold's train segments (float64 mean, float32)."""
    rows = split_rows(meta, ids, segments)["train"]
    sig = read_leads(segments, list(leads), rows)
    return {lead: sig[:, j].mean(axis=0, dtype=np.float64).astype(np.float32) for j, lead in enumerate(leads)}


def _predict_fold(segments, folds_path, reps, artifacts, fold, s: EvalSettings, meta, rmeta, dev, reps_by=None) -> dict:
    ids = load_folds(folds_path, fold)
    rows = split_rows(meta, ids, segments)["test"]
    if len(rows) == 0:
        raise ArtifactError(f"{segments}: fold '{fold}' has no test segments")
    n_in, task = len(s.inputs), s.as_task
    sig = read_leads(segments, list(s.inputs) + s.scored, rows)
    raw_in, y = sig[:, :n_in], sig[:, n_in:]
    rrows = np.flatnonzero(np.isin(rmeta["ecg_id"].to_numpy(), ids["test"])) if rmeta is not None else np.zeros(0, int)
    rsig = read_leads(segments, list(s.inputs) + s.scored, rrows, group="records") if len(rrows) else None
    r_raw = None if rsig is None else rsig[:, :n_in]

    def h_of(path) -> tuple:
        """Normalised h of the test segments and record windows from one encoder's reps.h5."""
        rh = load_h(path, fold, rmeta["win_id"].to_numpy()[rrows], "records") if len(rrows) else None
        return load_h(path, fold, meta["seg_id"].to_numpy()[rows]), rh

    h, rh = h_of(reps) if s.uses_h else (None, None)
    data = registry.EvalData(
        fold=fold,
        inputs=[str(i) for i in s.inputs],
        targets=[str(t) for t in s.targets],
        raw_in=raw_in,
        x=zscore_segments(raw_in),
        r_raw=r_raw,
        rx=None if rsig is None else zscore_segments(r_raw),
        h=h,
        rh=rh,
        device=dev,
        h_by={section: h_of(path) for section, path in (reps_by or {}).items()},
    )
    out = {
        "rows": rows,
        "raw_in": raw_in,
        "x": data.x,
        "y": y,
        "pred": {},
        "rrows": rrows,
        "rpred": {},
        "n_params": {},
        "ry": None if rsig is None else rsig[:, n_in:],
    }
    train_mean = {}
    for m in s.methods:
        p = registry.predict(m, artifacts[(m, fold)], data)
        out["pred"][m] = with_derived(p.segments, raw_in, task)
        out["rpred"][m] = None if p.records is None else with_derived(p.records, r_raw, task)
        out["n_params"][m] = p.n_params
        for lead, mean in (p.train_mean or {}).items():
            train_mean.setdefault(lead, mean)
    missing = [lead for lead in s.scored if lead not in train_mean]
    if missing:
        train_mean.update(_train_mean(segments, meta, ids, missing))
    tm = np.stack([train_mean[lead] for lead in s.scored])
    out["pred"]["zero"] = np.zeros_like(y)
    out["pred"]["train_mean"] = np.broadcast_to(tm, y.shape).astype(np.float32)
    if rsig is not None:
        out["rpred"]["zero"] = np.zeros_like(out["ry"])
        out["rpred"]["train_mean"] = np.broadcast_to(tm, out["ry"].shape).astype(np.float32)
    return out


def segment_table(fold: str, res: dict, s: EvalSettings) -> pd.DataFrame:
    rows = []
    for variant in methods(res, s) + list(BASELINES):
        per_lead = []
        for j, lead in enumerate(s.scored):
            m = lead_metrics(res["y"][:, j], res["pred"][variant][:, j])
            per_lead.append(m)
            rows.append({"fold": fold, "variant": variant, "lead": lead, "n_segments": len(res["y"]), **m})
        mean = {k: float(np.mean([m[k] for m in per_lead])) for k in METRICS}
        rows.append(
            {
                "fold": fold,
                "variant": variant,
                "lead": "Mean",
                "n_segments": len(res["y"]),
                **mean,
                "n_pearson_undefined": int(sum(m["n_pearson_undefined"] for m in per_lead)),
                "n_constant_target": int(sum(m["n_constant_target"] for m in per_lead)),
            }
        )
    return pd.DataFrame(rows)


def record_table(fold: str, res: dict, rmeta: pd.DataFrame, s: EvalSettings) -> pd.DataFrame:
    if res["ry"] is None or len(res["rrows"]) == 0:
        return pd.DataFrame()
    m = rmeta.iloc[res["rrows"]].reset_index(drop=True)
    truth = reassemble(res["ry"], m)
    rows = []
    for variant in methods(res, s) + list(BASELINES):
        pred = reassemble(res["rpred"][variant], m)
        per = {lead: {k: [] for k in RECORD_METRICS} for lead in list(s.scored) + ["Mean"]}
        for ecg in sorted(truth):
            rec = [record_lead_metrics(truth[ecg][j], pred[ecg][j]) for j in range(len(s.scored))]
            for j, lead in enumerate(s.scored):
                for k in RECORD_METRICS:
                    per[lead][k].append(rec[j][k])
            for k in RECORD_METRICS:
                per["Mean"][k].append(float(np.nanmean([r[k] for r in rec])) if any(np.isfinite(r[k]) for r in rec) else float("nan"))
        pooled = {
            lead: pooled_rmse_r2([truth[ecg][j] for ecg in sorted(truth)], [pred[ecg][j] for ecg in sorted(truth)])
            for j, lead in enumerate(s.scored)
        }
        pooled["Mean"] = tuple(float(np.mean([pooled[lead][i] for lead in s.scored])) for i in range(2))
        for lead, vals in per.items():
            row = {"fold": fold, "variant": variant, "lead": lead, "n_records": len(truth)}
            for k in RECORD_METRICS:
                mean, half, _ = mean_ci(vals[k])
                row[f"{k}_mean"], row[f"{k}_ci95"] = mean, half
            row["rmse_pooled"], row["r2_pooled"] = pooled[lead]
            rows.append(row)
    return pd.DataFrame(rows)


def cv_summary(table: pd.DataFrame, value_cols: list[str]) -> pd.DataFrame:
    """Rows fold=cv_mean / cv_sd (across cv* folds, sd with ddof=1) when at least two cv folds."""
    cv = table[table["fold"].str.match(r"^cv\d+$")]
    if cv["fold"].nunique() < 2:
        return pd.DataFrame(columns=table.columns)
    grouped = cv.groupby(["variant", "lead"], sort=False)[value_cols]
    out = []
    for name, agg in (("cv_mean", grouped.mean()), ("cv_sd", grouped.std(ddof=1))):
        agg = agg.reset_index()
        agg.insert(0, "fold", name)
        out.append(agg)
    return pd.concat(out, ignore_index=True)


def _delta(c, ch) -> str:
    if not (np.isfinite(c) and np.isfinite(ch)) or c == 0:
        return "n/a"
    return f"{100.0 * (ch - c) / abs(c):+.1f}"


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _table_methods(table: pd.DataFrame, s: EvalSettings) -> list[str]:
    """Methods present in a metrics table, in report order (the task's methods)."""
    present = set(table["variant"])
    return [v for v in s.methods if v in present]


def _metric_blocks(metrics, names: list[str], leads: list[str], cell, extra=None) -> str:
    """One small table per metric (bold metric label, rows = leads, columns = methods, then ``extra``: a list of
    (column title, f(metric, lead) -> str)), so that many methods stay readable."""
    extra = extra or []
    blocks = []
    for metric in metrics:
        header = ["lead"] + [NAME(v) for v in names] + [title for title, _ in extra]
        rows = [
            [f"**{lead}**" if lead == "Mean" else lead] + [cell(v, lead, metric) for v in names] + [f(metric, lead) for _, f in extra]
            for lead in leads
        ]
        blocks.append(f"**{LABELS.get(metric, metric)}**\n\n" + _md_table(header, rows))
    return "\n\n".join(blocks)


def table1_md(seg: pd.DataFrame, fold: str, s: EvalSettings) -> str:
    """Table I: one block per metric (:data:`TABLE1_METRICS`: RMSE pooled and seg-mean, R² pooled and seg-mean,
    Pearson r seg-mean; labels :data:`LABELS`), rows leads + Mean, a column per method, and the Δ % of each
    method over the one it is compared with in the registry (``compare_to``: C-h over C)."""
    t = seg[seg["fold"] == fold].set_index(["variant", "lead"])
    names = _table_methods(seg[seg["fold"] == fold], s)
    pairs = _delta_pairs(names)
    titles = ["Δ %"] if len(pairs) == 1 else [f"Δ % {NAME(b)} vs {NAME(a)}" for a, b in pairs]
    extra = [
        (title, lambda metric, lead, a=a, b=b: _delta(t.loc[(a, lead), metric], t.loc[(b, lead), metric]))
        for title, (a, b) in zip(titles, pairs)
    ]
    return _metric_blocks(TABLE1_METRICS, names, list(s.scored) + ["Mean"], lambda v, lead, k: fmt(t.loc[(v, lead), k]), extra)


def _delta_pairs(names: list[str]) -> list[tuple[str, str]]:
    """(compared-with, method) for every reported method whose registry ``compare_to`` is reported too."""
    return [(registry.get(m).compare_to, m) for m in names if registry.get(m).compare_to in names]


def record_md(rec: pd.DataFrame, fold: str, s: EvalSettings) -> str:
    t = rec[rec["fold"] == fold].set_index(["variant", "lead"])
    names = _table_methods(rec[rec["fold"] == fold], s)
    header = ["lead"] + [f"{label} {NAME(v)}" for _, label in RECORD_COLUMNS for v in names]
    rows = []
    for lead in list(s.scored) + ["Mean"]:
        row = [f"**{lead}**" if lead == "Mean" else lead]
        for k, _ in RECORD_COLUMNS:
            for v in names:
                if k not in RECORD_METRICS:
                    row.append(fmt(t.loc[(v, lead), k]))
                    continue
                mean, half = t.loc[(v, lead), f"{k}_mean"], t.loc[(v, lead), f"{k}_ci95"]
                row.append(f"{fmt(mean)} ± {fmt(half)}")
        rows.append(row)
    return _md_table(header, rows)


def _select_classes(meta_rows: pd.DataFrame, lists: list[list[str]], s: EvalSettings, level: str) -> list[tuple[str, str]]:
    """(class, tag) to report: every superclass present; the n most and n least frequent subclasses."""
    records: dict[str, set] = {}
    for ecg, labs in zip(meta_rows["ecg_id"], lists):
        for c in labs:
            records.setdefault(c, set()).add(int(ecg))
    if level == "superclass":
        return [(c, "all") for c in sorted(records)]
    counts = sorted(((len(v), c) for c, v in records.items() if len(v) >= s.min_class_records), key=lambda t: (-t[0], t[1]))
    most = [(c, "most frequent") for _, c in counts[: s.n_subclasses]]
    least = [(c, "least frequent") for _, c in counts[::-1][: s.n_subclasses] if (c, "most frequent") not in most]
    return most + least[::-1]


def class_table(fold: str, res: dict, meta: pd.DataFrame, s: EvalSettings, segments) -> pd.DataFrame:
    m = meta.iloc[res["rows"]].reset_index(drop=True)
    levels = ["superclass"] + (["subclass"] if "subclass" in meta.columns else [])
    rows = []
    for level in levels:
        lists = label_lists(m, level, segments)
        for cls, tag in _select_classes(m, lists, s, level):
            sel = np.array([cls in labs for labs in lists])
            for variant in methods(res, s):
                rmse = [lead_metrics(res["y"][sel, j], res["pred"][variant][sel, j])["rmse"] for j in range(len(s.scored))]
                base = {
                    "fold": fold,
                    "variant": variant,
                    "level": level,
                    "class": cls,
                    "selection": tag,
                    "n_segments": int(sel.sum()),
                    "n_records": int(m["ecg_id"][sel].nunique()),
                }
                rows += [{**base, "lead": lead, "rmse": r} for lead, r in zip(s.scored, rmse)]
                rows.append({**base, "lead": "Mean", "rmse": float(np.mean(rmse))})
    return pd.DataFrame(rows)


def latent_table(res: dict, meta: pd.DataFrame, reps, fold: str, s: EvalSettings, segments) -> tuple[pd.DataFrame, dict]:
    """Cosine k-NN affinity over test segments (neighbours from other patients) for x and h."""
    m = meta.iloc[res["rows"]].reset_index(drop=True)
    lists = label_lists(m, s.level, segments)
    classes = class_vocab(lists)
    lab = np.array([[c in labs for c in classes] for labs in lists], dtype=bool).reshape(len(lists), len(classes))
    keep = lab.any(axis=1)
    spaces = {"x": res["x"].reshape(len(res["x"]), -1)}
    if reps is not None:  # h only where a method of the task reads it
        spaces["h"] = load_h(reps, fold, meta["seg_id"].to_numpy()[res["rows"]])
    rows, mats = [], {}
    groups = m["patient_id"].to_numpy()[keep]
    for space, feats in spaces.items():
        nb, valid = knn_neighbours(feats[keep], groups, s.knn_k)
        a, counts = affinity_matrix(lab[keep], nb, valid)
        diag = float(np.nanmean(np.diag(a))) if np.isfinite(np.diag(a)).any() else float("nan")
        mats[space] = (a, classes, diag)
        for i, ci in enumerate(classes):
            for j, cj in enumerate(classes):
                rows.append(
                    {
                        "space": space,
                        "row_class": ci,
                        "col_class": cj,
                        "affinity": a[i, j],
                        "n_row": int(counts[i]),
                        "k": s.knn_k,
                        "diagonal_mean": diag,
                    }
                )
    return pd.DataFrame(rows), mats


def qualitative_examples(res: dict, meta: pd.DataFrame, s: EvalSettings, fs: float, segments) -> list[dict]:
    """Per superclass the test segment with the median mean-lead RMSE; a beat (1.2 s) around its R peak."""
    m = meta.iloc[res["rows"]].reset_index(drop=True)
    lists = label_lists(m, "superclass", segments)
    ref = min(methods(res, s), key=lambda m: float(((res["pred"][m] - res["y"]) ** 2).mean()))  # the best method
    err = np.sqrt(((res["pred"][ref] - res["y"]) ** 2).mean(axis=(1, 2)))
    t = res["y"].shape[-1]
    half = min(t // 2, int(round(0.6 * fs)))
    out = []
    for cls in class_vocab(lists):
        sel = np.flatnonzero([cls in labs for labs in lists])
        i = sel[np.argsort(err[sel], kind="stable")[len(sel) // 2]]
        beats = detect_r_peaks(res["raw_in"][i], fs)  # the package's R-peak detector, on the input leads
        peak = int(beats[np.argmin(np.abs(beats - t // 2))]) if len(beats) else t // 2  # the beat nearest the middle
        lo = int(np.clip(peak - half, 0, t - 2 * half))
        signals = {"truth": res["y"][i, :, lo : lo + 2 * half]}
        signals.update({v: res["pred"][v][i, :, lo : lo + 2 * half] for v in methods(res, s)})
        out.append({"title": f"{cls} (ecg {int(m['ecg_id'][i])})", "signals": signals})
    return out


def morphology(res: dict, rmeta: pd.DataFrame, segments, fold: str, fs: float, s: EvalSettings):
    """Morphology errors (R amplitude, ST60, T amplitude) of GL, C, Ch on the whole test records.

    Each method's record-level windows are reassembled into 10-s records and put in place of the
    target leads of the true 12-lead record. Returns (summary with a fold column, long table).
    """
    if res["ry"] is None or len(res["rrows"]) == 0:
        return pd.DataFrame(), pd.DataFrame()
    m = rmeta.iloc[res["rrows"]].reset_index(drop=True)
    ids, truth12, recon = reassembled_records(
        read_leads(segments, list(LEADS12), res["rrows"], group="records"),
        m,
        {method: res["rpred"][method] for method in methods(res, s)},
        s.scored,
    )
    summary, errors = morphology_table(truth12, recon, fs, s.scored)
    summary.insert(0, "fold", fold)
    summary.insert(2, "n_records", len(ids))
    return summary, errors


def write_predictions(path, results: dict, meta, rmeta, s: EvalSettings) -> None:
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs.update({"targets": list(s.scored), "inputs": list(s.inputs), "units": "mV"})
        for fold, res in results.items():
            g = f.create_group(fold)
            g.create_dataset("segments/seg_id", data=meta["seg_id"].to_numpy()[res["rows"]])
            for v, p in res["pred"].items():
                if v not in BASELINES:
                    g.create_dataset(f"segments/{v}", data=p)
            if res["ry"] is not None:
                g.create_dataset("records/win_id", data=rmeta["win_id"].to_numpy()[res["rrows"]])
                for v, p in res["rpred"].items():
                    if v not in BASELINES:
                        g.create_dataset(f"records/{v}", data=p)


def evaluate(segments, folds_path, reps, artifacts: dict, out: dict, s: EvalSettings, log=print, reps_by: dict | None = None) -> dict:
    """Run the evaluation; ``out`` maps output names (see rules/evaluate.smk) to paths.

    ``artifacts``: (method, fold) -> what the method's rule fitted (a linear map's JSON, or the list of
    per-target-lead checkpoints in the order of ``s.targets``); ``reps``: our encoder's reps.h5 for the task's
    inputs, or None when no method of the task reads it; ``reps_by``: encoder config section -> reps.h5 of
    the other encoder designs the task's methods read (``encoder_paper``).
    """
    dev = resolve_device(s.device)
    meta, attrs = read_segment_meta(segments)
    fs = float(attrs["fs"])
    with h5py.File(segments, "r") as f:
        rmeta = read_segment_meta(segments, "records")[0] if "records" in f else None
    results, seg_tabs, rec_tabs, cls_tabs = {}, [], [], []
    for fold in s.folds:
        res = _predict_fold(segments, folds_path, reps, artifacts, fold, s, meta, rmeta, dev, reps_by)
        results[fold] = res
        seg_tabs.append(segment_table(fold, res, s))
        rec_tabs.append(record_table(fold, res, rmeta, s))
        cls_tabs.append(class_table(fold, res, meta, s, segments))
        log(f"{fold}: {len(res['rows'])} test segments, {len(res['rrows'])} record windows")
    seg = pd.concat(seg_tabs, ignore_index=True)
    seg = pd.concat([seg, cv_summary(seg, list(METRICS))], ignore_index=True)
    rec = pd.concat(rec_tabs, ignore_index=True)
    if len(rec):
        rec = pd.concat([rec, cv_summary(rec, [c for c in rec.columns if c.endswith(("_mean", "_ci95", "_pooled"))])], ignore_index=True)
    cls = pd.concat(cls_tabs, ignore_index=True)
    report = "official" if "official" in s.folds else s.folds[0]
    lat, mats = latent_table(results[report], meta, reps, report, s, segments)
    write_predictions(out["predictions"], results, meta, rmeta, s)
    write_csv(out["segment_csv"], seg)
    write_csv(out["record_csv"], rec)
    write_csv(out["class_csv"], cls)
    write_csv(out["latent_csv"], lat)
    if "morph_csv" in out:
        morph, errors = morphology(results[report], rmeta, segments, report, fs, s)
        write_csv(out["morph_csv"], morph)
        lead = "V4" if "V4" in s.scored else s.scored[0]
        if len(errors):
            bland_altman_figure(
                errors, lead, out["fig_bland_altman"], f"Bland-Altman, {lead}, {report} test records: reconstruction - truth (mV)"
            )
        else:  # no record-level windows in segments.h5: an empty, titled figure
            plots.affinity_heatmap(np.zeros((0, 0)), [], out["fig_bland_altman"], "no test records for Bland-Altman")
    _write_markdown(out, seg, rec, results, s, report, mats)
    for space in ("x", "h"):
        if space not in mats:  # no method of the task reads h: an empty, titled figure
            plots.affinity_heatmap(np.zeros((0, 0)), [], out[f"fig_affinity_{space}"], f"no {space} in this task")
            continue
        a, classes, diag = mats[space]
        plots.affinity_heatmap(
            a, classes, out[f"fig_affinity_{space}"], f"k-NN affinity of {space} (k={s.knn_k}), diagonal mean {diag:.2f}"
        )
    radar = cls[(cls["fold"] == report) & (cls["lead"] == "Mean")]
    values = {
        v: {
            (r["class"] if r["level"] == "superclass" else f"{r['class']} ({r['level']})"): r["rmse"]
            for _, r in radar[radar["variant"] == v].iterrows()
        }
        for v in methods(results[report], s)
    }
    plots.class_radar(values, out["fig_radar"], f"RMSE (mV) per class, mean over {', '.join(s.scored)}")
    plots.qualitative(qualitative_examples(results[report], meta, s, fs, segments), list(s.scored), fs, out["fig_qualitative"])
    mean = seg[(seg["fold"] == report) & (seg["lead"] == "Mean")].set_index("variant")
    summary = {v: {k: float(mean.loc[v, k]) for k in TABLE1_METRICS} for v in mean.index}
    log(
        f"{report} test, mean over leads: "
        + "; ".join(
            f"{v}: RMSE pooled {d['rmse']:.4f} seg-mean {d['rmse_seg']:.4f}, R2 pooled {d['r2']:.3f} seg-mean {d['r2_seg']:.3f}, "
            f"r {d['pearson_seg']:.3f}"
            for v, d in summary.items()
        )
    )
    log("latent diagonal mean: " + ", ".join(f"{k} {v[2]:.3f}" for k, v in mats.items()))
    return summary


CONVENTIONS = (
    "RMSE and R² in two conventions, both reported. *Pooled* (this project's headline): one RMSE / R² over "
    "all test samples of a lead (R² = 1 - SSE/SST, SST around the pooled mean). *Seg-mean (authors')*: RMSE and "
    "R² of each test segment (R² = 1 - SSE_i/SST_i, SST_i around the segment's own mean, as sklearn's r2_score; "
    "a constant target segment scores 1 if predicted exactly, else 0), then the mean over segments: the "
    "convention of Youssef & Singla's paper and code, so compare their numbers with the seg-mean columns. "
    "Pearson r: mean of per-segment r (both conventions)."
)
"""The sentences naming the two metric conventions (Table I's headline paragraph)."""


def _write_markdown(out, seg, rec, results, s: EvalSettings, report, mats) -> None:
    n_params = results[report]["n_params"]
    params = ", ".join(f"{NAME(v)} {n:,}" for v, n in n_params.items())
    headline = (
        f"Headline metrics. {CONVENTIONS} "
        f"{NAME(registry.baseline())} = {registry.get(registry.baseline()).description}. "
        + "".join(
            f"Δ % = 100 ({NAME(b)} - {NAME(a)}) / |{NAME(a)}| (negative RMSE Δ = {NAME(b)} better). "
            for a, b in _delta_pairs(list(s.methods))
        )
        + f"Inputs {', '.join(s.inputs)}; parameters: {params}."
        + (
            f" {', '.join(s.derived)}: derived from I and II after reconstruction (Einthoven, Goldberger), "
            "scored against the recorded leads."
            if s.derived
            else ""
        )
    )
    parts = [f"# Table I: segment-level reconstruction (test split), task {s.task}", "", headline, ""]
    for fold in s.folds:
        n = int(seg[seg["fold"] == fold]["n_segments"].iloc[0])
        parts += [f"## fold {fold} ({n} test segments)", "", table1_md(seg, fold, s), ""]
        base = seg[(seg["fold"] == fold) & (seg["lead"] == "Mean")].set_index("variant")
        parts += [
            "Mean over leads incl. reference predictors: "
            + "; ".join(
                f"{NAME(v)} RMSE pooled {fmt(base.loc[v, 'rmse'])} / seg-mean {fmt(base.loc[v, 'rmse_seg'])}, "
                f"R² pooled {fmt(base.loc[v, 'r2'])} / seg-mean {fmt(base.loc[v, 'r2_seg'])}"
                for v in methods(results[fold], s) + list(BASELINES)
            )
            + f". Segment-lead pairs with a constant target (R² seg-mean scores them 1 or 0): {int(base['n_constant_target'].iloc[0])}.",
            "",
        ]
        parts += [_gl_note(base, s), ""]
    if (seg["fold"] == "cv_mean").any():
        parts += ["## cross-validation folds: mean ± sd", "", _cv_md(seg, s, list(TABLE1_METRICS)), ""]
    parts += [
        f"Latent k-NN affinity (k={s.knn_k}, {s.level}), diagonal mean: " + ", ".join(f"{k} {fmt(v[2])}" for k, v in mats.items()) + ".",
        "",
    ]
    with atomic_path(out["segment_md"]) as tmp:
        tmp.write_text("\n".join(parts))
    parts = [
        f"# Table II: 10-s record level (test split), task {s.task}, mean ± 95 % CI over records",
        "",
        "Non-overlapping 2.56-s windows reassembled into the record; the last window is aligned to the "
        "record end and contributes only the samples not covered by the previous one. "
        "rec-mean = RMSE / R² / r of each record, then the mean over records ± 95 % CI (the record-level "
        "analogue of the authors' segment mean); pooled = one RMSE / R² over all samples of all test records.",
        "",
    ]
    if len(rec) == 0:
        parts.append("No record-level windows in segments.h5.")
    for fold in s.folds if len(rec) else []:
        n = int(rec[rec["fold"] == fold]["n_records"].iloc[0])
        parts += [f"## fold {fold} ({n} test records)", "", record_md(rec, fold, s), ""]
        base = rec[(rec["fold"] == fold) & (rec["lead"] == "Mean")].set_index("variant")
        parts += [_gl_note(base.rename(columns={"rmse_mean": "rmse"}), s), ""]
    with atomic_path(out["record_md"]) as tmp:
        tmp.write_text("\n".join(parts) + "\n")


def _gl_note(mean_rows: pd.DataFrame, s: EvalSettings) -> str:
    """One sentence per method: does it beat the baseline (GL) on the mean-over-leads RMSE?"""
    base = registry.baseline()
    if base not in mean_rows.index:
        return f"{NAME(base)} not evaluated."
    gl = mean_rows.loc[base, "rmse"]
    said = []
    for v in reversed([m for m in s.methods if m != base]):
        r = mean_rows.loc[v, "rmse"]
        verdict = "beats" if r < gl else "does not beat"
        said.append(f"{NAME(v)} {verdict} {NAME(base)} on mean RMSE ({fmt(r)} vs {fmt(gl)} mV, {_delta(gl, r)} %)")
    return "; ".join(said) + "."


def _cv_md(seg: pd.DataFrame, s: EvalSettings, metrics: list[str]) -> str:
    mean = seg[seg["fold"] == "cv_mean"].set_index(["variant", "lead"])
    sd = seg[seg["fold"] == "cv_sd"].set_index(["variant", "lead"])
    names = _table_methods(seg[seg["fold"] == "cv_mean"], s)
    return _metric_blocks(
        metrics, names, list(s.scored) + ["Mean"], lambda v, lead, k: f"{fmt(mean.loc[(v, lead), k])} ± {fmt(sd.loc[(v, lead), k])}"
    )
