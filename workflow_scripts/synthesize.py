"""Rule synthesize: write the synthetic PTB-XL-shaped cohort."""

from pathlib import Path

from ecgrecon.io.runlog import script_run
from ecgrecon.synth import write_cohort

with script_run(snakemake) as log:
    synth = snakemake.params.synth
    summary = write_cohort(
        Path(snakemake.output.db).parent,
        n_records=synth["n_records"],
        seed=snakemake.params.seed,
        write_hr=synth["write_hr"],
        bad_per_thousand=synth["bad_per_thousand"],
        threads=snakemake.threads,
        leadfield=snakemake.input.get("leadfield", "dower"),
        progress=log,
    )
    log(f"cohort: {summary}")
