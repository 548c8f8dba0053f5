"""CaLiNet-E on PCM's test windows (rule ``evaluate_calinet``): the extended PCM table and calibration robustness.

Windows: exactly PCM's (:func:`ecgrecon.learn.calibration.load_split` of the official fold's test
records, record-level windows, PCM's ``cal_s``; a window overlapping its own record's calibration
window is never evaluated); PCM and PCM-raw are read from ``pcm.h5`` (the same rows, asserted), GL is
recomputed (equal to pcm.h5's), ChA (a population method, for reference) from ``predictions.h5``.

Metrics (``metrics.csv``; rows method x lead, plus ``Mean`` over the target leads and ``Anterior``
over the source's anterior group V1, V3, V4 among the targets):

- ``pcc``: Pearson r per window and lead, averaged (``pearson_seg`` of :func:`lead_metrics`);
- ``nrmse``: per window, RMS of the error over the row's leads and samples / RMS of the true signal
  of those leads (the source's nRMSE: no mean removed), averaged over windows;
- ``rmse`` (mV, pooled over the windows), ``r2`` (pooled per lead; Mean / Anterior: the mean of the
  leads' values);
- ``r_amp_mae``, ``st60_mae``, ``t_amp_mae`` (mV): morphology errors
  (:func:`ecgrecon.signal.morphology.morphology_table`) of the 12-lead window whose target leads are
  the method's, against the true window (2.56 s: the median beat rests on 2-3 beats).

Robustness (``robustness.csv``; Mean rows of the target leads, the same metrics without morphology):
the calibration window of every test record is changed and PCM (its validation-chosen alpha and rule),
CaLiNet-E (the trained checkpoint, unchanged) and GL re-predicted on the same windows:

- ``cal 2 s`` (PCM's own protocol), ``cal 1 s``, ``cal 0.5 s``: the first 1 / 0.5 s of that window;
- ``cal 2 s + em {db} dB``: NSTDB electrode-motion noise (the noise bank's *test* part, one
  snippet per record and lead, :func:`ecgrecon.noise.assign` / :func:`ecgrecon.noise.corrupt`) added
  to all 12 leads of the window at ``robust_noise_db`` dB SNR per lead;
- ``cal 2 s + ectopic beat``: a synthetic premature wide beat (:func:`insert_ectopic`) added to all
  12 leads;
- ``own record`` vs ``other record``: records whose patient has another test record (PCM's
  ``other_record`` source), calibrated on their own first 2 s or on the other record's, on the
  windows that start after their own first 2 s (the same windows for both rows).

Reliability (``reliability.csv``, figure): on PCM's protocol, per test record and target lead, the
method's continuous quality score before the ramp (PCM: q_PCM - q_GL; CaLiNet-E: :func:`quality_score`)
in quantile bins against the realised gain over GL, 1 - MSE(method) / MSE(GL) over that record's
windows of that lead.
"""

from __future__ import annotations

import dataclasses

import h5py
import numpy as np
import pandas as pd

from ecgrecon import LEADS12
from ecgrecon.data.datasets import ArtifactError, load_folds, open_clean, read_leads, read_segment_meta
from ecgrecon.data.records import read_record_predictions, reassembled_records
from ecgrecon.evaluation.cells import fmt
from ecgrecon.evaluation.plots import color, label
from ecgrecon.evaluation.retention import record_labels, retention_markdown
from ecgrecon.io.atomic import atomic_path, save_png, write_csv
from ecgrecon.learn.calibration import SplitData, load_split, predict_split
from ecgrecon.learn.calinet import RHO_OPTIONS, crossfit_score, load_calinet, predict, source_quality
from ecgrecon.learn.classifier import load_classifier, retention_table
from ecgrecon.learn.device import resolve_device
from ecgrecon.noise import assign, corrupt, read_bank
from ecgrecon.signal.metrics import lead_metrics
from ecgrecon.signal.morphology import morphology_table, replace_leads

ANTERIOR = ("V1", "V3", "V4")
METHODS = ("GL", "PCM-raw", "PCM", "CaLiNet-E", "ChA")
MORPH = ("r_amp", "st60", "t_amp")
COLUMNS = ["method", "lead", "n_windows", "pcc", "nrmse", "rmse", "r2", "r_amp_mae", "st60_mae", "t_amp_mae"]
ROBUST_METHODS = ("GL", "PCM", "CaLiNet-E")


# ---------------------------------------------------------------- metrics


def nrmse(y: np.ndarray, p: np.ndarray) -> float:
    """Mean over windows of RMS(p - y) / RMS(y) over the leads and samples of (n, L, T) arrays (windows with y == 0 skipped)."""
    num = np.sqrt(((np.asarray(p, np.float64) - y) ** 2).mean(axis=(1, 2)))
    den = np.sqrt((np.asarray(y, np.float64) ** 2).mean(axis=(1, 2)))
    ok = den > 0
    return float((num[ok] / den[ok]).mean()) if ok.any() else float("nan")


