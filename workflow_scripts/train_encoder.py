"""Rules train_encoder / train_encoder_paper: our contrastive encoder, or the authors' (design paper), on the official train split."""

import os

from ecgrecon.io.runlog import script_run
from ecgrecon.learn import paper
from ecgrecon.learn.device import set_threads
from ecgrecon.learn.train_encoder import train_encoder

with script_run(snakemake, provenance=(os.path.dirname(snakemake.output.model),)) as log:
    log(f"torch threads: {set_threads(snakemake.threads)}")
    p = snakemake.params
    train = paper.train_encoder if p.design == "paper" else train_encoder
    init = snakemake.input.get("init")  # rule train_encoder_pt: the pre-training run's encoder.pt
    train(
        snakemake.input.segments,
        snakemake.input.folds,
        snakemake.output.model,
        snakemake.output.log_csv,
        snakemake.output.curve,
        inputs=p.inputs,
        level=p.level,
        cfg=p.encoder,
        seed=p.seed,
        device=p.device,
        log=log,
        **({} if init is None else {"init": init}),
    )
