"""Rule extract_reps: h for every segment and record window, train-only h statistics per fold."""

from ecgrecon.io.runlog import script_run
from ecgrecon.learn.device import set_threads
from ecgrecon.learn.reps import extract_reps

with script_run(snakemake) as log:
    log(f"torch threads: {set_threads(snakemake.threads)}")
    extract_reps(
        snakemake.input.segments,
        snakemake.input.folds,
        snakemake.input.encoder,
        snakemake.output.h5,
        tile=snakemake.params.tile,
        device=snakemake.params.device,
        log=log,
        norm_from=snakemake.input.get("norm_from"),
    )  # cross-dataset: the training set's h statistics
