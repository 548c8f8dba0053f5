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
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ecgrecon.evaluation import sim_to_real as s2r  # noqa: E402
from ecgrecon.synth.leadfield import CALIBRATED_FILE  # noqa: E402


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
    doc = s2r.write_calibration(
        args.shared, args.out, seed=args.seed, n_records=args.n_records, maxiter=args.maxiter, prior_weight=args.prior_weight,
        pooled_weight=args.pooled_weight, fit=tuple(args.fit), ptbxl_half=args.ptbxl_half,
        command="bench/calibrate_cohort.py " + " ".join(argv if argv is not None else sys.argv[1:]),
    )  # fmt: skip
    print(json.dumps(doc["calibration"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
