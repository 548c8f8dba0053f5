"""Rule render_printouts: the chosen test records as printout pages at every distortion level, their manifest and truth."""

from ecgrecon.evaluation.printout_report import render_from_clean
from ecgrecon.io.runlog import script_run

with script_run(snakemake) as log:
    i, o, p = snakemake.input, snakemake.output, snakemake.params
    render_from_clean(i.clean, i.folds, o.images, o.manifest, o.truth, cfg=p.printout, seed=p.seed, log=log)
