"""Rule noise_summary: the noise tasks' mean RMSE per level and predictor, and one RMSE-vs-SNR figure."""

from ecgrecon.evaluation.noisy import summary_over_tasks
from ecgrecon.io.runlog import script_run

with script_run(snakemake) as log:
    summary_over_tasks(list(snakemake.input), snakemake.output.csv, snakemake.output.md, snakemake.output.fig, log=log)
