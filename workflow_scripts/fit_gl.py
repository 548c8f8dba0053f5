"""Rule fit_gl: the population linear baseline GL for one fold (train fit, alpha on val)."""
import sys

sys.path.insert(0, snakemake.scriptdir + "/..")  # this checkout's ecgrecon package (also in conda envs)
from ecgrecon.linear import fit_from_segments
from ecgrecon.runlog import script_run

with script_run(snakemake) as log:
    p = snakemake.params
    gl = fit_from_segments(snakemake.input.segments, snakemake.input.folds, snakemake.wildcards.fold, p.inputs,
                           p.targets, context=p.gl["context"], alphas=p.gl["alphas"], log=log)
    gl.save(snakemake.output.model)
