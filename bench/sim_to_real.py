"""Sim-to-real measure: cohort-fitted vs real-fitted population linear maps, and structure distances.

For each lead-field model named (``--leadfield dower calibrated``) a cohort of ``--n-records``
records (``--seed``; the pipeline's default cohort is 600 records, seed 42) is simulated in
memory exactly as rule ``synthesize`` writes it; the GL map (+-2 samples of context, alpha on
fold 9) fitted on its folds 1-8 is scored on every 256-sample window of the real shared PTB-XL,
LUDB and CinC records, beside GL fitted on each database under subject-wise 5-fold CV
(``ecgrecon.evaluation.sim_to_real``). Also the distances between the distributions of
per-record inter-lead structure. Nothing is stored between runs: every number is recomputed.

Usage: .venv/bin/python bench/sim_to_real.py [--leadfield dower calibrated] [--n-records 600]
       [--seed 42] [--shared ../shared/data] [--out results/sim_to_real]
Writes ``maps.csv``, ``structure.csv``, ``sim_to_real.md`` and ``sim_to_real.png`` into ``--out``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ecgrecon.evaluation import sim_to_real as s2r  # noqa: E402
from ecgrecon.io.atomic import atomic_path, write_csv  # noqa: E402
from ecgrecon.synth.cohort import simulate_signals  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--leadfield", nargs="+", default=["dower", "calibrated"])
    ap.add_argument("--n-records", type=int, default=600)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--cv-seed", type=int, default=0)
    ap.add_argument("--score-ptbxl-half", choices=["a", "b"], help="score PTB-XL on this subject-wise half only (CV on all)")
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--databases", nargs="+", default=list(s2r.DATABASES))
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "sim_to_real")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    reals = {name: s2r.load_real(args.shared, name) for name in args.databases}
    score = {"PTB-XL": s2r.half(reals["PTB-XL"], args.score_ptbxl_half)} if args.score_ptbxl_half and "PTB-XL" in reals else None
    maps, structure = [], []
    correlations = {}
    for lf in args.leadfield:
        t1 = time.perf_counter()
        records, lr = simulate_signals(args.n_records, args.seed, leadfield=lf)
        cohort = s2r.synthetic_set(records, lr, name=lf)
        t_sim = time.perf_counter() - t1
        maps.append(s2r.map_transfer(cohort, reals, seed=args.cv_seed, score_records=score))
        structure.append(s2r.structure_distances(cohort, reals))
        correlations[f"cohort ({lf})"] = s2r.mean_correlation12(cohort)
        print(f"{lf}: {args.n_records} records simulated in {t_sim:.1f} s; measured in {time.perf_counter() - t1 - t_sim:.1f} s")
    for name in ("PTB-XL", "CinC"):
        if name in reals:
            correlations[name] = s2r.mean_correlation12(reals[name])
    maps, structure = pd.concat(maps, ignore_index=True), pd.concat(structure, ignore_index=True)
    for df in (maps, structure):
        df.insert(1, "seed", args.seed)
        df.insert(2, "n_cohort_records", args.n_records)
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(args.out / "maps.csv", maps.round(5))
    write_csv(args.out / "structure.csv", structure.round(5))
    text = (
        f"# Sim-to-real ({args.n_records}-record cohort, seed {args.seed}; real-fitted: subject-wise {s2r.K_FOLDS}-fold CV, "
        f"seed {args.cv_seed}"
        + (f"; PTB-XL scored on subject half {args.score_ptbxl_half}" if score else "")
        + ")\n\n"
        + s2r.markdown(maps, structure)
    )
    with atomic_path(args.out / "sim_to_real.md") as tmp:
        tmp.write_text(text)
    s2r.figure(maps, correlations, args.out / "sim_to_real.png")
    print(text)
    print(f"wrote {args.out} in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
