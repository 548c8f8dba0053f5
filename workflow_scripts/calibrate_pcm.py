"""Rule calibrate_pcm: PCM on the official split (alpha and rule on val), its own metrics table."""

import os

from ecgrecon.evaluation.pcm_report import write_pcm_tables
from ecgrecon.io.runlog import script_run
from ecgrecon.learn.calibration import run_pcm

with script_run(snakemake, provenance=(os.path.dirname(os.path.dirname(snakemake.output.summary)),)) as log:
    i, o = snakemake.input, snakemake.output
    summary = run_pcm(i.clean, i.segments, i.folds, i.gl, o.predictions, o.summary, fold=snakemake.params.fold, log=log)
    write_pcm_tables(summary, o.csv, o.md)
