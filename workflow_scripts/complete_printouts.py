"""Rule complete_printouts: digitised partial records -> 12 leads x 10 s (visible, GL, PPM), their scores, an example."""

from ecgrecon.evaluation.completion_report import complete_from_files
from ecgrecon.io.runlog import script_run

with script_run(snakemake) as log:
    i = snakemake.input
    out = {k: snakemake.output[k] for k in ("gl", "h5", "csv", "md", "png")}
    complete_from_files(i.digitized, i.truth, i.segments, i.folds, out, cfg=snakemake.params.completion, log=log)
