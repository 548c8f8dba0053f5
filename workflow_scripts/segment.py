"""Rule segment: QC pass 2, windows inside the bounds + record-level windows."""

import os

from ecgrecon.data.segment import segment_dataset
from ecgrecon.io.runlog import script_run

folders = tuple(sorted({os.path.dirname(p) for p in (snakemake.output.h5, snakemake.output.report)}))
with script_run(snakemake, provenance=folders) as log:
    summary = segment_dataset(
        snakemake.input.h5,
        snakemake.input.stats,
        snakemake.output.h5,
        snakemake.output.report,
        window=snakemake.params.window,
        hop=snakemake.params.hop,
        statistic=snakemake.params.statistic,
        max_bad_leads=snakemake.params.max_bad_leads,
        log=log,
    )
    log(f"summary: {summary}")
