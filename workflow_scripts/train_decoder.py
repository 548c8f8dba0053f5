"""Rule train_decoder: one (task, method, fold, lead) decoder; resumes from {lead}.resume.pt if killed."""

from ecgrecon.io.runlog import script_run
from ecgrecon.learn.device import set_threads
from ecgrecon.learn.train_decoder import train_decoder
from ecgrecon.noise.inputs import NoisyInputs

with script_run(snakemake) as log:
    log(f"torch threads: {set_threads(snakemake.threads)}")
    w, p = snakemake.wildcards, snakemake.params
    train_decoder(
        snakemake.input.segments,
        snakemake.input.folds,
        snakemake.input.get("reps"),
        snakemake.output.model,
        snakemake.output.curve,
        variant=w.method,
        fold=w.fold,
        lead=w.lead,
        inputs=p.inputs,
        cfg=p.decoder,
        seed=p.seed,
        device=p.device,
        log=log,
        gl_path=snakemake.input.get("gl"),
        noise=None if p.noise is None else NoisyInputs.from_params(p.noise),
        init=snakemake.input.get("init"),  # methods with `pretrained`: the pre-training run's checkpoint
    )
