"""Rule pool_clean: the main dataset and the `pool:` datasets -> results/pooled/clean.h5."""

from ecgrecon.data.pool import pool_clean
from ecgrecon.io.runlog import script_run

with script_run(snakemake, provenance=("results/pooled",)) as log:
    pool_clean(dict(zip(snakemake.params.names, snakemake.input.sources)), snakemake.output.h5, log=log)
