"""Rule prior_realism: unconditional samples of the diffusion prior beside train windows, through the realism measures."""

from ecgrecon.evaluation.prior_realism import prior_realism_from_files
from ecgrecon.io.runlog import script_run
from ecgrecon.learn.device import set_threads

with script_run(snakemake) as log:
    log(f"torch threads: {set_threads(snakemake.threads)}")
    i, p = snakemake.input, snakemake.params
    out = {k: snakemake.output[k] for k in ("csv", "md", "png")}
    prior_realism_from_files(
        i.model, i.segments, i.folds, out, n=p.realism["n"], steps=p.realism["steps"], seed=p.seed, fold=p.fold, log=log
    )
