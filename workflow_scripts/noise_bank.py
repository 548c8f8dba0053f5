"""Rule noise_bank: one noise kind (NSTDB or synthetic) at the task rate, split in time into train / val / test."""

from ecgrecon.io.runlog import script_run
from ecgrecon.noise import build_bank

with script_run(snakemake) as log:
    p = snakemake.params
    if p.source == "synthetic":
        log("noise: no NSTDB records for this run (noise.source / noise.nstdb_dir): SYNTHETIC noise, labelled so in every table")
    build_bank(
        snakemake.output.h5,
        kinds=[snakemake.wildcards.kind],
        fs=p.fs,
        split=p.split,
        source=p.source,
        folder=p.folder,
        seed=p.seed,
        log=log,
    )
