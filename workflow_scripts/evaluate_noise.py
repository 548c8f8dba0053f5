"""Rule evaluate_noise: a noise task's methods (noise-trained) and its clean_models task's (clean-trained) per level."""

import os

from ecgrecon import methods as registry
from ecgrecon.evaluation.noisy import evaluate_noise, settings_from_rule
from ecgrecon.io.runlog import script_run
from ecgrecon.learn.device import set_threads
from ecgrecon.noise.inputs import NoisyInputs

folders = tuple(sorted({os.path.dirname(p) for p in snakemake.output}))
with script_run(snakemake, provenance=folders) as log:
    log(f"torch threads: {set_threads(snakemake.threads)}")
    p = snakemake.params
    registry.load_plugins(p.plugins)
    noise = NoisyInputs.from_params(p.noise)
    settings = settings_from_rule(p.task, snakemake.input, p.clean, p.device)
    outputs = {k: snakemake.output[k] for k in snakemake.output.keys()}
    evaluate_noise(snakemake.input.segments, snakemake.input.folds, noise, settings, outputs, log=log)
