"""Benchmark clean + QC + segment (records/s, segments/s) against a naive per-record loop.

Usage: .venv/bin/python bench/bench_preprocess.py [--cohort DIR | --n-records N] [--threads T]
Without --cohort a synthetic cohort of N records is generated (ecgrecon.synth) under
results/bench/cohort. Writes results/bench/preprocess_speed.{csv,png}. Not a test: timings
depend on the machine and its load, so CPU seconds (this process + the clean workers) are
recorded too: items per CPU-second does not depend on other jobs sharing the cores.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.ndimage as ndi
import scipy.signal as ss
import wfdb
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ecgrecon.data.clean import clean_dataset  # noqa: E402
from ecgrecon.data.qc import compute_qc_stats  # noqa: E402
from ecgrecon.data.segment import segment_dataset  # noqa: E402
from ecgrecon.io.atomic import save_png, write_csv  # noqa: E402


def cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children (the clean workers)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def naive_clean(raw: Path, rels: list[str], cfg: dict) -> float:
    """Seconds for the naive loop: wfdb.rdsamp + sosfiltfilt + 0.6-s median, record by record."""
    lo, hi = cfg["bandpass_hz"]
    t0 = time.perf_counter()
    for rel in rels:
        sig, fields = wfdb.rdsamp(str(raw / rel))
        sos = ss.butter(cfg["filter_order"], [lo, hi], btype="bandpass", fs=fields["fs"], output="sos")
        f = ss.sosfiltfilt(sos, sig, axis=0)
        width = 2 * int(round(cfg["median_window_s"] * fields["fs"] / 2)) + 1
        _ = [f[:, j] - ndi.median_filter(f[:, j], size=width, mode="nearest") for j in range(f.shape[1])]
    return time.perf_counter() - t0


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cohort", type=Path, help="existing PTB-XL-shaped folder")
    ap.add_argument("--n-records", type=int, default=3000, help="synthetic cohort size (no --cohort)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--naive-records", type=int, default=300, help="records for the naive loop")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "bench")
    args = ap.parse_args(argv)
    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    clean_cfg = {**cfg["clean"], "max_quarantine_fraction": 1.0}  # measure speed, not data quality
    raw = args.cohort
    if raw is None:
        from ecgrecon.synth import write_cohort

        raw = args.out / "cohort"
        t0 = time.perf_counter()
        write_cohort(raw, args.n_records, args.seed, threads=args.threads, progress=lambda m: None)
        print(f"synthetic cohort of {args.n_records} records in {time.perf_counter() - t0:.1f} s -> {raw}")
    log = lambda m: None  # noqa: E731
    load_before = round(os.getloadavg()[0], 2)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.out) as tmp:
        tmp = Path(tmp)
        c0, t0 = cpu_seconds(), time.perf_counter()
        cs = clean_dataset(
            raw,
            tmp / "clean.h5",
            tmp / "q.csv",
            clean_cfg,
            cfg["labels"],
            records_subdir=cfg["data"]["records"],
            threads=args.threads,
            log=log,
        )
        c1, t1 = cpu_seconds(), time.perf_counter()
        compute_qc_stats(
            tmp / "clean.h5",
            tmp / "qc.json",
            tmp / "qc.png",
            cfg["qc"]["percentiles"],
            cfg["segment"]["window"],
            cfg["qc"]["n_sample_windows"],
            args.seed,
            log=log,
            statistic=cfg["qc"]["statistic"],
        )
        c2, t2 = cpu_seconds(), time.perf_counter()
        sg = segment_dataset(
            tmp / "clean.h5",
            tmp / "qc.json",
            tmp / "seg.h5",
            tmp / "report.csv",
            cfg["segment"]["window"],
            cfg["segment"]["hop"],
            log=log,
            statistic=cfg["qc"]["statistic"],
            max_bad_leads=cfg["qc"]["max_bad_leads"],
        )
        c3, t3 = cpu_seconds(), time.perf_counter()
        rels = pd.read_csv(raw / "ptbxl_database.csv")["filename_lr"].head(args.naive_records).tolist()
        c4 = cpu_seconds()
        t_naive = naive_clean(raw, rels, cfg["clean"])
        c_naive = cpu_seconds() - c4
    n = cs["n_input"]
    rows = [
        ("clean", n, "records", t1 - t0, c1 - c0, args.threads),
        ("qc_stats", cfg["qc"]["n_sample_windows"], "windows", t2 - t1, c2 - c1, 1),
        ("segment", sg["n_windows"], "segments", t3 - t2, c3 - c2, 1),
        ("clean+qc+segment", n, "records", t3 - t0, c3 - c0, args.threads),
        ("naive loop (rdsamp+sosfiltfilt+median)", len(rels), "records", t_naive, c_naive, 1),
    ]
    df = pd.DataFrame(rows, columns=["stage", "items", "unit", "seconds", "cpu_seconds", "workers"])
    df["per_s"] = (df["items"] / df["seconds"]).round(1)
    df["per_cpu_s"] = (df["items"] / df["cpu_seconds"]).round(1)  # load-independent
    df["load_avg_1min_before"] = load_before
    df["speedup_vs_naive"] = df["speedup_vs_naive_cpu"] = np.nan
    for k in (0, 3):  # wall-clock (uses the workers) and per CPU-second (same work, one core)
        df.loc[k, "speedup_vs_naive"] = round(df["per_s"][k] / df["per_s"].iloc[-1], 2)
        df.loc[k, "speedup_vs_naive_cpu"] = round(df["per_cpu_s"][k] / df["per_cpu_s"].iloc[-1], 2)
    df["cohort"] = str(raw)
    df["machine"] = f"{platform.machine()} {platform.python_version()}"
    write_csv(args.out / "preprocess_speed.csv", df)
    _plot(df, args.out / "preprocess_speed.png")
    print(df.drop(columns=["cohort", "machine", "unit", "workers"]).to_string(index=False))


def _plot(df: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rec = df[df["unit"] == "records"].reset_index(drop=True)
    y = np.arange(len(rec))
    fig, ax = plt.subplots(figsize=(11, 4))
    ax.barh(y + 0.2, rec["per_s"], height=0.4, color="C0", label="records / s (wall clock)")
    ax.barh(y - 0.2, rec["per_cpu_s"], height=0.4, color="C2", label="records / CPU-second")
    for k in y:
        ax.text(rec["per_s"][k], k + 0.2, f" {rec['per_s'][k]:.0f}", va="center", fontsize=8)
        ax.text(rec["per_cpu_s"][k], k - 0.2, f" {rec['per_cpu_s'][k]:.0f}", va="center", fontsize=8)
    ax.set_yticks(y, rec["stage"])
    ax.axvline(250, color="crimson", ls="--", lw=1, label="target 250 records/s (2 cores)")
    ax.set_xlabel("records")
    seg = df[df["stage"] == "segment"].iloc[0]
    ax.set_title(
        f"preprocessing speed: {int(rec['items'][0])} records, {int(rec['workers'][0])} clean workers, "
        f"load average before {df['load_avg_1min_before'][0]}\n"
        f"segment: {seg['per_s']:.0f} segments/s ({seg['per_cpu_s']:.0f} per CPU-second)",
        fontsize=9,
    )
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    save_png(fig, path, dpi=90)


if __name__ == "__main__":
    main()
