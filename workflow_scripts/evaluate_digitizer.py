"""Rule evaluate_digitizer: learned and classical digitisers on the same single-lead test images, scored alike."""

from ecgrecon.evaluation.printout_learned import evaluate_from_files
from ecgrecon.io.runlog import script_run

with script_run(snakemake) as log:
    i, p = snakemake.input, snakemake.params
    out = {k: snakemake.output[k] for k in ("h5", "csv", "md", "thresholds", "png")}
    evaluate_from_files(i.model, i.truth, out, levels=p.levels, seed=p.seed, threads=snakemake.threads, log=log)
