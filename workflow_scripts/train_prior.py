"""Rule train_prior: the diffusion prior on the official fold's train segments; resumes from model.resume.pt."""

from ecgrecon.io.runlog import script_run
from ecgrecon.learn.device import set_threads
from ecgrecon.learn.diffusion.run import train_from_files

with script_run(snakemake) as log:
    log(f"torch threads: {set_threads(snakemake.threads)}")
    i, o, p = snakemake.input, snakemake.output, snakemake.params
    train_from_files(i.segments, i.folds, o.model, o.log, p.prior, fold=p.fold, seed=p.seed, device=p.device, log=log)
