"""Rule clean: raw database folder (read by the adapter of its kind) -> cleaned HDF5 + quarantine list.

Over the quarantine limit the job fails and Snakemake deletes its outputs: the list is then kept beside the log."""

from pathlib import Path

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
        failed_list=Path(snakemake.log[0]).with_suffix(".quarantine.csv"),
    )
    log(f"summary: {summary}")
