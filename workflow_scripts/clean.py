"""Rule clean: raw database folder (read by the adapter of its kind) -> cleaned HDF5 + quarantine list."""

from ecgrecon.data.clean import clean_dataset
from ecgrecon.io.runlog import script_run

with script_run(snakemake) as log:
    summary = clean_dataset(
        snakemake.params.raw_dir,
        snakemake.output.h5,
        snakemake.output.quarantine,
        clean_cfg=snakemake.params.clean,
        labels_cfg=snakemake.params.labels,
        records_subdir=snakemake.params.records,
        kind=snakemake.params.kind,
        threads=snakemake.threads,
        log=log,
    )
    log(f"summary: {summary}")