def method_rows(name: str, y, p, targets, morph: pd.DataFrame | None = None) -> list[dict]:
    """Rows (per lead, Mean, Anterior) of one method's predictions p against y, (n, J, T) mV."""
    per = {}
    for j, lead in enumerate(targets):
        m = lead_metrics(y[:, j], p[:, j])
        per[lead] = {"pcc": m["pearson_seg"], "nrmse": nrmse(y[:, j : j + 1], p[:, j : j + 1]), "rmse": m["rmse"], "r2": m["r2"]}
        if morph is not None:
            per[lead].update({f"{q}_mae": morph.get((lead, q), np.nan) for q in MORPH})
    rows = [{"method": name, "lead": lead, "n_windows": len(y), **v} for lead, v in per.items()]
    groups = [("Mean", list(targets))]
    ant = [t for t in targets if t in ANTERIOR]
    if ant:
        groups.append(("Anterior", ant))
    for gname, leads in groups:
        idx = [list(targets).index(t) for t in leads]
        row = {"method": name, "lead": gname, "n_windows": len(y)}
        row["pcc"] = float(np.mean([per[t]["pcc"] for t in leads]))
        row["nrmse"] = nrmse(y[:, idx], p[:, idx])
        row["rmse"] = float(np.sqrt(((np.asarray(p[:, idx], np.float64) - y[:, idx]) ** 2).mean()))
        row["r2"] = float(np.mean([per[t]["r2"] for t in leads]))
        if morph is not None:
            for q in MORPH:
                row[f"{q}_mae"] = float(np.nanmean([per[t][f"{q}_mae"] for t in leads]))
        rows.append(row)
    return rows


def morphology_mae(x12: np.ndarray, preds: dict, targets, fs: float) -> dict:
    """method -> {(lead, quantity): MAE (mV)} of the 12-lead windows with the targets replaced."""
    recon = {m: replace_leads(x12, p.astype(np.float32), targets) for m, p in preds.items()}
    summary, _ = morphology_table(x12, recon, fs, list(targets))
    return {m: {(r.lead, r.quantity): r.mae_mv for r in g.itertuples()} for m, g in summary.groupby("method", sort=False)}


# ---------------------------------------------------------------- the test windows and predictions


@dataclasses.dataclass
class EvalWindows:
    """PCM's test windows of one fold (record level) with their starts, ids and true 12-lead windows."""

    data: SplitData
    starts: np.ndarray  # (n_win,) window starts in their records
    win_id: np.ndarray  # (n_win,)
    x12: np.ndarray  # (n_win, 12, W) true 12-lead windows
    fs: float
    file_rows: np.ndarray  # (n_win,) rows of the windows in segments.h5 ``records/``


def load_test(clean_h5, segments, folds_json, gl, fold: str, cal_s: float) -> EvalWindows:
    ids = load_folds(folds_json, fold)["test"]
    data, sub = load_split(clean_h5, segments, ids, gl, "records", cal_s)
    wmeta, attrs = read_segment_meta(segments, "records")
    file_rows = np.flatnonzero(np.isin(wmeta["ecg_id"].to_numpy(np.int64), ids))[data.win_rows]
    x12 = read_leads(segments, list(LEADS12), file_rows, group="records") if len(file_rows) else np.zeros((0, 12, data.x.shape[2]))
    return EvalWindows(
        data, sub["start"].to_numpy(np.int64)[data.win_rows], sub["win_id"].to_numpy(np.int64)[data.win_rows], x12, float(attrs["fs"]),
        file_rows,
    )  # fmt: skip


def row_of(data: SplitData) -> np.ndarray:
    return pd.Index(data.plan["ecg_id"].to_numpy(np.int64)).get_indexer(data.win_ecg)


def predict_all(test: EvalWindows, pcm_h5, predictions_h5, model, gl, settings, fold: str) -> tuple[dict, dict]:
    """method -> (n_win, J, W) predictions on the test windows; CaLiNet-E's ``rho`` (n_plan, J) and PCM ``maps``."""
    d = test.data
    with h5py.File(pcm_h5, "r") as f:
        g = f["records"]
        if not np.array_equal(g["row"][...], d.win_rows) or not np.array_equal(g["win_id"][...], test.win_id):
            raise ValueError(f"{pcm_h5}: PCM's test windows differ from the ones rebuilt here (rerun calibrate_pcm)")
        preds = {"GL": g["gl"][...], "PCM-raw": g["pcm_raw"][...], "PCM": g["pcm"][...]}
    out = predict(model, gl, settings, d.x, row_of(d), d.cal_x, d.cal_y, test.fs)
    preds["CaLiNet-E"] = out["calinet"]
    extra = {"rho": out["rho"], "maps": out["maps"]}
    if predictions_h5 is not None:  # ChA, for reference, where the task's evaluate rule scored it on these windows
        win_id, others, targets = read_record_predictions(predictions_h5, fold)
        pos = pd.Index(win_id).get_indexer(test.win_id)
        if "ChA" in others and len(win_id) and (pos >= 0).all() and all(t in targets for t in gl.targets):
            preds["ChA"] = others["ChA"][pos][:, [targets.index(t) for t in gl.targets]]
    return preds, extra


