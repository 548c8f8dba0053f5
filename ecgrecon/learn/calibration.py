"""PCM: the calibrated protocol, a per-patient ridge map from a 2-s 12-lead calibration window.

PCM needs 12-lead data of the evaluated patient, so it is reported separately from the
methods that see only I, II, V2. The protocol, per evaluated record r of patient p (records
of a split of ``folds.json``; the cleaned record gives the full 10-s 12-lead signal):

Calibration window (``calibration_plan``)
  * ``other_record``: p has another cleaned record r' in the same split -> the first 2 s
    (samples [0, 200) at 100 Hz) of r' (the smallest such ecg_id). All evaluated windows of
    r are kept.
  * ``same_record``: otherwise -> the first 2 s [0, 200) of r itself, and every evaluated
    window that overlaps them is excluded. A window [s, s + W) overlaps [0, 200) iff s < 200.
    With 1000 samples and W = 256: record-level windows start at 0, 256, 512, 744, so the one
    at 0 is excluded and 256, 512, 744 are evaluated (samples 256..999, the 744 window
    contributing its samples from n_keep_from = 24 on); hop-64 segments starting at 0, 64,
    128, 192 are excluded, those from 256 on are evaluated.
  A record whose calibration targets are constant (or non-finite) is not evaluated by PCM.

Per-patient map (``fit_patient_maps``)
  Ridge regression from the input leads to each target lead on the calibration window, with
  the GL design (same temporal context, interior samples) and the penalty pulling the weights
  toward the population GL weights instead of zero:
      W_p = argmin ||y - b - X W||^2 / m + alpha ||W - W_GL||^2.

Calibration-quality score and fallback to GL
  q_PCM = R^2 of a two-fold cross-fit inside the calibration window (fit on the first second,
  predict the second, and vice versa); q_GL = R^2 of GL on the same window; score
  s = q_PCM - q_GL, per record and target lead. The prediction is the convex mix
      w * PCM + (1 - w) * GL,   w = clip((s - lo) / (hi - lo), 0, 1),
  or w = 1 (``pcm``) / w = 0 (``gl``). alpha and the rule (lo, hi) are chosen on the
  *validation* split (the same protocol applied to its records) by the pooled squared error
  over all validation windows and target leads; the test split is only predicted.

Counts of evaluated records, patients and windows (by calibration source) are returned with
the predictions so tables can say on how many test patients PCM could be evaluated.
"""

from __future__ import annotations

from dataclasses import dataclass

import h5py
import numpy as np
import pandas as pd

from ecgrecon import LEADS12
from ecgrecon.data.datasets import ArtifactError, lead_indices, load_folds, open_clean, read_leads, read_segment_meta
from ecgrecon.io.atomic import atomic_path, write_json
from ecgrecon.io.h5io import write_table
from ecgrecon.learn.linear import LinearMap, lag_view
from ecgrecon.learn.linear import load as load_gl
from ecgrecon.signal.metrics import lead_metrics

CAL_SECONDS = 2.0
DEFAULT_ALPHAS = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1)
SOURCES = ("other_record", "same_record")


def default_rules() -> list[dict]:
    """Candidate weighting rules: GL only, PCM only, and ramps over the score s."""
    rules = [{"name": "gl"}, {"name": "pcm"}]
    for lo in (-0.2, -0.1, -0.05, 0.0, 0.05, 0.1):
        for width in (0.05, 0.1, 0.2):
            rules.append({"name": "ramp", "lo": lo, "hi": round(lo + width, 6)})
    return rules


def rule_weight(rule: dict, score: np.ndarray) -> np.ndarray:
    """Weight of PCM in the mix for calibration-quality scores ``score`` (NaN score -> 0)."""
    s = np.asarray(score, dtype=np.float64)
    if rule["name"] == "gl":
        w = np.zeros_like(s)
    elif rule["name"] == "pcm":
        w = np.ones_like(s)
    elif rule["name"] == "ramp":
        lo, hi = float(rule["lo"]), float(rule["hi"])
        if not hi > lo:
            raise ValueError(f"ramp rule needs hi > lo, got {rule}")
        w = np.clip((s - lo) / (hi - lo), 0.0, 1.0)
    else:
        raise ValueError(f"unknown weighting rule {rule}")
    return np.where(np.isfinite(s), w, 0.0)


