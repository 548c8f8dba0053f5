"""Benchmark CaLiNet-E beside PCM in one run: training s / epoch and inference ms / window on PCM's test windows.

Usage: .venv/bin/python bench/bench_calinet.py [--run .] [--task paper] [--repeats 3] [--threads 2] [--out results/bench]
Reads the run's ``results/{task}/calinet/train_log.csv`` (``seconds`` of every trained epoch: episodes, calibration
fits and optimiser steps; epoch 0, the untrained model, is scored only), ``benchmarks/{train_calinet,
calibrate_pcm}/{task}.tsv`` (whole-job wall time), and times in this process, on the run's test windows
(record level, the calibration windows of PCM's plan), the best of ``--repeats``:
PCM = per-patient ridge fits + mixed prediction (:func:`ecgrecon.learn.calibration.predict_split`);
CaLiNet-E = the same fits, rho, and the network (:func:`ecgrecon.learn.calinet.predict`, CPU).
Writes calinet_speed.{csv,md}. Not a test: timings depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ecgrecon.evaluation.calinet_report import load_test, row_of  # noqa: E402
from ecgrecon.io.atomic import atomic_path, write_csv  # noqa: E402
from ecgrecon.learn.calibration import predict_split  # noqa: E402
from ecgrecon.learn.calinet import load_calinet, predict  # noqa: E402
from ecgrecon.learn.device import set_threads  # noqa: E402


def _best(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _job_s(path: Path) -> float:
    return float(pd.read_csv(path, sep="\t")["s"].iloc[0]) if path.exists() else float("nan")


def main(argv=None) -> pd.DataFrame:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", default=".", help="the run's working directory (results/, benchmarks/)")
    ap.add_argument("--task", default="paper")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="results/bench")
    ap.add_argument("--clean", default=None, help="the run's primary clean.h5 (default: results/pooled/clean.h5 or results/clean/*.h5)")
    a = ap.parse_args(argv)
    run, task = Path(a.run), a.task
    set_threads(a.threads)
    model, ckpt, gl, settings = load_calinet(run / f"results/{task}/calinet/model.pt")
    pcm = json.loads((run / f"results/{task}/pcm/official/pcm.json").read_text())
    clean = Path(a.clean) if a.clean else run / "results/pooled/clean.h5"
    if not clean.exists():  # an unpooled run: its one main dataset's clean.h5
        clean = sorted((run / "results/clean").glob("*.h5"))[0]
    test = load_test(clean, run / "results/segments/segments.h5", run / "results/folds/folds.json", gl, pcm["fold"], float(pcm["cal_s"]))
    d, n = test.data, max(len(test.data.x), 1)
    t_pcm = _best(lambda: predict_split(d, gl, pcm["alpha"], pcm["rule"]), a.repeats)
    t_cal = _best(lambda: predict(model, gl, settings, d.x, row_of(d), d.cal_x, d.cal_y, test.fs), a.repeats)
    log = pd.read_csv(run / f"results/{task}/calinet/train_log.csv")
    epochs = log[log["epoch"] > 0]
    rows = [
        {"method": "PCM", "train_s_per_epoch": float("nan"), "n_epochs": 0,
         "train_job_s": _job_s(run / f"benchmarks/calibrate_pcm/{task}.tsv"),
         "infer_ms_per_window": 1e3 * t_pcm / n, "n_windows": len(d.x), "n_params": 0},
        {"method": "CaLiNet-E", "train_s_per_epoch": float(epochs["seconds"].mean()) if len(epochs) else float("nan"),
         "n_epochs": len(epochs), "train_job_s": _job_s(run / f"benchmarks/train_calinet/{task}.tsv"),
         "infer_ms_per_window": 1e3 * t_cal / n, "n_windows": len(d.x), "n_params": int(ckpt["n_params"])},
    ]  # fmt: skip
    df = pd.DataFrame(rows)
    df.insert(0, "task", task)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / "calinet_speed.csv", df)
    lines = [
        f"# CaLiNet-E beside PCM (task {task}; {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"{a.threads} torch threads)",
        "",
        "PCM is fitted per test record at prediction time (no training epochs; its job: the validation grid and the test "
        "predictions). Inference: per-patient fits + prediction on PCM's test windows, best of "
        f"{a.repeats}, this process.",
        "",
        "| method | train s / epoch | epochs | train job (s) | inference ms / window | windows | parameters |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        s_ep = "-" if r["n_epochs"] == 0 else f"{r['train_s_per_epoch']:.2f}"
        lines.append(
            f"| {r['method']} | {s_ep} | {r['n_epochs']} | {r['train_job_s']:.1f} | {r['infer_ms_per_window']:.3f} | "
            f"{r['n_windows']} | {r['n_params']} |"
        )
    with atomic_path(out / "calinet_speed.md") as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return df


if __name__ == "__main__":
    main()