def metrics_table(test: EvalWindows, preds: dict, targets) -> pd.DataFrame:
    y = test.data.y.astype(np.float64)
    morph = morphology_mae(test.x12, preds, targets, test.fs) if len(y) else {}
    rows = []
    for m in METHODS:
        if m in preds:
            rows += method_rows(m, y, preds[m].astype(np.float64), targets, morph.get(m))
    return pd.DataFrame(rows, columns=COLUMNS)


def metrics_markdown(df: pd.DataFrame, pcm_summary: dict, ckpt: dict, task: str) -> str:
    r = pcm_summary["rule"]
    rule = r["name"] if r["name"] != "ramp" else f"ramp({r['lo']:g},{r['hi']:g})"
    n = int(df["n_windows"].iloc[0]) if len(df) else 0
    parts = [
        f"# CaLiNet-E beside PCM (task {task}, fold {pcm_summary['fold']}, test split, {n} record windows)",
        "",
        f"PCM's test windows and calibration ({pcm_summary['cal_s']:g} s of each test patient's true 12-lead ECG; "
        f"alpha {pcm_summary['alpha']:g}, rule {rule}, chosen on the validation split). CaLiNet-E = PCM's "
        f"quality-weighted map (rho {ckpt['settings']['rho']}) + a FiLM U-Net residual ({ckpt['n_params']} parameters, "
        f"best epoch {ckpt['best_epoch']} of {len(ckpt['history']) - 1}; epoch 0 = the map itself). ChA: a population "
        "method (no calibration), for reference. nRMSE: RMS error / RMS of the true leads, per window; morphology: "
        "mean absolute error (mV) of R amplitude, ST at J+60 ms and T amplitude on the window's median beat.",
        "",
    ]
    if df.empty:
        return "\n".join(parts + ["No test windows to evaluate.", ""])
    cols = [("pcc", "PCC"), ("nrmse", "nRMSE"), ("rmse", "RMSE (mV)"), ("r2", "R²")]
    cols += [("r_amp_mae", "R amp"), ("st60_mae", "ST60"), ("t_amp_mae", "T amp")]
    for lead in ("Mean", "Anterior"):
        t = df[df["lead"] == lead]
        if t.empty:
            continue
        title = "mean over the target leads" if lead == "Mean" else "anterior group (" + ", ".join(ANTERIOR) + ")"
        lines = ["| method | " + " | ".join(c[1] for c in cols) + " |", "|---|" + "---|" * len(cols)]
        for r in t.itertuples():
            lines.append(f"| {r.method} | " + " | ".join(fmt(getattr(r, c[0])) for c in cols) + " |")
        parts += [f"## {title}", "", *lines, ""]
    lead_rows = df[~df["lead"].isin(["Mean", "Anterior"])]
    piv = lead_rows.pivot(index="lead", columns="method", values="rmse")
    ms = [m for m in METHODS if m in piv.columns]
    lines = ["| lead | " + " | ".join(ms) + " |", "|---|" + "---|" * len(ms)]
    for lead in dict.fromkeys(lead_rows["lead"]):
        lines.append(f"| {lead} | " + " | ".join(fmt(piv.loc[lead, m]) for m in ms) + " |")
    parts += ["## RMSE (mV) per lead", "", *lines, ""]
    mean = df[df["lead"] == "Mean"].set_index("method")
    if {"CaLiNet-E", "PCM"} <= set(mean.index):
        c, p = mean.loc["CaLiNet-E", "rmse"], mean.loc["PCM", "rmse"]
        verdict = "matches" if fmt(c) == fmt(p) else "beats" if c < p else "does not beat"
        parts += [f"CaLiNet-E {verdict} PCM on mean RMSE ({fmt(c)} vs {fmt(p)} mV).", ""]
    return "\n".join(parts)


# ---------------------------------------------------------------- robustness


