"""Calibrate the cohort's lead-field model on real records' inter-lead structure.

Fits :class:`ecgrecon.synth.leadfield.LeadFieldModel` (mean transfer coefficients and the
spreads of rotations, torso inhomogeneity, electrode displacement, gains, non-dipolar sources
and noise) so that the distribution of per-record inter-lead structure of a calibration cohort
(its own seed, ``--seed``) matches the real records named by ``--fit`` (the procedure:
``ecgrecon.synth.calibrate``). By default: PTB-XL (correlations, eigenvalues and log standard deviations)
and LUDB (correlations only: its header gains make its amplitudes unusable); CinC is held out.
The linear-map measure (bench/sim_to_real.py) is not used here.

Usage: .venv/bin/python bench/calibrate_cohort.py [--seed 2026] [--n-records 400] [--maxiter 60]
       [--fit PTB-XL LUDB] [--shared ../shared/data] [--out results/calibration/leadfield_calibrated.json]
Writes the model and its provenance (seed, data, budget, objective, runtime) as JSON to ``--out``;
``leadfield: calibrated`` (``write_cohort(..., leadfield="calibrated")``) reads that file of the working directory (it is
derived from the shared real records, so it is made here and never committed; any path to such a file works too).
Same seed, data and budget: the same parameters.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ecgrecon.evaluation import sim_to_real as s2r  # noqa: E402
from ecgrecon.io.atomic import atomic_path  # noqa: E402
from ecgrecon.synth import calibrate  # noqa: E402
from ecgrecon.synth.leadfield import CALIBRATED_FILE, LEADFIELD_FORMAT  # noqa: E402

AMPLITUDES_UNUSABLE = {"LUDB"}  # fit only the correlations of these databases


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=2026, help="seed of the calibration cohort (not the pipeline's)")
    ap.add_argument("--n-records", type=int, default=400)
    ap.add_argument("--maxiter", type=int, default=60)
    ap.add_argument("--prior-weight", type=float, default=0.05)
    ap.add_argument("--pooled-weight", type=float, default=1.0, help="weight of the pooled (population) structure term")
    ap.add_argument("--fit", nargs="+", default=["PTB-XL", "LUDB"], choices=list(s2r.DATABASES))
    ap.add_argument("--ptbxl-half", choices=["a", "b"], help="fit only this subject-wise half of PTB-XL (the other is held out)")
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=CALIBRATED_FILE)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    targets = []
    for name in args.fit:
        real = s2r.load_real(args.shared, name)
        if name == "PTB-XL" and args.ptbxl_half:
            real = s2r.subset(real, s2r.half(real, args.ptbxl_half))
        cov = real.covariances()
        feats = calibrate.CORRELATION_FEATURES if name in AMPLITUDES_UNUSABLE else None
        targets.append(calibrate.Target.from_covariances(name, cov, feats))
    print("targets: " + ", ".join(f"{t.name} ({t.n_records} records, {int(t.mask.sum())} features)" for t in targets))
    mc = calibrate.moment_cohort(args.n_records, args.seed, progress=print)
    t_sim = time.perf_counter() - t0
    res = calibrate.fit(mc, targets, maxiter=args.maxiter, prior_weight=args.prior_weight, pooled_weight=args.pooled_weight, progress=print)
    runtime = time.perf_counter() - t0
    out = {
        "format": LEADFIELD_FORMAT,
        "model": res["model"].to_dict(),
        "calibration": {
            "script": "bench/calibrate_cohort.py",
            "command": "bench/calibrate_cohort.py " + " ".join(argv if argv is not None else sys.argv[1:]),
            "seed": args.seed,
            "n_records": args.n_records,
            "maxiter": args.maxiter,
            "prior_weight": args.prior_weight,
            "pooled_weight": args.pooled_weight,
            "ptbxl_half": args.ptbxl_half,
            "fit": [
                {
                    "database": t.name,
                    "n_records": t.n_records,
                    "features": "scale-free (correlations, eigenvalues)" if t.mask.sum() < calibrate.N_FEATURES else "all (+ log-sd)",
                }
                for t in targets
            ],
            "data": "records under ../shared/data (never copied into the repository; only these fitted parameters are)",
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
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(args.out) as tmp:
        tmp.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out["calibration"], indent=1))
    print(f"wrote {args.out} in {runtime:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
