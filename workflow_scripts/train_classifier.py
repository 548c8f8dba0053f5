"""Rule train_classifier: the superclass classifier for diagnostic retention (train split, early stop on val)."""

from ecgrecon.io.runlog import script_run
from ecgrecon.learn.classifier import train_from_clean
from ecgrecon.learn.device import set_threads

with script_run(snakemake, provenance=("results/classifier",)) as log:
    log(f"torch threads: {set_threads(snakemake.threads)}")
    p = snakemake.params
    train_from_clean(
        snakemake.input.clean,
        snakemake.input.folds,
        p.fold,
        snakemake.output.model,
        snakemake.output.summary,
        cfg=p.classifier,
        seed=p.seed,
        device=p.device,
        log=log,
    )
