"""Rule retention_calinet: classifier scores of the records CaLiNet-E reconstructs, original vs each method."""

from ecgrecon.evaluation.calinet_report import calinet_retention, write_calinet_retention
from ecgrecon.io.runlog import script_run
from ecgrecon.learn.device import set_threads

with script_run(snakemake) as log:
    log(f"torch threads: {set_threads(snakemake.threads)}")
    i, p = snakemake.input, snakemake.params
    table, summary = calinet_retention(i.classifier, i.predictions, i.segments, i.clean, p.fold, device=p.device, log=log)
    write_calinet_retention(table, summary, snakemake.output.csv, snakemake.output.md)
