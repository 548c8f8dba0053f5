"""Realism report: the synthetic cohort's amplitudes, rate and QRS next to real PTB-XL and LUDB.

Every dataset goes through the same measures (``ecgrecon.signal.measures``) at 100 Hz: LUDB's
500 Hz records are first decimated with ``scipy.signal.resample_poly`` (1:5). Measures: per-lead
peak-to-peak and RMS after a 0.5-45 Hz band-pass, heart rate from R peaks on lead II, QRS
duration from the spatial velocity of the median beat; plus the premise check (population vs
per-patient linear map I, II, V2 -> V1, V3-V6) and, on LUDB, the QRS method against the
cardiologists' lead-II QRS annotations. Then the sim-to-real measure
(``ecgrecon.evaluation.sim_to_real``): the GL map fitted on the cohort's folds 1-8 scored on the
real PTB-XL, LUDB and CinC records beside GL fitted on each of them (subject-wise 5-fold CV),
and the distances between the cohort's and each database's per-record inter-lead structure.

Usage: python bench/realism_report.py [--cohort DIR] [--generate N] [--seed S] [--leadfield dower|calibrated] [--out DIR]
Writes ``realism.csv``, ``realism.md``, ``realism.png``, ``premise.json``, ``sim_to_real_maps.csv``,
``sim_to_real_structure.csv`` and ``sim_to_real.png`` into ``--out`` (results/realism).
"""

from __future__ import annotations

import argparse
import glob
import json
import sys
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import wfdb
from scipy.signal import resample_poly

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ecgrecon import LEADS12  # noqa: E402
from ecgrecon.evaluation import sim_to_real as s2r  # noqa: E402
from ecgrecon.io.atomic import atomic_path, save_png, write_csv  # noqa: E402
from ecgrecon.io.h5io import read_table  # noqa: E402
from ecgrecon.signal.filters import bandpass  # noqa: E402
from ecgrecon.signal.measures import QRS_THRESHOLD, record_features  # noqa: E402
from ecgrecon.synth import write_cohort  # noqa: E402
from ecgrecon.synth.premise import linear_map_scores  # noqa: E402

FS = 100.0
DATASETS = ("synthetic", "PTB-XL", "LUDB")


