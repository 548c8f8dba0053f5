"""Rule sample_diffusion: K posterior samples per window of the task's observation, per sampler and noise level."""

from ecgrecon.evaluation.diffusion_report import DiffusionSettings, sample_diffusion
from ecgrecon.io.runlog import script_run
from ecgrecon.learn.device import set_threads
from ecgrecon.noise.inputs import NoisyInputs
from ecgrecon.tasks import Task

with script_run(snakemake) as log:
    log(f"torch threads: {set_threads(snakemake.threads)}")
    i, p, t = snakemake.input, snakemake.params, snakemake.params.task
    task = Task(t["name"], tuple(t["inputs"]), tuple(t["targets"]), tuple(t["derived"]), t["corruption"], tuple(t["methods"]))
    noise = NoisyInputs.from_params(p.noise) if p.noise is not None else None
    settings = DiffusionSettings.of(p.diffusion, p.seed, p.device)
    out = {k: snakemake.output[k] for k in ("samples", "cost")}
    sample_diffusion(task=task, prior_pt=i.prior, segments=i.segments, folds_json=i.folds, s=settings, out=out, noise=noise, log=log)
