"""Rule fit_linear: one population linear map (GL or another `linear` method) of a task and fold."""

from ecgrecon.io.runlog import script_run
from ecgrecon.learn.linear import fit_from_segments
from ecgrecon.noise.inputs import NoisyInputs

with script_run(snakemake) as log:
    p = snakemake.params
    gl = fit_from_segments(
        snakemake.input.segments,
        snakemake.input.folds,
        snakemake.wildcards.fold,
        p.inputs,
        p.targets,
        context=p.gl["context"],
        alphas=p.gl["alphas"],
        log=log,
        noise=None if p.noise is None else NoisyInputs.from_params(p.noise),
        prior_path=snakemake.input.get("prior"),  # GLPT: the pre-training run's GL map
    )
    gl.save(snakemake.output.model)