def load_synthetic(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """Recorded 100 Hz signals (mV) and patient ids of the cohort, deliberately bad records left out."""
    db = pd.read_csv(folder / "ptbxl_database.csv")
    with h5py.File(folder / "ground_truth.h5") as f:
        bad = read_table(f["records"])["bad_kind"].to_numpy() != ""
    db = db[~bad]
    sig = np.stack([np.fromfile(folder / f"{p}.dat", dtype="<i2").reshape(-1, 12) / 1000.0 for p in db["filename_lr"]])
    return sig, db["patient_id"].to_numpy()


def _in_leads12(sig: np.ndarray, names: list[str]) -> np.ndarray:
    upper = [n.upper() for n in names]
    return sig[:, [upper.index(k) for k in LEADS12]]


def load_ptbxl(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """Every 100 Hz PTB-XL record in the shared folder; patient ids from the metadata."""
    paths = sorted(glob.glob(str(folder / "records100" / "*" / "*_lr.hea")))
    meta = pd.read_csv(folder / "ptbxl_database.csv").set_index("ecg_id")["patient_id"]
    sig, pid = [], []
    for p in paths:
        s, f = wfdb.rdsamp(p[:-4])
        sig.append(_in_leads12(s, f["sig_name"]))
        ecg_id = int(Path(p).name[:5])
        pid.append(meta.get(ecg_id, -ecg_id))  # records without metadata: own patient
    return np.stack(sig), np.asarray(pid)


def load_ludb(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """LUDB decimated to 100 Hz, one subject per record, and the annotated lead-II QRS (ms)."""
    sig, annotated = [], []
    for rec in sorted((folder / "data").glob("*.hea"), key=lambda p: int(p.stem)):
        base = str(rec.with_suffix(""))
        s, f = wfdb.rdsamp(base)
        sig.append(resample_poly(_in_leads12(s, f["sig_name"]), 1, 5, axis=0))
        ann = wfdb.rdann(base, "ii")
        sym, smp = np.array(ann.symbol), ann.sample
        k = np.flatnonzero(sym == "N")
        k = k[(k > 0) & (k < len(sym) - 1)]
        k = k[(sym[k - 1] == "(") & (sym[k + 1] == ")")]
        dur = (smp[k + 1] - smp[k - 1]) / f["fs"] * 1000
        annotated.append(float(np.median(dur)) if len(dur) else np.nan)
    sig = np.stack(sig)
    return sig, np.arange(len(sig)), np.array(annotated)


def measure(sig: np.ndarray) -> pd.DataFrame:
    """One row per record: ptp_<lead>, rms_<lead>, hr, qrs_ms."""
    rows = []
    for x in sig:
        f = record_features(x, FS)
        row = {f"ptp_{k}": v for k, v in zip(LEADS12, f["ptp"])}
        row.update({f"rms_{k}": v for k, v in zip(LEADS12, f["rms"])})
        row.update(hr=f["hr"], qrs_ms=f["qrs_ms"])
        rows.append(row)
    return pd.DataFrame(rows)


def summarise(features: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Long table: dataset, measure, n, mean and percentiles 5/25/50/75/95."""
    rows = []
    for name, df in features.items():
        for col in df.columns:
            v = df[col].dropna().to_numpy()
            p = np.percentile(v, [5, 25, 50, 75, 95]) if len(v) else [np.nan] * 5
            rows.append(
                {
                    "dataset": name,
                    "measure": col,
                    "n": len(v),
                    "mean": float(np.mean(v)) if len(v) else np.nan,
                    "p5": p[0],
                    "p25": p[1],
                    "median": p[2],
                    "p75": p[3],
                    "p95": p[4],
                }
            )
    return pd.DataFrame(rows)


def _overlap(table: pd.DataFrame, measure: str, real: str) -> str:
    """Whether the synthetic 5-95 % range overlaps the real dataset's."""
    t = table[table["measure"] == measure].set_index("dataset")
    syn = t.loc["synthetic"]
    return "yes" if syn["p5"] <= t.loc[real, "p95"] and t.loc[real, "p5"] <= syn["p95"] else "NO"


def markdown(table: pd.DataFrame, premise: dict, qrs_check: dict, sizes: dict) -> str:
    """The report as markdown: distribution table, premise scores, QRS-method check."""
    measures = [f"ptp_{k}" for k in LEADS12] + [f"rms_{k}" for k in LEADS12] + ["hr", "qrs_ms"]
    lines = [
        "| measure | " + " | ".join(f"{d} median [p5, p95]" for d in DATASETS) + " | 5-95 % overlap PTB-XL | 5-95 % overlap LUDB |",
        "|---|" + "---|" * (len(DATASETS) + 2),
    ]
    for m in measures:
        t = table[table["measure"] == m].set_index("dataset")
        cells = [f"{t.loc[d, 'median']:.2f} [{t.loc[d, 'p5']:.2f}, {t.loc[d, 'p95']:.2f}]" for d in DATASETS]
        lines.append(f"| {m} | " + " | ".join(cells) + f" | {_overlap(table, m, 'PTB-XL')} | {_overlap(table, m, 'LUDB')} |")
    out = [
        "Records measured: "
        + ", ".join(f"{d} {n}" for d, n in sizes.items())
        + ". Amplitudes in mV after a 0.5-45 Hz band-pass; hr in beats/min; qrs_ms in ms.",
        "",
        *lines,
        "",
        "Premise: least-squares maps I, II, V2 -> V1, V3-V6 on band-passed 100 Hz signals "
        "(per-patient maps fit on that patient's own records; real datasets have ~1 record per patient, "
        "so their per-patient fit is per record).",
        "",
        "| dataset | population RMSE (mV) | population R^2 | population r | per-patient RMSE | per-patient R^2 | per-patient r |",  # noqa: E501
        "|---|---|---|---|---|---|---|",
    ]
    for d, s in premise.items():
        p, q = s["population"], s["per_patient"]
        out.append(
            f"| {d} | {p['rmse_mv']:.3f} | {p['r2']:.3f} | {p['r']:.3f} | {q['rmse_mv']:.3f} | {q['r2']:.3f} | {q['r']:.3f} |"  # noqa: E501
        )
    out += [
        "",
        f"QRS method check on LUDB (threshold {QRS_THRESHOLD:.0%} of peak spatial velocity, "
        f"{qrs_check['n']} records with lead-II annotations): measured - annotated = "
        f"{qrs_check['bias']:+.1f} ms on average (median absolute difference {qrs_check['mad']:.1f} ms, "
        f"r = {qrs_check['r']:.2f}).",
    ]
    return "\n".join(out) + "\n"


def figure(features: dict[str, pd.DataFrame], path: Path) -> None:
    """Per-lead ptp and RMS (median, IQR), heart-rate and QRS-duration box plots."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(13, 8))
    x = np.arange(12)
    for i, (name, df) in enumerate(features.items()):
        for ax, kind in ((axes[0, 0], "ptp"), (axes[0, 1], "rms")):
            v = df[[f"{kind}_{k}" for k in LEADS12]]
            med, lo, hi = v.median(), v.quantile(0.25), v.quantile(0.75)
            ax.errorbar(x + (i - 1) * 0.25, med, yerr=[med - lo, hi - med], fmt="o", capsize=3, label=name)
    for ax, kind in ((axes[0, 0], "peak-to-peak (mV)"), (axes[0, 1], "RMS (mV)")):
        ax.set_xticks(x, LEADS12)
        ax.set_ylabel(kind + ", median and IQR")
        ax.legend()
    for ax, col, label in ((axes[1, 0], "hr", "heart rate (beats/min)"), (axes[1, 1], "qrs_ms", "QRS duration (ms)")):
        ax.boxplot([df[col].dropna() for df in features.values()], whis=(5, 95), showfliers=False)
        ax.set_xticks(range(1, len(features) + 1), list(features))
        ax.set_ylabel(label + ", box 25-75 %, whiskers 5-95 %")
    fig.suptitle("Synthetic cohort vs real records (same measures, 100 Hz)")
    fig.tight_layout()
    save_png(fig, path, dpi=90)


def sim_to_real_section(cohort_dir: Path, shared: Path, out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The sim-to-real measure of the cohort on disk against the three real databases (tables + figure)."""
    db = pd.read_csv(cohort_dir / "ptbxl_database.csv")
    with h5py.File(cohort_dir / "ground_truth.h5") as f:
        db["bad_kind"] = read_table(f["records"])["bad_kind"].to_numpy()
        name = str(f.attrs.get("leadfield", "dower"))
    sig = np.stack([np.fromfile(cohort_dir / f"{p}.dat", dtype="<i2").reshape(-1, 12) / 1000.0 for p in db["filename_lr"]])
    cohort = s2r.synthetic_set(db, sig, name=f"synthetic ({name})")
    reals = {d: s2r.load_real(shared, d) for d in s2r.DATABASES}
    maps, structure = s2r.map_transfer(cohort, reals), s2r.structure_distances(cohort, reals)
    write_csv(out / "sim_to_real_maps.csv", maps.round(5))
    write_csv(out / "sim_to_real_structure.csv", structure.round(5))
    corr = {cohort.name: s2r.mean_correlation12(cohort), **{d: s2r.mean_correlation12(reals[d]) for d in ("PTB-XL", "CinC")}}
    s2r.figure(maps, corr, out / "sim_to_real.png")
    return maps, structure


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cohort", type=Path, default=ROOT / "results" / "raw" / "synthetic")
    ap.add_argument("--generate", type=int, default=0, help="first write a cohort of N records into --cohort")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--leadfield", default="dower", help="lead-field model of a generated cohort: dower | calibrated")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "realism")
    args = ap.parse_args(argv)
    if args.generate:
        write_cohort(args.cohort, args.generate, args.seed, threads=args.threads, leadfield=args.leadfield)
    if not (args.cohort / "ground_truth.h5").is_file():
        ap.error(f"{args.cohort}: no synthetic cohort there (ground_truth.h5 missing); use --generate N")
    data = {"synthetic": load_synthetic(args.cohort), "PTB-XL": load_ptbxl(args.shared / "ptb-xl")}
    ludb_sig, ludb_pid, ludb_qrs = load_ludb(args.shared / "ludb")
    data["LUDB"] = (ludb_sig, ludb_pid)
    features = {name: measure(sig) for name, (sig, _) in data.items()}
    premise = {name: linear_map_scores(bandpass(sig, FS, 0.5, 45.0, 2, axis=1), pid) for name, (sig, pid) in data.items()}
    diff = features["LUDB"]["qrs_ms"].to_numpy() - ludb_qrs
    ok = ~np.isnan(diff)
    qrs_check = {
        "n": int(ok.sum()),
        "bias": float(diff[ok].mean()),
        "mad": float(np.median(np.abs(diff[ok]))),
        "r": float(np.corrcoef(features["LUDB"]["qrs_ms"].to_numpy()[ok], ludb_qrs[ok])[0, 1]),
    }
    table = summarise(features)
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(args.out / "realism.csv", table.round(4))
    sizes = {name: len(sig) for name, (sig, _) in data.items()}
    text = "# Realism report\n\n" + markdown(table, premise, qrs_check, sizes)
    maps, structure = sim_to_real_section(args.cohort, args.shared, args.out)
    text += "\nSim-to-real (GL, +-2 samples of context; real-fitted = subject-wise 5-fold CV on the same windows):\n\n"
    text += s2r.markdown(maps, structure)
    with atomic_path(args.out / "realism.md") as tmp:
        tmp.write_text(text)
    with atomic_path(args.out / "premise.json") as tmp:
        tmp.write_text(json.dumps({"premise": premise, "ludb_qrs_check": qrs_check}, indent=2) + "\n")
    figure(features, args.out / "realism.png")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
