"""Rule evaluate_noise: a noise task's methods (noise-trained) and its clean_models task's (clean-trained) per level."""

import os

from ecgrecon import methods as registry
from ecgrecon.evaluation.noisy import FOLD, Entry, NoiseEvalSettings, evaluate_noise
from ecgrecon.io.runlog import file_list, script_run
from ecgrecon.learn.device import set_threads
from ecgrecon.noise.inputs import NoisyInputs
from ecgrecon.tasks import Task

folders = tuple(sorted({os.path.dirname(p) for p in snakemake.output}))
with script_run(snakemake, provenance=folders) as log:
    log(f"torch threads: {set_threads(snakemake.threads)}")
    p, t = snakemake.params, snakemake.params.task
    registry.load_plugins(p.plugins)
    noise = NoisyInputs.from_params(p.noise)
    task = Task(t["name"], tuple(t["inputs"]), tuple(t["targets"]), tuple(t["derived"]), "noise", tuple(t["methods"]))

    def artifact(prefix, m):
        kind = registry.get(m).kind
        if kind == "fixed":
            return None
        given = snakemake.input[f"{prefix}__{registry.artifact_key(m, FOLD)}"]
        return file_list(given) if kind == "decoder" else str(given)

    entries = [Entry(m, artifact("own", m), "noise") for m in t["methods"]]
    entries += [Entry(m, artifact("clean", m), "clean") for m in t["clean_methods"]]
    encoders = {s: (snakemake.input[f"encoder__{s}"], snakemake.input[f"reps__{s}"]) for s in t["encoder_sections"]}
    settings = NoiseEvalSettings(task=task, entries=entries, encoders=encoders, clean=dict(p.clean), device=p.device)
    outputs = {k: snakemake.output[k] for k in snakemake.output.keys()}
    evaluate_noise(snakemake.input.segments, snakemake.input.folds, noise, settings, outputs, log=log)
