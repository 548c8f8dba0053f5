"""Rule folds: official strat_fold split + patient-grouped CV folds."""

from ecgrecon.data.folds import make_folds_file
from ecgrecon.io.runlog import script_run

with script_run(snakemake) as log:
    make_folds_file(snakemake.input.h5, snakemake.output.json, snakemake.params.split, snakemake.params.seed, log=log)