def calibration_plan(clean_meta: pd.DataFrame, eval_ids, split_ids, n_samples: int, fs: float, cal_s: float = CAL_SECONDS) -> pd.DataFrame:
    """One row per evaluated record: ecg_id, patient_id, cal_ecg_id, cal_start, cal_stop, source.

    ``clean_meta``: ecg_id and patient_id of every cleaned record; ``eval_ids``: the records to
    evaluate; ``split_ids``: all ecg_ids of their split (a calibration record must be in it).
    """
    n_cal = int(round(cal_s * fs))
    if not 0 < n_cal <= n_samples:
        raise ValueError(f"calibration window of {cal_s:g} s at {fs:g} Hz does not fit {n_samples} samples")
    ecg = clean_meta["ecg_id"].to_numpy(np.int64)
    pat = clean_meta["patient_id"].to_numpy(np.int64)
    in_split = np.isin(ecg, np.asarray(list(split_ids), dtype=np.int64))
    patient_of = dict(zip(ecg.tolist(), pat.tolist()))
    by_patient: dict[int, list[int]] = {}
    for e, p, ok in zip(ecg.tolist(), pat.tolist(), in_split):
        if ok:
            by_patient.setdefault(p, []).append(e)
    rows = []
    for e in sorted(int(i) for i in eval_ids):
        if e not in patient_of:
            raise ValueError(f"record {e} is to be evaluated but is not among the cleaned records")
        p = patient_of[e]
        others = sorted(o for o in by_patient.get(p, []) if o != e)
        src = "other_record" if others else "same_record"
        rows.append(
            {"ecg_id": e, "patient_id": p, "cal_ecg_id": others[0] if others else e, "cal_start": 0, "cal_stop": n_cal, "source": src}
        )
    return pd.DataFrame(rows, columns=["ecg_id", "patient_id", "cal_ecg_id", "cal_start", "cal_stop", "source"])


def eval_mask(plan: pd.DataFrame, ecg_ids, starts, window: int) -> np.ndarray:
    """True for windows (ecg_id, start) that PCM evaluates: planned record, no calibration overlap."""
    ecg_ids = np.asarray(ecg_ids, dtype=np.int64)
    starts = np.asarray(starts, dtype=np.int64)
    p = plan.set_index("ecg_id")
    known = np.isin(ecg_ids, p.index.to_numpy())
    out = known.copy()
    idx = np.flatnonzero(known)
    rows = p.loc[ecg_ids[idx]]
    same = rows["cal_ecg_id"].to_numpy() == ecg_ids[idx]
    overlap = (starts[idx] < rows["cal_stop"].to_numpy()) & (starts[idx] + window > rows["cal_start"].to_numpy())
    out[idx] = ~(same & overlap)
    return out


@dataclass
class PatientMaps:
    """Per evaluated record: weights (n, J, C, 2K+1), intercept (n, J), quality scores (n, J)."""

    ecg_id: np.ndarray
    weights: np.ndarray
    intercept: np.ndarray
    q_pcm: np.ndarray
    q_gl: np.ndarray
    alpha: float

    @property
    def score(self) -> np.ndarray:
        """Calibration-quality score s = q_PCM - q_GL."""
        return self.q_pcm - self.q_gl


def _fit_rows(feats: np.ndarray, y: np.ndarray, rows: np.ndarray, prior: np.ndarray, alpha: float):
    """Batched ridge toward ``prior`` on the sample rows ``rows``: (W (n, p, J), b (n, J))."""
    f, t = feats[:, rows], y[:, rows]
    mx, my = f.mean(axis=1), t.mean(axis=1)
    fc, tc = f - mx[:, None], t - my[:, None]
    m = len(rows)
    g = np.einsum("nip,niq->npq", fc, fc) / m + alpha * np.eye(f.shape[2])[None]
    c = np.einsum("nip,nij->npj", fc, tc) / m + alpha * prior[None]
    w = np.linalg.solve(g, c)
    return w, my - np.einsum("np,npj->nj", mx, w)


