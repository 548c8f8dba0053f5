"""Sim-to-real: does the linear structure between leads that the cohort teaches hold on real records?

Two measures, computed from the signals every time (no stored numbers):

1. **Transfer of the population linear map.** For a task (``paper``: I, II, V2 -> V1, V3-V6;
   ``lead_i``: I -> II, V1-V6) the GL map (:mod:`ecgrecon.learn.linear`: ridge, +-2 samples of
   context, alpha chosen on fold 9) is fitted on the synthetic cohort's folds 1-8 and scored on
   every window of each real database, beside the same map fitted on that database itself under
   subject-wise k-fold cross-validation (out-of-fold predictions, alpha chosen on the next fold
   of the training folds), on the same windows. Scores: mean over target leads of the pooled
   RMSE (mV), pooled R^2 and mean per-window Pearson r (:func:`ecgrecon.signal.metrics.lead_metrics`);
   the gap is the cohort-fitted RMSE over the real-fitted one, minus 1.
2. **Distance between the distributions of per-record inter-lead structure.** Each record's
   eight independent leads give a covariance matrix; its 28 Fisher-z correlations, the logs of
   the 8 eigenvalues of the correlation matrix and the 8 log standard deviations
   (:func:`ecgrecon.synth.calibrate.structure_features`) are compared between the cohort and each
   database by the energy distance of the standardised scale-free features (correlations and
   eigenvalues; 0 for equal distributions), the calibration's moment distance
   (:func:`ecgrecon.synth.calibrate.distance` without its pooled term: scale-free features; all
   features, amplitudes included), and the mean absolute difference of the mean 12x12
   correlation matrices.

Preprocessing as the pipeline's: 0.5-45 Hz 2nd-order Butterworth band-pass (zero phase) at the
record's own rate, resampling to 100 Hz, the first 10 s, non-overlapping 256-sample windows
from the start. Real records: every 12-lead record of ``ptb-xl/records100`` (subjects from
``ptbxl_database.csv`` where listed, else one per record), ``ludb/data`` and ``cinc2021`` (one
subject per record), read by the project's adapters.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.spatial.distance import cdist

from ecgrecon import LEADS12
from ecgrecon.io.adapters import SHARED_FOLDERS, get_adapter
from ecgrecon.io.wfdbio import read_record
from ecgrecon.learn import linear
from ecgrecon.signal.filters import bandpass, resample
from ecgrecon.signal.metrics import lead_metrics
from ecgrecon.synth.calibrate import CORRELATION_FEATURES, MIN_STD_MV, Target, distance, record_covariances, structure_features, usable
from ecgrecon.synth.leadfield import INDEPENDENT

FS = 100.0
WINDOW = 256
DURATION_S = 10.0
CONTEXT = 2
K_FOLDS = 5
TASKS = {"paper": (("I", "II", "V2"), ("V1", "V3", "V4", "V5", "V6")), "lead_i": (("I",), ("II", "V1", "V2", "V3", "V4", "V5", "V6"))}
DATABASES = SHARED_FOLDERS
"""Real databases (name -> folder under the shared data root)."""
IDX8 = [LEADS12.index(k) for k in INDEPENDENT]


@dataclass
class SignalSet:
    """Prepared records of one data set: ``records`` list of (12, T) band-passed 100 Hz mV, ``groups``
    (subject per record), ``folds`` (official fold per record, synthetic only)."""

    name: str
    records: list[np.ndarray]
    groups: np.ndarray
    folds: np.ndarray | None = None

    def windows(self) -> tuple[np.ndarray, np.ndarray]:
        """(n, 12, 256) windows and the record index of each."""
        out, rec = [], []
        for i, s in enumerate(self.records):
            for start in range(0, s.shape[1] - WINDOW + 1, WINDOW):
                out.append(s[:, start : start + WINDOW])
                rec.append(i)
        return np.stack(out).astype(np.float32), np.asarray(rec)

    def covariances(self) -> np.ndarray:
        """(n, 8, 8) per-record covariance of the eight independent leads."""
        return np.stack([record_covariances(s[IDX8].T[None])[0] for s in self.records])


def prepare(sig: np.ndarray, fs: float) -> np.ndarray:
    """(T, 12) mV at ``fs`` -> (12, T') band-passed 0.5-45 Hz, at 100 Hz, at most the first 10 s."""
    y = resample(bandpass(np.asarray(sig, dtype=np.float64).T, fs, 0.5, 45.0, 2), fs, FS)
    return y[:, : int(DURATION_S * FS)]


def synthetic_set(records: pd.DataFrame, lr: np.ndarray, name: str = "synthetic") -> SignalSet:
    """A cohort's 100 Hz signals (n, 1000, 12) mV, deliberately bad records left out."""
    good = (records["bad_kind"] == "").to_numpy()
    return SignalSet(
        name, [prepare(s, FS) for s in lr[good]], records["patient_id"].to_numpy()[good], records["strat_fold"].to_numpy()[good]
    )


def load_real(shared: Path, name: str) -> SignalSet:
    """Every record of the real database ``name`` (a key of :data:`DATABASES`) under ``shared``."""
    root = (Path(shared) / DATABASES[name]).resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: real database {name} not found")
    sigs, groups = [], []
    if name == "PTB-XL":
        db = pd.read_csv(root / "ptbxl_database.csv")
        patient = dict(zip(db["ecg_id"].astype(int), db["patient_id"].astype(int)))
        for hea in sorted(root.glob("records100/*/*_lr.hea")):
            rec = read_record(root, str(hea.relative_to(root))[:-4])
            ecg = int(hea.name.split("_")[0])
            sigs.append(prepare(rec.signal, rec.fs))
            groups.append(f"p{patient[ecg]}" if ecg in patient else f"e{ecg}")
    else:
        adapter = get_adapter(DATABASES[name])
        heads = sorted(root.glob("data/*.hea"), key=lambda p: int(p.stem)) if name == "LUDB" else sorted(root.glob("*/*.hea"))
        for hea in heads:
            rec = adapter.read(root, str(hea.relative_to(root))[:-4])
            sigs.append(prepare(rec.signal, rec.fs))
            groups.append(hea.stem)
    if not sigs:
        raise FileNotFoundError(f"{root}: no records of {name}")
    return SignalSet(name, sigs, np.asarray(groups))


def subject_folds(groups: np.ndarray, k: int = K_FOLDS, seed: int = 0) -> np.ndarray:
    """Fold per item: the distinct groups shuffled with ``seed`` and dealt round-robin into k folds."""
    uniq = np.unique(groups)
    order = np.random.default_rng(seed).permutation(len(uniq))
    fold_of = dict(zip(uniq[order], np.arange(len(uniq)) % k))
    return np.array([fold_of[g] for g in groups])


def half(real: SignalSet, which: str, seed: int = 0) -> np.ndarray:
    """Records of one subject-wise half (``"a"`` or ``"b"``) of ``real``: the subjects shuffled
    with ``seed`` and dealt into two groups (:func:`subject_folds` with k = 2)."""
    if which not in ("a", "b"):
        raise ValueError(f"half must be 'a' or 'b', got {which!r}")
    return subject_folds(real.groups, 2, seed) == (0 if which == "a" else 1)


def subset(real: SignalSet, keep: np.ndarray) -> SignalSet:
    """The records of ``real`` where ``keep`` is true."""
    keep = np.asarray(keep, bool)
    return SignalSet(
        real.name, [r for r, k in zip(real.records, keep) if k], real.groups[keep], None if real.folds is None else real.folds[keep]
    )


def _split(x: np.ndarray, task: str) -> tuple[np.ndarray, np.ndarray]:
    inputs, targets = TASKS[task]
    return x[:, [LEADS12.index(k) for k in inputs]], x[:, [LEADS12.index(k) for k in targets]]


def fit_map(x_fit: np.ndarray, x_val: np.ndarray, task: str, context: int = CONTEXT) -> linear.LinearMap:
    """GL for ``task`` fitted on windows ``x_fit`` (n, 12, T), alpha chosen on ``x_val``."""
    inputs, targets = TASKS[task]
    xf, yf = _split(x_fit, task)
    xv, yv = _split(x_val, task)
    return linear.fit(xf, yf, xv, yv, list(inputs), list(targets), context=context, alphas=linear.DEFAULT_ALPHAS)


def cohort_map(cohort: SignalSet, task: str, context: int = CONTEXT) -> linear.LinearMap:
    """GL fitted on the cohort's folds 1-8, alpha on fold 9 (as rule ``fit_linear`` does)."""
    x, rec = cohort.windows()
    fold = cohort.folds[rec]
    return fit_map(x[fold <= 8], x[fold == 9], task, context)


def cv_predict(real: SignalSet, task: str, k: int = K_FOLDS, seed: int = 0, context: int = CONTEXT) -> np.ndarray:
    """Out-of-fold predictions (n, J, 256) of GL under subject-wise k-fold CV on ``real``'s windows."""
    x, rec = real.windows()
    folds = subject_folds(real.groups, k, seed)[rec]
    pred = np.empty((len(x), len(TASKS[task][1]), x.shape[2]), dtype=np.float32)
    for f in range(k):
        val = folds == (f + 1) % k
        gl = fit_map(x[(folds != f) & ~val], x[val], task, context)
        pred[folds == f] = gl.predict(_split(x[folds == f], task)[0])
    return pred


def scores(y: np.ndarray, pred: np.ndarray) -> dict:
    """Mean over target leads of the pooled RMSE, pooled R^2 and mean per-window r (lead_metrics)."""
    per = [lead_metrics(y[:, j], pred[:, j]) for j in range(y.shape[1])]
    return {
        "rmse": float(np.mean([m["rmse"] for m in per])),
        "r2": float(np.mean([m["r2"] for m in per])),
        "r": float(np.mean([m["pearson_seg"] for m in per])),
    }


def map_transfer(
    cohort: SignalSet, reals: dict[str, SignalSet], tasks=tuple(TASKS), k: int = K_FOLDS, seed: int = 0, score_records: dict | None = None
) -> pd.DataFrame:
    """One row per task and database: cohort-fitted and real-fitted (CV) scores and the RMSE gap.

    ``score_records``: database -> boolean mask of the records whose windows are scored (the CV
    still runs on all of the database's records); default all."""
    rows = []
    score_records = score_records or {}
    for task in tasks:
        gl = cohort_map(cohort, task)
        for name, real in reals.items():
            x, rec = real.windows()
            sel = np.asarray(score_records.get(name, np.ones(len(real.records), bool)))[rec]
            xin, y = _split(x, task)
            syn = scores(y[sel], gl.predict(xin[sel]))
            own = scores(y[sel], cv_predict(real, task, k, seed)[sel])
            rows.append(
                {
                    "cohort": cohort.name,
                    "task": task,
                    "database": name,
                    "n_records": int(len(np.unique(rec[sel]))),
                    "n_windows": int(sel.sum()),
                    **{f"cohort_{m}": v for m, v in syn.items()},
                    **{f"real_cv_{m}": v for m, v in own.items()},
                    "rmse_gap_pct": 100.0 * (syn["rmse"] / own["rmse"] - 1.0),
                }
            )
    return pd.DataFrame(rows)


def energy_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Energy distance 2E|A-B| - E|A-A'| - E|B-B'| between two samples (rows), Euclidean."""
    return float(2 * cdist(a, b).mean() - cdist(a, a).mean() - cdist(b, b).mean())


def mean_correlation12(s: SignalSet) -> np.ndarray:
    """Mean over records of the 12x12 lead correlation matrix (records with a flat lead left out)."""
    return np.mean([np.corrcoef(r) for r in s.records if (r.std(axis=1) >= MIN_STD_MV).all()], axis=0)


def structure_distances(cohort: SignalSet, reals: dict[str, SignalSet]) -> pd.DataFrame:
    """One row per database: energy distance of the standardised scale-free features, moment
    distance (scale-free features; all features), mean |difference| of mean 12x12 correlations."""
    cs = cohort.covariances()
    fs = structure_features(cs[usable(cs)])
    c12 = mean_correlation12(cohort)
    rows = []
    for name, real in reals.items():
        cr = real.covariances()
        fr = structure_features(cr[usable(cr)])
        z = CORRELATION_FEATURES
        mu, sd = fr[:, z].mean(axis=0), fr[:, z].std(axis=0, ddof=1)
        rows.append(
            {
                "cohort": cohort.name,
                "database": name,
                "n_records_used": len(fr),
                "energy_corr": energy_distance((fs[:, z] - mu) / sd, (fr[:, z] - mu) / sd),
                "moment_corr": distance(fs, Target.from_covariances(name, cr, z)),
                "moment_all": distance(fs, Target.from_covariances(name, cr)),
                "mean_abs_corr12_diff": float(np.abs(c12 - mean_correlation12(real))[np.triu_indices(12, 1)].mean()),
            }
        )
    return pd.DataFrame(rows)


def markdown(maps: pd.DataFrame, structure: pd.DataFrame) -> str:
    """The two tables as markdown."""
    out = [
        "| cohort | task | database | records | cohort-fitted RMSE / R^2 / r | real-fitted (5-fold CV) RMSE / R^2 / r | RMSE gap |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in maps.itertuples():
        out.append(
            f"| {r.cohort} | {r.task} | {r.database} | {r.n_records} | {r.cohort_rmse:.3f} / {r.cohort_r2:.3f} / {r.cohort_r:.3f} | "
            f"{r.real_cv_rmse:.3f} / {r.real_cv_r2:.3f} / {r.real_cv_r:.3f} | {r.rmse_gap_pct:+.1f} % |"
        )
    out += [
        "",
        "| cohort | database | records used | energy distance (correlations, eigenvalues) | moment distance (correlations, eigenvalues) | "
        "moment distance (+ log-sd) | mean abs. diff. of mean 12x12 correlations |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in structure.itertuples():
        out.append(
            f"| {r.cohort} | {r.database} | {r.n_records_used} | {r.energy_corr:.3f} | {r.moment_corr:.3f} | "
            f"{r.moment_all:.3f} | {r.mean_abs_corr12_diff:.3f} |"
        )
    return "\n".join(out) + "\n"


def figure(maps: pd.DataFrame, correlations: dict[str, np.ndarray], path: Path) -> None:
    """RMSE of cohort-fitted vs real-fitted maps per task and database; mean 12x12 correlations."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ecgrecon.io.atomic import save_png

    tasks = list(dict.fromkeys(maps["task"]))
    cohorts = list(dict.fromkeys(maps["cohort"]))
    n_c = len(correlations)
    fig, axes = plt.subplots(2, max(len(tasks), n_c), figsize=(4.2 * max(len(tasks), n_c), 8), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        t = maps[maps["task"] == task]
        dbs = list(dict.fromkeys(t["database"]))
        x = np.arange(len(dbs))
        width = 0.8 / (len(cohorts) + 1)
        real = t.drop_duplicates("database").set_index("database").loc[dbs, "real_cv_rmse"]
        ax.bar(x - 0.4 + width / 2, real, width, label="real-fitted (CV)", color="k")
        for i, c in enumerate(cohorts):
            v = t[t["cohort"] == c].set_index("database").loc[dbs, "cohort_rmse"]
            ax.bar(x - 0.4 + width * (i + 1.5), v, width, label=f"fitted on {c}")
        ax.set_xticks(x, dbs)
        ax.set_ylabel("mean RMSE (mV)")
        ax.set_title(f"task {task}")
        ax.legend(fontsize=8)
    for ax in axes[0][len(tasks) :]:
        ax.axis("off")
    for ax, (name, c) in zip(axes[1], correlations.items()):
        im = ax.imshow(c, vmin=-1, vmax=1, cmap="RdBu_r")
        ax.set_xticks(range(12), LEADS12, rotation=90, fontsize=7)
        ax.set_yticks(range(12), LEADS12, fontsize=7)
        ax.set_title(f"mean correlation: {name}", fontsize=9)
    for ax in axes[1][n_c:]:
        ax.axis("off")
    fig.colorbar(im, ax=axes[1].tolist(), shrink=0.7)
    fig.suptitle("Sim-to-real: population linear map and inter-lead correlations")
    fig.subplots_adjust(wspace=0.4, hspace=0.35)
    save_png(fig, path, dpi=90)


AMPLITUDES_UNUSABLE = {"LUDB"}  # fit only the correlations of these databases (their header gains make amplitudes unusable)


def write_calibration(
    shared: Path, out: Path, *, seed: int = 2026, n_records: int = 400, maxiter: int = 60, prior_weight: float = 0.05,
    pooled_weight: float = 1.0, fit=("PTB-XL", "LUDB"), ptbxl_half: str | None = None, command: str = "", log=print,
) -> dict:  # fmt: skip
    """Calibrate the lead-field model (:func:`ecgrecon.synth.calibrate.fit`) on the inter-lead structure of the real
    databases ``fit`` under ``shared`` (a calibration cohort of ``n_records`` with its own ``seed``) and write the
    model with its provenance as JSON to ``out`` (atomic). Same seed, data and budget: the same parameters. Used by
    ``bench/calibrate_cohort.py`` and the rule ``calibrate_leadfield``; returns the written document."""
    import json
    import platform
    import time

    from ecgrecon.io.atomic import atomic_path
    from ecgrecon.synth import calibrate
    from ecgrecon.synth.leadfield import LEADFIELD_FORMAT

    unknown = sorted(set(fit) - set(DATABASES))
    if unknown:
        raise ValueError(f"calibration: unknown database {unknown[0]!r} (one of {', '.join(DATABASES)})")
    t0 = time.perf_counter()
    targets = []
    for name in fit:
        real = load_real(Path(shared), name)
        if name == "PTB-XL" and ptbxl_half:
            real = subset(real, half(real, ptbxl_half))
        feats = calibrate.CORRELATION_FEATURES if name in AMPLITUDES_UNUSABLE else None
        targets.append(calibrate.Target.from_covariances(name, real.covariances(), feats))
    log("targets: " + ", ".join(f"{t.name} ({t.n_records} records, {int(t.mask.sum())} features)" for t in targets))
    mc = calibrate.moment_cohort(n_records, seed, progress=log)
    t_sim = time.perf_counter() - t0
    res = calibrate.fit(mc, targets, maxiter=maxiter, prior_weight=prior_weight, pooled_weight=pooled_weight, progress=log)
    runtime = time.perf_counter() - t0
    doc = {
        "format": LEADFIELD_FORMAT,
        "model": res["model"].to_dict(),
        "calibration": {
            "script": "bench/calibrate_cohort.py",
            "command": command,
            "seed": int(seed),
            "n_records": int(n_records),
            "maxiter": int(maxiter),
            "prior_weight": float(prior_weight),
            "pooled_weight": float(pooled_weight),
            "ptbxl_half": ptbxl_half,
            "fit": [
                {
                    "database": t.name,
                    "n_records": t.n_records,
                    "features": "scale-free (correlations, eigenvalues)" if t.mask.sum() < calibrate.N_FEATURES else "all (+ log-sd)",
                }
                for t in targets
            ],
            "data": "the real records under the shared data folder (never copied; this file is derived from them: not committed)",
            "statistic": (
                "per-record Fisher-z correlations (28), log correlation eigenvalues (8) and log standard deviations (8) "
                "of I, II, V1-V6, 0.5-45 Hz at 100 Hz; plus the same of the mean covariance"
            ),
            "theta": [round(float(v), 6) for v in res["theta"]],
            "spread_scales": res["spread_scales"],
            "objective_start": res["objective_start"],
            "objective_end": res["objective_end"],
            "distance_start": res["distance_start"],
            "distance_end": res["distance_end"],
            "iterations": res["iterations"],
            "evaluations": res["evaluations"],
            "optimizer_message": res["message"],
            "runtime_s": round(runtime, 1),
            "cohort_simulation_s": round(t_sim, 1),
            "python": platform.python_version(),
            "numpy": np.__version__,
        },
    }
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps(doc, indent=1) + "\n")
    log(f"wrote {out} in {runtime:.1f} s")
    return doc
