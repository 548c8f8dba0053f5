"""Rule cross_folds: a one-fold folds.json with every record of the cross-evaluated database in test."""

from ecgrecon.data.cross import test_only_folds
from ecgrecon.io.runlog import script_run

with script_run(snakemake) as log:
    test_only_folds(snakemake.input.h5, snakemake.output.json, snakemake.params.seed, log=log)