def fit_patient_maps(cal_x: np.ndarray, cal_y: np.ndarray, gl: LinearMap, alpha: float, ecg_id=None) -> PatientMaps:
    """Per-record maps from calibration windows cal_x (n, C, m) and cal_y (n, J, m) in mV."""
    cal_x = np.asarray(cal_x, dtype=np.float64)
    cal_y = np.asarray(cal_y, dtype=np.float64)
    n, c, m = cal_x.shape
    n_t = len(gl.targets)
    if c != len(gl.inputs) or cal_y.shape != (n, n_t, m):
        raise ValueError(f"calibration arrays {cal_x.shape}, {cal_y.shape} do not fit the GL map ({len(gl.inputs)} inputs, {n_t} targets)")
    if not alpha > 0:
        raise ValueError(f"PCM ridge alpha must be > 0, got {alpha}")
    k = gl.context
    if m < 4 * (2 * k + 1) + 4:
        raise ValueError(f"calibration window of {m} samples is too short for context {k}")
    v = lag_view(cal_x, k)  # (n, C, m, 2K+1)
    feats = np.ascontiguousarray(v.transpose(0, 2, 1, 3)).reshape(n, m, -1)
    y = cal_y.transpose(0, 2, 1)  # (n, m, J)
    prior = gl.flat_weights()  # (p, J)
    interior = np.arange(k, m - k)
    w, b = _fit_rows(feats, y, interior, prior, alpha)
    half = m // 2
    sse = np.zeros((n, n_t))
    for fit_rows, test_rows in ((np.arange(k, half - k), np.arange(half, m)), (np.arange(half + k, m - k), np.arange(0, half))):
        wf, bf = _fit_rows(feats, y, fit_rows, prior, alpha)
        pred = np.einsum("nip,npj->nij", feats[:, test_rows], wf) + bf[:, None]
        sse += ((pred - y[:, test_rows]) ** 2).sum(axis=1)
    sst = ((y - y.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
    gl_pred = feats @ prior + gl.intercept[None, None]
    sse_gl = ((gl_pred - y) ** 2).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        q_pcm = np.where(sst > 0, 1 - sse / sst, np.nan)
        q_gl = np.where(sst > 0, 1 - sse_gl / sst, np.nan)
    weights = w.transpose(0, 2, 1).reshape(n, n_t, c, 2 * k + 1)
    ids = np.arange(n) if ecg_id is None else np.asarray(ecg_id, dtype=np.int64)
    return PatientMaps(ids, weights, b, q_pcm, q_gl, float(alpha))


def predict_pcm(maps: PatientMaps, x: np.ndarray, row_of: np.ndarray, context: int) -> np.ndarray:
    """Per-patient prediction (n_win, J, W) for windows x (n_win, C, W); ``row_of``: map row per window."""
    out = np.empty((x.shape[0], maps.weights.shape[1], x.shape[2]), dtype=np.float64)
    for lo in range(0, len(x), 512):
        v = lag_view(np.asarray(x[lo : lo + 512], dtype=np.float64), context)
        r = row_of[lo : lo + 512]
        out[lo : lo + 512] = np.einsum("nctk,njck->njt", v, maps.weights[r]) + maps.intercept[r][:, :, None]
    return out


@dataclass
class SplitData:
    """Everything PCM needs for one split: plan, calibration arrays, evaluated windows."""

    plan: pd.DataFrame
    cal_x: np.ndarray  # (n_plan, C, m)
    cal_y: np.ndarray  # (n_plan, J, m)
    x: np.ndarray  # (n_win, C, W) evaluated windows, inputs
    y: np.ndarray  # (n_win, J, W) evaluated windows, targets
    win_ecg: np.ndarray  # (n_win,) ecg_id per window
    win_rows: np.ndarray  # (n_win,) rows of the window table these came from


def _usable(cal_y: np.ndarray) -> np.ndarray:
    """Records whose calibration targets are finite and not constant."""
    finite = np.isfinite(cal_y).all(axis=(1, 2))
    return finite & (np.nan_to_num(cal_y.max(axis=-1) - cal_y.min(axis=-1)) > 0).all(axis=1)


def split_data(
    signals: np.ndarray,
    clean_meta: pd.DataFrame,
    windows: np.ndarray,
    win_meta: pd.DataFrame,
    split_ids,
    gl: LinearMap,
    fs: float,
    cal_s: float = CAL_SECONDS,
    n_samples: int | None = None,
) -> SplitData:
    """Assemble one split from arrays.

    ``signals``: (n_rec, T', 12) cleaned records aligned with ``clean_meta`` (at least their
    first ``cal_s`` seconds; ``n_samples`` is the full record length, default T');
    ``windows``: (n, 12, W) windows aligned with ``win_meta`` (ecg_id, start), all of records
    of the split ``split_ids``.
    """
    split_ids = np.asarray(list(split_ids), dtype=np.int64)
    w_ecg = win_meta["ecg_id"].to_numpy(np.int64)
    if not np.isin(w_ecg, split_ids).all():
        raise ValueError("windows of records outside the split were passed")
    n_samples = signals.shape[1] if n_samples is None else int(n_samples)
    plan = calibration_plan(clean_meta, np.unique(w_ecg), split_ids, n_samples, fs, cal_s)
    row_of = pd.Index(clean_meta["ecg_id"].to_numpy(np.int64))
    cal_rows = row_of.get_indexer(plan["cal_ecg_id"].to_numpy(np.int64))
    n_cal = int(round(cal_s * fs))
    if signals.shape[1] < n_cal:
        raise ValueError(f"signals hold {signals.shape[1]} samples, the calibration window needs {n_cal}")
    ii, it = lead_indices(gl.inputs), lead_indices(gl.targets)
    cal = np.asarray(signals[cal_rows, :n_cal], dtype=np.float64).transpose(0, 2, 1)  # (n_plan, 12, m)
    ok = _usable(cal[:, it])
    plan, cal = plan[ok].reset_index(drop=True), cal[ok]
    keep = eval_mask(plan, w_ecg, win_meta["start"].to_numpy(np.int64), windows.shape[2])
    win_rows = np.flatnonzero(keep)
    return SplitData(plan, cal[:, ii], cal[:, it], windows[win_rows][:, ii], windows[win_rows][:, it], w_ecg[win_rows], win_rows)


def _mix_terms(p_pcm: np.ndarray, p_gl: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per window and target: SSE(w) = A w^2 + B w + C of w * PCM + (1 - w) * GL."""
    d = p_pcm - p_gl
    e = p_gl - y
    return (d * d).sum(axis=-1), 2 * (d * e).sum(axis=-1), (e * e).sum(axis=-1)


def window_weights(maps: PatientMaps, rule: dict, win_ecg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(map row per window, PCM weight per window and target)."""
    row = pd.Index(maps.ecg_id).get_indexer(win_ecg)
    if (row < 0).any():
        raise ValueError("windows of records without a calibration map")
    return row, rule_weight(rule, maps.score)[row]


def select_on_validation(val: SplitData, gl: LinearMap, alphas=DEFAULT_ALPHAS, rules=None) -> tuple[dict, pd.DataFrame]:
    """Choose (alpha, rule) by the pooled squared error on validation windows; returns choice and table."""
    rules = default_rules() if rules is None else rules
    if len(val.x) == 0:
        raise ValueError("no validation windows for PCM: alpha and rule cannot be chosen")
    p_gl = gl.predict(val.x).astype(np.float64)
    table = []
    for alpha in alphas:
        maps = fit_patient_maps(val.cal_x, val.cal_y, gl, alpha, val.plan["ecg_id"])
        row, _ = window_weights(maps, {"name": "gl"}, val.win_ecg)
        p_pcm = predict_pcm(maps, val.x, row, gl.context)
        a, b, c = _mix_terms(p_pcm, p_gl, val.y.astype(np.float64))
        n = val.y.size
        for i, rule in enumerate(rules):
            w = rule_weight(rule, maps.score)[row]
            sse = float((a * w * w + b * w + c).sum())
            table.append(
                {
                    "alpha": float(alpha),
                    "rule_index": i,
                    "rule": _rule_name(rule),
                    "val_rmse": np.sqrt(sse / n),
                    "mean_weight": float(w.mean()),
                }
            )
    table = pd.DataFrame(table)
    best = table.iloc[int(np.argmin(table["val_rmse"].to_numpy()))]
    choice = {
        "alpha": float(best["alpha"]),
        "rule": rules[int(best["rule_index"])],
        "val_rmse": float(best["val_rmse"]),
        "val_rmse_gl": float(table.loc[table["rule"] == "gl", "val_rmse"].iloc[0]),
    }
    return choice, table


def _rule_name(rule: dict) -> str:
    return rule["name"] if rule["name"] != "ramp" else f"ramp({rule['lo']:g},{rule['hi']:g})"


def predict_split(data: SplitData, gl: LinearMap, alpha: float, rule: dict) -> dict:
    """PCM (mixed), raw per-patient and GL predictions (n_win, J, W) and the weights of a split."""
    maps = fit_patient_maps(data.cal_x, data.cal_y, gl, alpha, data.plan["ecg_id"])
    row, w = window_weights(maps, rule, data.win_ecg)
    p_gl = gl.predict(data.x).astype(np.float64)
    p_raw = predict_pcm(maps, data.x, row, gl.context)
    mixed = w[:, :, None] * p_raw + (1 - w[:, :, None]) * p_gl
    return {
        "pcm": mixed.astype(np.float32),
        "pcm_raw": p_raw.astype(np.float32),
        "gl": p_gl.astype(np.float32),
        "weight": w.astype(np.float32),
        "maps": maps,
    }


def counts(data: SplitData) -> dict:
    """Evaluated records, patients and windows, overall and per calibration source."""
    out = {"records": int(len(data.plan)), "patients": int(data.plan["patient_id"].nunique()), "windows": int(len(data.win_ecg))}
    for src in SOURCES:
        sel = data.plan["source"] == src
        ids = data.plan.loc[sel, "ecg_id"].to_numpy()
        out[src] = {
            "records": int(sel.sum()),
            "patients": int(data.plan.loc[sel, "patient_id"].nunique()),
            "windows": int(np.isin(data.win_ecg, ids).sum()),
        }
    return out


def compare_table(data: SplitData, pred: dict, targets, split: str) -> pd.DataFrame:
    """Segment-level metrics (ecgrecon.signal.metrics) of PCM, raw PCM and GL on the same windows."""
    rows = []
    for method, key in (("PCM", "pcm"), ("PCM-raw", "pcm_raw"), ("GL", "gl")):
        per = []
        for j, lead in enumerate(targets):
            m = lead_metrics(data.y[:, j], pred[key][:, j])
            per.append(m)
            rows.append({"split": split, "method": method, "lead": lead, "n_windows": len(data.y), **m})
        rows.append(
            {
                "split": split,
                "method": method,
                "lead": "Mean",
                "n_windows": len(data.y),
                **{k: float(np.mean([m[k] for m in per])) for k in ("rmse", "r2", "pearson_seg", "mae")},
            }
        )
    return pd.DataFrame(rows)


def _read_clean(clean_h5) -> tuple[h5py.File, pd.DataFrame, float]:
    f, meta = open_clean(clean_h5)
    for col in ("ecg_id", "patient_id"):
        if col not in meta.columns:
            f.close()
            raise ArtifactError(f"{clean_h5}: meta lacks column '{col}'")
    if f["signals"].shape[0] != len(meta) or f["signals"].shape[2] != len(LEADS12):
        f.close()
        raise ArtifactError(f"{clean_h5}: signals {f['signals'].shape} do not match meta ({len(meta)} rows, 12 leads)")
    return f, meta, float(f.attrs["fs"])


def load_split(
    clean_h5, segments, ids: np.ndarray, gl: LinearMap, group: str = "records", cal_s: float = CAL_SECONDS
) -> tuple[SplitData, pd.DataFrame]:
    """Read one split: calibration windows from clean.h5, evaluated windows from segments.h5.

    ``group='records'``: the record-level windows; ``group=''``: the hop segments. Only the
    split's records, and of clean.h5 only their first ``cal_s`` seconds, are read.
    Returns the data and the window meta rows it used.
    """
    wmeta, attrs = read_segment_meta(segments, group)
    rows = np.flatnonzero(np.isin(wmeta["ecg_id"].to_numpy(np.int64), ids))
    windows = read_leads(segments, list(LEADS12), rows, group=group)
    f, cmeta, fs = _read_clean(clean_h5)
    with f:
        if abs(fs - float(attrs["fs"])) > 1e-9:
            raise ArtifactError(f"{clean_h5}: fs {fs:g} differs from {segments} ({attrs['fs']})")
        keep = np.flatnonzero(np.isin(cmeta["ecg_id"].to_numpy(np.int64), ids))
        n_cal = int(round(cal_s * fs))
        n_samples = f["signals"].shape[1]
        if n_cal > n_samples:
            raise ArtifactError(f"{clean_h5}: records of {n_samples} samples are shorter than the {cal_s:g}-s calibration window")
        head = f["signals"][keep, :n_cal, :] if len(keep) else np.zeros((0, n_cal, 12), np.float32)
    if not np.isfinite(head).all():
        raise ArtifactError(f"{clean_h5}: non-finite values in the calibration windows")
    sub = wmeta.iloc[rows].reset_index(drop=True)
    data = split_data(head, cmeta.iloc[keep].reset_index(drop=True), windows, sub, ids, gl, fs, cal_s, n_samples)
    return data, sub


def run_pcm(
    clean_h5,
    segments,
    folds,
    gl_path,
    out_h5,
    out_json,
    fold: str = "official",
    alphas=DEFAULT_ALPHAS,
    rules=None,
    cal_s: float = CAL_SECONDS,
    log=print,
) -> dict:
    """Choose alpha and the weighting rule on val, predict the test split; write predictions and summary.

    ``out_h5``: groups ``records/`` (record-level windows) and ``segments/`` (hop segments),
    each with ``row`` (row in segments.h5 meta), ``win_id``/``seg_id``, ``pcm``, ``pcm_raw``,
    ``gl`` (n, J, W) mV, ``weight`` (n, J); plus table ``plan`` (per test record: calibration
    source, scores, weights). ``out_json``: choice, validation table, counts, metrics.
    """
    gl = load_gl(gl_path)
    ids = load_folds(folds, fold)
    val, _ = load_split(clean_h5, segments, ids["val"], gl, "records", cal_s)
    choice, table = select_on_validation(val, gl, alphas, rules)
    log(
        f"PCM {fold}: chosen alpha {choice['alpha']:g}, rule {_rule_name(choice['rule'])} "
        f"(val RMSE {choice['val_rmse']:.4f} mV vs GL {choice['val_rmse_gl']:.4f})"
    )
    summary = {
        "fold": fold,
        "cal_s": cal_s,
        "alpha": choice["alpha"],
        "rule": choice["rule"],
        "val_rmse": choice["val_rmse"],
        "val_rmse_gl": choice["val_rmse_gl"],
        "validation_grid": table.to_dict(orient="records"),
        "counts": {"val": counts(val)},
    }
    tables = []
    with atomic_path(out_h5) as tmp, h5py.File(tmp, "w") as out:
        out.attrs.update({"inputs": gl.inputs, "targets": gl.targets, "units": "mV", "fold": fold})
        for group, key in (("records", "win_id"), ("", "seg_id")):
            test, wmeta = load_split(clean_h5, segments, ids["test"], gl, group, cal_s)
            name = group or "segments"
            summary["counts"][f"test_{name}"] = counts(test)
            if len(test.x) == 0:
                log(f"PCM {fold}: no test {name} to evaluate")
                continue
            pred = predict_split(test, gl, choice["alpha"], choice["rule"])
            g = out.create_group(name)
            g.create_dataset("row", data=test.win_rows)
            g.create_dataset(key, data=wmeta[key].to_numpy(np.int64)[test.win_rows])
            for k in ("pcm", "pcm_raw", "gl", "weight"):
                g.create_dataset(k, data=pred[k])
            tables.append(compare_table(test, pred, gl.targets, f"test_{name}"))
            if group == "records":
                maps = pred["maps"]
                plan = test.plan.copy()
                w = rule_weight(choice["rule"], maps.score)
                for j, lead in enumerate(gl.targets):
                    plan[f"q_pcm_{lead}"], plan[f"q_gl_{lead}"], plan[f"weight_{lead}"] = (maps.q_pcm[:, j], maps.q_gl[:, j], w[:, j])
                write_table(out, "plan", plan)
    metrics = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    summary["test_metrics"] = metrics.to_dict(orient="records")
    write_json(out_json, summary)
    c = summary["counts"]["test_records"]
    log(
        f"PCM {fold}: test {c['records']} records of {c['patients']} patients "
        f"({c['other_record']['records']} calibrated on another record, {c['same_record']['records']} on their own "
        f"first 2 s), {c['windows']} record windows"
    )
    return summary
