"""Speed and accuracy of the printout renderer and the classical digitiser on synthetic records.

For ``--records`` noise-free synthetic records (100 Hz): render the 3x4 page at ``--dpi``, distort
it at each ``--levels`` level (seeded per record), digitise it, and score the plotted samples
(Challenge SNR, Pearson r, RMSE; means over leads, then over records). Prints a table and writes
``printout_bench.csv`` into ``--out`` (results/bench). Timings depend on what else runs on the
machine; the CSV records the load average at the start.

``--single``: also the single-lead strips of lead I (96 x 384 px, the learned digitiser's input; seeded per record
and level): images per second of the classical single-lead digitiser and of the learned digitiser's inference (its
architecture at the pipeline's default size, untrained weights: speed only, no accuracy), written to
``printout_single_bench.csv``.

Usage: python bench/bench_printout.py [--records 3] [--dpi 200] [--levels clean scan photo] [--single] [--out results/bench]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ecgrecon.io.atomic import write_csv  # noqa: E402
from ecgrecon.printout.digitize import digitize_classical  # noqa: E402
from ecgrecon.printout.distort import distort  # noqa: E402
from ecgrecon.printout.layout import PrintoutError  # noqa: E402
from ecgrecon.printout.render import render_printout  # noqa: E402
from ecgrecon.printout.scoring import lead_scores  # noqa: E402
from ecgrecon.synth import simulate_cohort  # noqa: E402


def run(n_records: int, dpi: float, levels: list[str], seed: int) -> pd.DataFrame:
    signals = simulate_cohort(n_records, seed)["clean_lr"]
    rows = []
    for i, x in enumerate(signals):
        t0 = time.perf_counter()
        img, truth = render_printout(x, 100.0, dpi=dpi)
        render_s = time.perf_counter() - t0
        for level in levels:
            t0 = time.perf_counter()
            distorted, _ = distort(img, level, np.random.default_rng([seed, i]))
            distort_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            try:
                sig, _ = digitize_classical(distorted, "3x4", fs=100.0)
                error = ""
            except PrintoutError as err:
                sig, error = np.full_like(x, np.nan), str(err)
            digitise_s = time.perf_counter() - t0
            s = lead_scores(x, sig, truth.plotted())
            rows.append(
                {
                    "record": i,
                    "level": level,
                    "dpi": dpi,
                    "width_px": truth.width,
                    "height_px": truth.height,
                    "render_s": round(render_s, 3),
                    "distort_s": round(distort_s, 3),
                    "digitise_s": round(digitise_s, 3),
                    "snr_db": round(float(np.nanmean(np.where(np.isfinite(s["snr"]), s["snr"], np.nan))), 2),
                    "pearson": round(float(np.nanmean(s["pearson"])), 4),
                    "rmse_mv": round(float(np.nanmean(s["rmse"])), 4),
                    "error": error,
                }
            )
    return pd.DataFrame(rows)


def run_single(n_records: int, levels: list[str], seed: int, image_size=(96, 384), threads: int = 2) -> pd.DataFrame:
    """Per level: s per image of the classical single-lead digitiser and of the learned digitiser's inference (batch 16)."""
    import torch

    from ecgrecon.evaluation.printout_learned import strip_set
    from ecgrecon.printout.learned import LeadImageDigitizer, images_to_tensor
    from ecgrecon.printout.single import digitize_single_classical

    torch.set_num_threads(threads)
    signals = simulate_cohort(n_records, seed)["clean_lr"][:, :, 0]
    torch.manual_seed(seed)
    model = LeadImageDigitizer(tuple(image_size), signals.shape[1]).eval()
    rows = []
    for level in levels:
        data = strip_set(signals, np.arange(n_records), 100.0, [level], seed, image_size)
        t0 = time.perf_counter()
        snr = []
        for k in range(len(data)):
            try:
                sig, _ = digitize_single_classical(data.images[k], 100.0, signals.shape[1])
            except PrintoutError:
                sig = np.full(signals.shape[1], np.nan)
            snr.append(float(lead_scores(data.targets[k], sig)["snr"][0]))
        classical_s = (time.perf_counter() - t0) / len(data)
        x = images_to_tensor(data.images)
        with torch.no_grad():
            model(x[:16])  # warm-up (the first call at a batch shape builds its kernels)
            t0 = time.perf_counter()
            for i in range(0, len(x), 16):
                model(x[i : i + 16])
        learned_s = (time.perf_counter() - t0) / len(data)
        rows.append({"level": level, "images": len(data), "height_px": image_size[0], "width_px": image_size[1], "threads": threads,
                     "classical_s": round(classical_s, 4), "classical_per_s": round(1 / classical_s, 1),
                     "classical_snr_db": round(float(np.mean(snr)), 2), "learned_s": round(learned_s, 4),
                     "learned_per_s": round(1 / learned_s, 1)})  # fmt: skip
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=3)
    ap.add_argument("--dpi", type=float, default=200.0)
    ap.add_argument("--levels", nargs="+", default=["clean", "scan", "photo"])
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--single", action="store_true", help="also time the single-lead digitisers (classical, learned inference)")
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "bench")
    args = ap.parse_args(argv)
    load = os.getloadavg()[0]
    df = run(args.records, args.dpi, args.levels, args.seed)
    df["load_avg_1min_at_start"] = round(load, 2)
    summary = df.groupby("level", sort=False).agg(
        snr_db=("snr_db", "mean"), pearson=("pearson", "mean"), rmse_mv=("rmse_mv", "mean"), digitise_s=("digitise_s", "mean"),
        render_s=("render_s", "mean"), failures=("error", lambda e: int((e != "").sum())),
    )  # fmt: skip
    summary["digitised_per_s"] = 1.0 / summary["digitise_s"]
    summary["rendered_per_s"] = 1.0 / summary["render_s"]
    print(f"{args.records} synthetic records, 3x4 page at {args.dpi:g} dpi ({df['width_px'].iloc[0]} x {df['height_px'].iloc[0]} px)")
    print(summary.round(3).to_string())
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(args.out / "printout_bench.csv", df)
    if args.single:
        single = run_single(args.records, args.levels, args.seed)
        single["load_avg_1min_at_start"] = round(load, 2)
        print("single-lead strips of lead I (96 x 384 px), 2 threads:")
        print(single.to_string(index=False))
        write_csv(args.out / "printout_single_bench.csv", single)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
