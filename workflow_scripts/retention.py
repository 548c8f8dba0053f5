"""Rule retention: classifier scores of the test records, original vs reconstructed target leads."""

from ecgrecon.evaluation.retention import retention_from_predictions, write_retention
from ecgrecon.io.runlog import script_run
from ecgrecon.learn.device import set_threads

with script_run(snakemake) as log:
    log(f"torch threads: {set_threads(snakemake.threads)}")
    i, p = snakemake.input, snakemake.params
    table, summary = retention_from_predictions(i.classifier, i.predictions, i.segments, i.clean, fold=p.fold, device=p.device, log=log)
    write_retention(table, summary, snakemake.output.csv, snakemake.output.md)
