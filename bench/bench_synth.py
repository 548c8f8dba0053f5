"""Speed of the synthetic cohort generator: records/s, extrapolated to PTB-XL size (20,000).

Runs ``write_cohort`` into a temporary folder for each size (default 500 and 2,000 records,
``threads=2``), fits wall time = a + b * n and extrapolates to 20,000 records (budget: 300 s).
Writes ``synth_speed.csv`` and ``synth_speed.png`` into ``--out`` (results/bench). Timings
depend on what else runs on the machine; the CSV records the load average at the start.

Usage: python bench/bench_synth.py [--sizes 500 2000] [--threads 2] [--leadfield dower|calibrated] [--out results/bench]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ecgrecon.io.atomic import save_png, write_csv  # noqa: E402
from ecgrecon.synth import write_cohort  # noqa: E402

TARGET_RECORDS = 20000
BUDGET_S = 300.0


def _cpu_s() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def time_one(n: int, threads: int, seed: int, leadfield: str = "dower") -> dict:
    """Wall and CPU seconds of one ``write_cohort`` call of ``n`` records."""
    with tempfile.TemporaryDirectory(prefix="synth_bench_") as tmp:
        load = os.getloadavg()[0]
        cpu0, t0 = _cpu_s(), time.perf_counter()
        write_cohort(Path(tmp) / "cohort", n, seed, threads=threads, progress=lambda s: None, leadfield=leadfield)
        wall, cpu = time.perf_counter() - t0, _cpu_s() - cpu0
    return {
        "n_records": n,
        "threads": threads,
        "leadfield": leadfield,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "records_per_s": round(n / wall, 1),
        "load_avg_1min_at_start": round(load, 2),
        "kind": "measured",
    }


def plot(df: pd.DataFrame, fit: np.ndarray, path: Path) -> None:
    """Measured points, the linear fit extrapolated to 20,000 records, and the budget."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    m = df[df["kind"] == "measured"]
    ax.plot(m["n_records"], m["wall_s"], "o", label="measured (wall)")
    n = np.linspace(0, TARGET_RECORDS, 50)
    ax.plot(n, fit[0] + fit[1] * n, "-", label=f"fit: {fit[0]:.1f} s + {1000 * fit[1]:.2f} ms/record")
    ax.axhline(BUDGET_S, color="r", ls="--", label="budget 300 s for 20,000 records")
    ax.set_xlabel("records")
    ax.set_ylabel("seconds")
    ax.set_title(f"write_cohort speed, threads={int(m['threads'].iloc[0])}")
    ax.legend()
    fig.tight_layout()
    save_png(fig, path, dpi=90)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[500, 2000])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--leadfield", default="dower", help="lead-field model: dower | calibrated")
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "bench")
    args = ap.parse_args(argv)
    rows = [time_one(n, args.threads, args.seed, args.leadfield) for n in args.sizes]
    df = pd.DataFrame(rows)
    if len(df) > 1:
        fit = np.polyfit(df["n_records"], df["wall_s"], 1)[::-1]
    else:
        fit = np.array([0.0, df["wall_s"].iloc[0] / df["n_records"].iloc[0]])
    predicted = fit[0] + fit[1] * TARGET_RECORDS
    df = pd.concat(
        [
            df,
            pd.DataFrame(
                [
                    {
                        "n_records": TARGET_RECORDS,
                        "threads": args.threads,
                        "leadfield": args.leadfield,
                        "wall_s": round(predicted, 1),
                        "cpu_s": np.nan,
                        "records_per_s": round(TARGET_RECORDS / predicted, 1),
                        "load_avg_1min_at_start": np.nan,
                        "kind": "extrapolated",
                    }
                ]
            ),
        ],
        ignore_index=True,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(args.out / "synth_speed.csv", df)
    plot(df, fit, args.out / "synth_speed.png")
    print(df.to_string(index=False))
    verdict = "within" if predicted <= BUDGET_S else "OVER"
    print(f"extrapolated {TARGET_RECORDS} records: {predicted:.0f} s ({verdict} the {BUDGET_S:.0f} s budget)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
