"""Benchmark noise corruption (assignment + SNR scaling + addition) of N 10-s 12-lead records, against a naive loop.

Usage: .venv/bin/python bench/bench_noise.py [--n-records 20000] [--nstdb DIR] [--out results/bench]
The bank is built from NSTDB (``--nstdb``, default ../shared/data/nstdb when present) or synthetic noise. For
each kind the vectorised path (:func:`ecgrecon.noise.corrupt.assign` + :func:`~ecgrecon.noise.corrupt.corrupt`,
chunks of 1024 records) corrupts all N records at 0 dB; the naive baseline (one record and lead at a time,
Python loops) runs on 1,000 records in the same process and is scaled to N. Writes noise_speed.{csv,md,png}.
Target (issue #15): 20,000 records in under 30 s on 2 cores. Not a test: timings depend on the machine.
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ecgrecon.io.atomic import atomic_path, save_png, write_csv  # noqa: E402
from ecgrecon.noise import assign, build_bank, corrupt, read_bank  # noqa: E402
from ecgrecon.noise.bank import NoiseBank  # noqa: E402

T_REC, N_LEADS, FS = 1000, 12, 100.0


def naive(clean: np.ndarray, bank: NoiseBank, kind: str, ids, seed: int, snr: float) -> float:
    """Seconds for a per-record, per-lead loop doing the same (own generator per record, gain from the powers)."""
    part = bank.part(kind, "test")
    valid = bank.valid_starts(kind, "test", T_REC)
    out = np.empty_like(clean)
    t0 = time.perf_counter()
    for i, rec in enumerate(ids):
        rng = np.random.default_rng([seed, int(rec)])
        for j in range(N_LEADS):
            ch, off = rng.integers(0, 2), valid[rng.integers(0, len(valid))]
            nz = part[ch, off : off + T_REC]
            g = np.sqrt(np.mean(clean[i, j] ** 2) / np.mean(nz**2) / 10 ** (snr / 10))
            out[i, j] = clean[i, j] + g * nz
    return time.perf_counter() - t0


def main(argv=None) -> pd.DataFrame:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n-records", type=int, default=20000)
    ap.add_argument("--n-naive", type=int, default=1000)
    ap.add_argument("--nstdb", type=Path, default=ROOT.parent / "shared" / "data" / "nstdb")
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "bench")
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args(argv)
    rng = np.random.default_rng(a.seed)
    t = np.arange(T_REC) / FS
    clean = (np.sin(2 * np.pi * 1.2 * t)[None, None] * rng.uniform(0.2, 2.0, (a.n_records, N_LEADS, 1))).astype(np.float32)
    ids = np.arange(a.n_records)
    source = "nstdb" if (a.nstdb / "bw.hea").is_file() else "synthetic"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bank.h5"
        build_bank(
            path, kinds=["bw", "em", "ma"], fs=FS, split=[0.6, 0.2, 0.2], source=source, folder=a.nstdb, seed=a.seed, log=lambda m: None
        )
        bank = read_bank(path)
        for kind in ("bw", "em", "ma"):
            t0 = time.perf_counter()
            asg = assign(
                bank,
                kind,
                "test",
                ids,
                np.zeros(a.n_records, int),
                n_leads=N_LEADS,
                window=T_REC,
                record_len=T_REC,
                seed=a.seed,
                task="bench",
            )
            t1 = time.perf_counter()
            noisy, _ = corrupt(clean, bank, asg, 0.0)
            t2 = time.perf_counter()
            assert noisy.shape == clean.shape and np.isfinite(noisy).all()
            n_naive = min(a.n_naive, a.n_records)
            s_naive = naive(clean[:n_naive], bank, kind, ids[:n_naive], a.seed, 0.0) * a.n_records / n_naive
            rows.append(
                {
                    "kind": kind,
                    "source": bank.sources[kind],
                    "n_records": a.n_records,
                    "assign_s": t1 - t0,
                    "corrupt_s": t2 - t1,
                    "total_s": t2 - t0,
                    "naive_s_scaled": s_naive,
                    "speed_up": s_naive / (t2 - t0),
                    "target_s": 30.0,
                    "met": bool(t2 - t0 < 30),
                }
            )
            print(rows[-1], flush=True)
    df = pd.DataFrame(rows)
    a.out.mkdir(parents=True, exist_ok=True)
    write_csv(a.out / "noise_speed.csv", df)
    cpu = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs visible, load {os.getloadavg()[0]:.2f}"
    lines = [
        f"Noise corruption of {a.n_records} records (12 leads x 10 s at 100 Hz), 0 dB; {cpu}",
        "",
        "| kind | source | assign (s) | corrupt (s) | total (s) | naive loop (s, scaled) | speed-up | < 30 s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.kind} | {r.source} | {r.assign_s:.2f} | {r.corrupt_s:.2f} | {r.total_s:.2f} | {r.naive_s_scaled:.1f} | {r.speed_up:.1f}x | "
        f"{'yes' if r.met else 'NO'} |"
        for r in df.itertuples()
    ]
    with atomic_path(a.out / "noise_speed.md") as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3))
    x = np.arange(len(df))
    ax.bar(x - 0.2, df["total_s"], 0.4, label="vectorised")
    ax.bar(x + 0.2, df["naive_s_scaled"], 0.4, label="naive loop (scaled)")
    ax.axhline(30, color="k", ls="--", lw=0.8, label="target 30 s")
    ax.set_xticks(x, df["kind"])
    ax.set_ylabel(f"s for {a.n_records} records")
    ax.legend(fontsize=7)
    save_png(fig, a.out / "noise_speed.png", dpi=110)
    print("\n".join(lines))
    return df


if __name__ == "__main__":
    main()
