"""Rule evaluate_diffusion: the samplers' posterior means beside the task's other methods on the same windows."""

from ecgrecon import methods as registry
from ecgrecon.evaluation.diffusion_report import evaluate_diffusion
from ecgrecon.evaluation.noisy import settings_from_rule
from ecgrecon.io.runlog import script_run
from ecgrecon.learn.device import set_threads
from ecgrecon.noise.inputs import NoisyInputs
from ecgrecon.tasks import Task

with script_run(snakemake) as log:
    log(f"torch threads: {set_threads(snakemake.threads)}")
    i, p, t = snakemake.input, snakemake.params, snakemake.params.task
    registry.load_plugins(p.plugins)
    if p.noise is not None:
        noise, noise_settings = NoisyInputs.from_params(p.noise), settings_from_rule(t, i, p.clean, p.device)
        task = noise_settings.task
    else:
        noise = noise_settings = None
        task = Task(t["name"], tuple(t["inputs"]), tuple(t["targets"]), tuple(t["derived"]), t["corruption"], tuple(t["methods"]))
    out = {k: snakemake.output[k] for k in ("csv", "md", "morphology", "png")}
    evaluate_diffusion(
        task=task, samples_h5=i.samples, cost_csv=i.cost, segments=i.segments, out=out, predictions_h5=i.get("predictions"),
        noise=noise, noise_settings=noise_settings, device=p.device, log=log,
    )  # fmt: skip
