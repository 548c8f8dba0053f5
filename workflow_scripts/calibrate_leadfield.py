"""Rule calibrate_leadfield: fit the cohort's lead-field model to the real records' inter-lead structure."""

from ecgrecon.evaluation.sim_to_real import write_calibration
from ecgrecon.io.runlog import script_run

with script_run(snakemake) as log:
    c = snakemake.params.calibration
    write_calibration(
        snakemake.params.data, snakemake.output.model, seed=c["seed"], n_records=c["n_records"], maxiter=c["maxiter"],
        fit=tuple(c["fit"]), command="rule calibrate_leadfield", log=log,
    )  # fmt: skip