def insert_ectopic(cal: np.ndarray, fs: float, seed: int) -> np.ndarray:
    """(n, L, m) calibration windows with a synthetic premature wide (ventricular-like) beat added.

    Per window (R peaks by the package's detector on all leads; none found: one at 0.2 s, RR 0.8 s):
    the beat [-0.1, +0.3] s around the first detected R peak is stretched in time by 1.8 (a wide QRS
    and T), sign-flipped and scaled by 1.5 (an ectopic focus turns the axis), its edges tapered (Tukey,
    30 %), and added with its R at 60 % of an RR interval (median RR of the window, seeded +-5 % jitter)
    after the detected R peak for which that point lies nearest the window centre. The sinus beats stay,
    as with a PVC.
    """
    from scipy.signal.windows import tukey

    from ecgrecon.signal.measures import detect_r_peaks

    out = np.array(cal, dtype=np.float64, copy=True)
    n, _, m = out.shape
    rng = np.random.default_rng(seed)
    pre, post, stretch = int(round(0.1 * fs)), int(round(0.3 * fs)), 1.8
    for i in range(n):
        try:
            peaks = np.asarray(detect_r_peaks(out[i], fs), dtype=np.int64)
        except ValueError:
            peaks = np.zeros(0, np.int64)
        if not len(peaks):
            peaks = np.array([int(round(0.2 * fs))])
        rr = float(np.median(np.diff(peaks))) if len(peaks) > 1 else 0.8 * fs
        src = int(peaks[0])
        beat = cal[i][:, max(src - pre, 0) : min(src + post, m)].astype(np.float64)
        r_in = src - max(src - pre, 0)
        if beat.shape[1] < 4:
            continue
        t_new = np.arange(int(round(beat.shape[1] * stretch))) / stretch
        wide = np.stack([np.interp(t_new, np.arange(beat.shape[1]), b) for b in beat])
        wide = (wide - wide[:, :1]) * -1.5 * tukey(len(t_new), 0.3)[None]
        at = peaks + int(round(0.6 * rr * (1 + rng.uniform(-0.05, 0.05))))
        r_new = int(at[np.argmin(np.abs(at - m // 2))])
        lo = r_new - int(round(r_in * stretch))
        k0, k1 = max(0, -lo), min(len(t_new), m - lo)
        if k1 > k0:
            out[i][:, lo + k0 : lo + k1] += wide[:, k0:k1]
    return out


def _subset(data: SplitData, keep: np.ndarray) -> SplitData:
    return dataclasses.replace(data, x=data.x[keep], y=data.y[keep], win_ecg=data.win_ecg[keep], win_rows=data.win_rows[keep])


def _robust_preds(data: SplitData, gl, pcm_summary, model, settings, fs) -> dict:
    pcm = predict_split(data, gl, pcm_summary["alpha"], pcm_summary["rule"])
    cal = predict(model, gl, settings, data.x, row_of(data), data.cal_x, data.cal_y, fs)
    return {"GL": pcm["gl"], "PCM": pcm["pcm"], "CaLiNet-E": cal["calinet"]}


def _own_calibration(clean_h5, ecg_ids, n_cal: int, gl) -> tuple[np.ndarray, np.ndarray]:
    f, meta = open_clean(clean_h5)
    with f:
        rows = pd.Index(meta["ecg_id"].to_numpy(np.int64)).get_indexer(np.asarray(ecg_ids, np.int64))
        order = np.argsort(rows)
        sig = np.empty((len(rows), n_cal, 12), np.float64)
        if len(rows):
            sig[order] = f["signals"][np.sort(rows), :n_cal, :]
    cal = sig.transpose(0, 2, 1)
    return cal[:, [LEADS12.index(c) for c in gl.inputs]], cal[:, [LEADS12.index(c) for c in gl.targets]]


def calibration_conditions(test: EvalWindows, clean_h5, noise_bank, gl, *, noise_db: float, seed: int, task: str) -> list:
    """[(condition name, SplitData with that calibration)] of the robustness table (module docstring), PCM's own first."""
    d, fs = test.data, test.fs
    n_cal = d.cal_x.shape[2]
    conds: list[tuple[str, SplitData]] = [(f"cal {n_cal / fs:g} s", d)]
    for sec in (1.0, 0.5):
        k = int(round(sec * fs))
        if k < n_cal:
            conds.append((f"cal {sec:g} s", dataclasses.replace(d, cal_x=d.cal_x[:, :, :k], cal_y=d.cal_y[:, :, :k])))
    cal12 = np.concatenate([d.cal_x, d.cal_y], axis=1).astype(np.float32)
    n_in = d.cal_x.shape[1]
    if noise_bank is not None and len(cal12):
        bank = read_bank(noise_bank)
        a = assign(
            bank, "em", "test", d.plan["ecg_id"], np.zeros(len(cal12), np.int64),
            n_leads=cal12.shape[1], window=n_cal, record_len=n_cal, seed=seed, task=f"{task}-calinet-cal",
        )  # fmt: skip
        noisy, _ = corrupt(cal12, bank, a, float(noise_db))
        noisy = noisy.astype(np.float64)
        src = bank.sources["em"]  # nstdb / nstdb-derived / synthetic: named in the condition, so synthetic noise says so
        name = f"cal {n_cal / fs:g} s + em {noise_db:g} dB" + ("" if src.startswith("nstdb") else f" ({src.upper()} noise)")
        conds.append((name, dataclasses.replace(d, cal_x=noisy[:, :n_in], cal_y=noisy[:, n_in:])))
    if len(cal12):
        ect = insert_ectopic(cal12, fs, seed)
        conds.append((f"cal {n_cal / fs:g} s + ectopic beat", dataclasses.replace(d, cal_x=ect[:, :n_in], cal_y=ect[:, n_in:])))
    other = d.plan[d.plan["source"] == "other_record"]
    if len(other):
        keep = np.isin(d.win_ecg, other["ecg_id"].to_numpy()) & (test.starts >= n_cal)
        if keep.any():
            sub_plan = d.plan[d.plan["source"] == "other_record"].reset_index(drop=True)
            sel = (d.plan["source"] == "other_record").to_numpy()
            base = _subset(dataclasses.replace(d, plan=sub_plan, cal_x=d.cal_x[sel], cal_y=d.cal_y[sel]), keep)
            own_x, own_y = _own_calibration(clean_h5, sub_plan["ecg_id"], n_cal, gl)
            conds.append(("own record (patients with 2+ records)", dataclasses.replace(base, cal_x=own_x, cal_y=own_y)))
            conds.append(("other record (patients with 2+ records)", base))
    return conds


def robustness(conds: list, gl, pcm_summary: dict, model, settings, fs: float) -> pd.DataFrame:
    """Error against calibration condition (Mean rows of the target leads) for GL, PCM and CaLiNet-E."""
    targets = list(gl.targets)
    rows = []
    for name, data in conds:
        preds = _robust_preds(data, gl, pcm_summary, model, settings, fs)
        y = data.y.astype(np.float64)
        for m in ROBUST_METHODS:
            r = [row for row in method_rows(m, y, preds[m].astype(np.float64), targets) if row["lead"] == "Mean"][0]
            rows.append({"condition": name, "n_records": int(len(np.unique(data.win_ecg))), **r})
    cols = ["condition", "method", "n_records", "n_windows", "pcc", "nrmse", "rmse", "r2"]
    return pd.DataFrame(rows)[cols]


def robustness_markdown(df: pd.DataFrame, noise_db: float) -> str:
    parts = [
        "# Calibration robustness: error against calibration condition (PCM, CaLiNet-E, GL)",
        "",
        "Same test windows per condition; only the calibration window changes (GL does not read it). "
        f"Noise: NSTDB electrode motion (test part of the bank) at {noise_db:g} dB per lead on all 12 leads of the "
        "window; ectopic beat: a synthetic premature wide beat (ecgrecon.evaluation.calinet_report.insert_ectopic); "
        "own vs other record: the patients with another test record, on windows after the own record's first 2 s.",
        "",
        "| condition | records | windows | " + " | ".join(f"RMSE {m}" for m in ROBUST_METHODS) + " | "
        + " | ".join(f"nRMSE {m}" for m in ROBUST_METHODS) + " | " + " | ".join(f"PCC {m}" for m in ROBUST_METHODS) + " |",
        "|---|---|---|" + "---|" * (3 * len(ROBUST_METHODS)),
    ]  # fmt: skip
    for cond, g in df.groupby("condition", sort=False):
        g = g.set_index("method")
        cells = [fmt(g.loc[m, k]) for k in ("rmse", "nrmse", "pcc") for m in ROBUST_METHODS]
        parts.append(f"| {cond} | {int(g['n_records'].iloc[0])} | {int(g['n_windows'].iloc[0])} | " + " | ".join(cells) + " |")
    return "\n".join(parts + [""])


def reliability(test: EvalWindows, preds: dict, scores: dict, targets, n_bins: int = 5) -> pd.DataFrame:
    """Per (method, score bin): mean score and mean realised gain over GL (1 - MSE / MSE_GL) of record x lead pairs.

    ``scores``: method -> (n_plan, J) quality scores (PCM: q_PCM - q_GL; CaLiNet-E: :func:`quality_score`); bins:
    quantiles of the score (NaN scores, constant calibration targets, are left out)."""
    d = test.data
    rows_of = row_of(d)
    y = d.y.astype(np.float64)
    se_gl = ((preds["GL"] - y) ** 2).mean(axis=2)  # (n_win, J)
    out = []
    for m, s in scores.items():
        se = ((preds[m] - y) ** 2).mean(axis=2)
        pts = []
        for r in range(len(d.plan)):
            w = rows_of == r
            for j in range(len(targets)):
                g = se_gl[w, j].mean() if w.any() else 0.0
                if g > 0 and np.isfinite(s[r, j]):
                    pts.append((float(s[r, j]), 1.0 - se[w, j].mean() / g))
        if not pts:
            continue
        p = np.array(pts)
        edges = np.unique(np.quantile(p[:, 0], np.linspace(0, 1, n_bins + 1)))
        idx = np.clip(np.searchsorted(edges, p[:, 0], side="right") - 1, 0, max(len(edges) - 2, 0))
        for b in np.unique(idx):
            sel = idx == b
            out.append(
                {"method": m, "bin": int(b), "score_lo": float(p[sel, 0].min()), "score_hi": float(p[sel, 0].max()),
                 "mean_score": float(p[sel, 0].mean()), "mean_gain": float(p[sel, 1].mean()), "n": int(sel.sum())}
            )  # fmt: skip
    return pd.DataFrame(out, columns=["method", "bin", "score_lo", "score_hi", "mean_score", "mean_gain", "n"])


def quality_score(maps, data: SplitData, gl, fs: float, settings) -> np.ndarray:
    """CaLiNet-E's continuous quality score (n_plan, J) before PCM's ramp turns it into rho: ``crossfit``
    q_PCM - max(q_GL, 0), ``pcm`` q_PCM - q_GL, ``source`` the source's rho itself."""
    if settings.rho == "crossfit":
        return crossfit_score(maps)
    if settings.rho == "pcm":
        return maps.score
    rho = source_quality(maps, data.cal_x, data.cal_y, gl.context, fs, settings)["rho"]
    return np.repeat(rho[:, None], len(gl.targets), axis=1)


def score_comparison(conds: list, gl, model, settings, fs: float) -> pd.DataFrame:
    """The three calibration-quality options side by side, per calibration condition (Mean rows of the targets).

    For each option of ``rho`` (crossfit, pcm, source): the quality-weighted map alone (W_eff with that rho, no
    residual) and CaLiNet-E's trained residual on top of it (trained with ``settings.rho``: the other rows swap the
    score at inference only), with the mean rho the option gives. A score that trusts a corrupted calibration shows as
    a high mean rho beside a map error above GL's."""
    targets = list(gl.targets)
    rows = []
    for name, data in conds:
        y = data.y.astype(np.float64)
        for opt in RHO_OPTIONS:
            out = predict(model, gl, dataclasses.replace(settings, rho=opt), data.x, row_of(data), data.cal_x, data.cal_y, fs)
            for what, key in (("map", "linear"), ("CaLiNet-E", "calinet")):
                r = [row for row in method_rows(what, y, out[key].astype(np.float64), targets) if row["lead"] == "Mean"][0]
                rows.append({"condition": name, "rho": opt, "trained_with": settings.rho, "mean_rho": float(np.mean(out["rho"])), **r})
    cols = ["condition", "rho", "trained_with", "method", "mean_rho", "n_windows", "pcc", "nrmse", "rmse", "r2"]
    return pd.DataFrame(rows, columns=cols)


def score_markdown(df: pd.DataFrame, rob: pd.DataFrame) -> str:
    trained = str(df["trained_with"].iloc[0]) if len(df) else "n/a"
    parts = [
        "# Calibration-quality scores compared: crossfit, pcm, source",
        "",
        "rho weights the patient's map against GL (W_eff = rho W_i + (1 - rho) W_GL). crossfit: this pipeline's cross-fit "
        "score through PCM's validation-chosen ramp; pcm: PCM's own rule; source: Zhang et al.'s 0.3 s_cond + 0.6 s_fit "
        f"+ 0.1 s_beat. map = the weighted map alone; CaLiNet-E = that map + the residual trained with rho {trained} "
        "(other rows swap the score at inference only). RMSE in mV, mean over the target leads; GL for reference.",
        "",
    ]
    return "\n".join(parts + score_table(df, rob) + [""])


def score_table(df: pd.DataFrame, rob: pd.DataFrame) -> list[str]:
    """Markdown rows of scores.csv (``df``) beside GL's RMSE of the robustness table: per condition, for each rho
    option present, mean rho / map RMSE / CaLiNet-E RMSE (mV)."""
    opts = [o for o in RHO_OPTIONS if o in set(df["rho"])] if len(df) else list(RHO_OPTIONS)
    rows = ["| condition | GL | " + " | ".join(f"{o}: mean rho / map / CaLiNet-E" for o in opts) + " |", "|---|---|" + "---|" * len(opts)]
    gl = rob[rob["method"] == "GL"].set_index("condition")["rmse"] if len(rob) else pd.Series(dtype=float)
    for cond, g in df.groupby("condition", sort=False):
        cells = []
        for o in opts:
            h = g[g["rho"] == o].set_index("method")
            cells.append(f"{fmt(h['mean_rho'].iloc[0], 2)} / {fmt(h.loc['map', 'rmse'], 4)} / {fmt(h.loc['CaLiNet-E', 'rmse'], 4)}")
        rows.append(f"| {cond} | {fmt(gl.get(cond, np.nan), 4)} | " + " | ".join(cells) + " |")
    return rows


def write_predictions(path, test: EvalWindows, preds: dict, targets, fold: str) -> None:
    """The methods' test-window predictions (mV) with their segments.h5 rows: the input of rule retention_calinet."""
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["fold"], f.attrs["targets"] = fold, [str(t) for t in targets]
        f["win_id"], f["row"] = test.win_id, test.file_rows
        for m, p in preds.items():
            f[f"methods/{m}"] = np.asarray(p, np.float32)


def calinet_retention(classifier_pt, predictions_h5, segments_h5, clean_h5, fold: str, device: str = "auto", log=print):
    """(retention table, summary) of the records whose windows CaLiNet-E was scored on.

    Each test record is reassembled from its record-level windows; in the windows of PCM's protocol the target leads are
    replaced by each method's prediction (GL, PCM-raw, PCM, CaLiNet-E, ChA: the same samples for every method), while
    the windows overlapping the record's own calibration segment keep the recorded leads, as every calibrated method is
    given them. The classifier of the retention rule scores them beside the originals."""
    dev = resolve_device(device)
    model, thresholds, classes = load_classifier(classifier_pt, dev)
    with h5py.File(predictions_h5, "r") as f:
        if str(f.attrs["fold"]) != fold:
            raise ArtifactError(f"{predictions_h5}: CaLiNet-E scored fold {f.attrs['fold']}, the classifier is of fold {fold}")
        targets, win_rows = [str(t) for t in f.attrs["targets"]], f["row"][...]
        preds = {m: f[f"methods/{m}"][...] for m in f["methods"]} if "methods" in f else {}
        preds = {m: preds[m] for m in METHODS if m in preds}
    wmeta, attrs = read_segment_meta(segments_h5, "records")
    summary = {"fold": fold, "n_records": 0, "n_samples": 0, "fs": float(attrs["fs"]), "record_samples": None, "full_record": None}
    if not len(win_rows):
        log(f"CaLiNet-E retention: {predictions_h5} has no test windows; empty table")
        return pd.DataFrame(columns=["fold", "method", "n_records", "macro_f1", "macro_auc", "f1_retention", "auc_retention"]), summary
    ecg = wmeta["ecg_id"].to_numpy(np.int64)
    keep = np.flatnonzero(np.isin(ecg, np.unique(ecg[win_rows])))
    pos = np.searchsorted(keep, win_rows)
    truth = read_leads(segments_h5, list(LEADS12), keep, group="records")
    tidx = [LEADS12.index(t) for t in targets]
    windows = {}
    for m, p in preds.items():
        w = truth[:, tidx].copy()
        w[pos] = p
        windows[m] = w
    ids, truth12, recon = reassembled_records(truth, wmeta.iloc[keep].reset_index(drop=True), windows, targets)
    y, record_samples = record_labels(clean_h5, ids, classes)
    table = retention_table(model, thresholds, y, {"original": truth12, **recon}, classes=tuple(classes), device=dev)
    table.insert(0, "fold", fold)
    summary.update(
        n_records=len(ids), n_samples=int(truth12.shape[-1]), record_samples=record_samples,
        full_record=bool(truth12.shape[-1] == record_samples), replaced=float(len(win_rows) / len(keep)),
    )  # fmt: skip
    for _, r in table.iterrows():
        log(
            f"CaLiNet-E retention {r['method']}: macro-F1 {r['macro_f1']:.3f} macro-AUC {r['macro_auc']:.3f} "
            f"(F1 retention {r['f1_retention']:.3f})"
        )
    return table, summary


def write_calinet_retention(table: pd.DataFrame, summary: dict, out_csv, out_md) -> None:
    note = (
        f"Records: the {summary['n_records']} test records CaLiNet-E was scored on; in {100 * summary.get('replaced', 0):.0f} % "
        "of their record windows (PCM's protocol: the windows after the calibration segment) the target leads are each "
        "method's prediction, the same windows for every method; the windows overlapping the record's own 2-s calibration "
        "keep the recorded leads, as every calibrated method is given them. The whole-record retention of the population "
        "methods is in the task's retention_metrics table."
    )
    write_csv(out_csv, table)
    with atomic_path(out_md) as tmp:
        tmp.write_text(retention_markdown(table, summary, f"# Diagnostic retention of CaLiNet-E ({summary['fold']} test split)", note))


# ---------------------------------------------------------------- figures


def robustness_figure(df: pd.DataFrame, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    conds = list(dict.fromkeys(df["condition"]))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(conds)), 3.6))
    width = 0.8 / len(ROBUST_METHODS)
    for i, m in enumerate(ROBUST_METHODS):
        g = df[df["method"] == m].set_index("condition")
        key = {"GL": "GL", "PCM": "PCM", "CaLiNet-E": "calinet"}[m]
        ax.bar(np.arange(len(conds)) + (i - 1) * width, [g.loc[c, "rmse"] for c in conds], width, label=m, color=color(key))
    ax.set_xticks(np.arange(len(conds)), conds, rotation=25, ha="right", fontsize=8)
    ax.set_ylabel("mean RMSE (mV)")
    ax.set_title("Error against calibration condition (same test windows)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    save_png(fig, path, dpi=110, bbox_inches="tight")


def reliability_figure(df: pd.DataFrame, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.6, 3.6))
    for m, g in df.groupby("method", sort=False):
        key = {"PCM": "PCM", "CaLiNet-E": "calinet"}[m]
        ax.plot(g["mean_score"], g["mean_gain"], "o-", label=label(key), color=color(key))
    ax.axhline(0.0, color="black", lw=0.8)
    ax.set_xlabel("quality score, bin mean (PCM: q_PCM - q_GL; CaLiNet-E: its rho's)", fontsize=8)
    ax.set_ylabel("realised gain over GL, 1 - MSE / MSE_GL")
    ax.set_title("Reliability of the calibration-quality score")
    ax.legend(fontsize=8)
    save_png(fig, path, dpi=110, bbox_inches="tight")


# ---------------------------------------------------------------- the rule


def evaluate_calinet(
    *, clean_h5, segments, folds_json, pcm_h5, pcm_json, model_path, predictions_h5, noise_bank, out: dict, task: str,
    noise_db: float, seed: int, log=print,
) -> pd.DataFrame:  # fmt: skip
    """Write metrics.{csv,md}, robustness.{csv,md,png}, reliability.{csv,png} (``out``: name -> path)."""
    import json

    pcm = json.loads(open(pcm_json).read())
    model, ckpt, gl, settings = load_calinet(model_path)
    test = load_test(clean_h5, segments, folds_json, gl, pcm["fold"], float(pcm["cal_s"]))
    if len(test.data.x) == 0:  # PCM had no test window to evaluate (its pcm.h5 has no records group)
        log("CaLiNet-E: no test windows to evaluate")
        return _write_empty(out, pcm, ckpt, task, noise_db, test, list(gl.targets))
    preds, extra = predict_all(test, pcm_h5, predictions_h5, model, gl, settings, pcm["fold"])
    df = metrics_table(test, preds, list(gl.targets))
    df.insert(0, "fold", pcm["fold"])
    write_csv(out["csv"], df)
    with atomic_path(out["md"]) as tmp:
        tmp.write_text(metrics_markdown(df.drop(columns="fold"), pcm, ckpt, task))
    mean = df[df["lead"] == "Mean"].set_index("method")
    log("CaLiNet-E " + ", ".join(f"{m} RMSE {mean.loc[m, 'rmse']:.4f}" for m in mean.index) + f" ({len(test.data.y)} windows)")
    write_predictions(out["predictions"], test, preds, list(gl.targets), pcm["fold"])
    conds = calibration_conditions(test, clean_h5, noise_bank, gl, noise_db=noise_db, seed=seed, task=task)
    rob = robustness(conds, gl, pcm, model, settings, test.fs)
    write_csv(out["robustness_csv"], rob)
    with atomic_path(out["robustness_md"]) as tmp:
        tmp.write_text(robustness_markdown(rob, noise_db))
    robustness_figure(rob, out["robustness_png"])
    sc = score_comparison(conds, gl, model, settings, test.fs)
    write_csv(out["scores_csv"], sc)
    with atomic_path(out["scores_md"]) as tmp:
        tmp.write_text(score_markdown(sc, rob))
    scores = {"PCM": extra["maps"].score, "CaLiNet-E": quality_score(extra["maps"], test.data, gl, test.fs, settings)}
    rel = reliability(test, preds, scores, list(gl.targets))
    write_csv(out["reliability_csv"], rel)
    reliability_figure(rel, out["reliability_png"])
    return df


def _write_empty(out: dict, pcm: dict, ckpt: dict, task: str, noise_db: float, test_empty, targets) -> pd.DataFrame:
    df = pd.DataFrame(columns=["fold", *COLUMNS])
    write_csv(out["csv"], df)
    with atomic_path(out["md"]) as tmp:
        tmp.write_text(metrics_markdown(df.drop(columns="fold"), pcm, ckpt, task))
    rob = pd.DataFrame(columns=["condition", "method", "n_records", "n_windows", "pcc", "nrmse", "rmse", "r2"])
    write_csv(out["robustness_csv"], rob)
    with atomic_path(out["robustness_md"]) as tmp:
        tmp.write_text(robustness_markdown(rob, noise_db) + "No test windows to evaluate.\n")
    write_csv(out["reliability_csv"], pd.DataFrame(columns=["method", "bin", "score_lo", "score_hi", "mean_score", "mean_gain", "n"]))
    for key in ("robustness_png", "reliability_png"):
        robustness_figure(rob, out[key])
    sc = pd.DataFrame(columns=["condition", "rho", "trained_with", "method", "mean_rho", "n_windows", "pcc", "nrmse", "rmse", "r2"])
    write_csv(out["scores_csv"], sc)
    with atomic_path(out["scores_md"]) as tmp:
        tmp.write_text(score_markdown(sc, rob) + "No test windows to evaluate.\n")
    write_predictions(out["predictions"], test_empty, {}, targets, pcm["fold"])
    return df
