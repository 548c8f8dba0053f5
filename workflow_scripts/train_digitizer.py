"""Rule train_digitizer: the learned single-lead digitiser on the official fold's train images, early-stopped on val."""

from ecgrecon.evaluation.printout_learned import train_from_files
from ecgrecon.io.runlog import script_run

with script_run(snakemake) as log:
    i, p = snakemake.input, snakemake.params
    out = {k: snakemake.output[k] for k in ("pt", "csv", "png")}
    train_from_files(i.clean, i.folds, out, cfg=p.learned, levels=p.levels, seed=p.seed, device=p.device,
                     threads=snakemake.threads, log=log)  # fmt: skip
