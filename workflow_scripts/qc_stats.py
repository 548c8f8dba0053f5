"""Rule qc_stats: QC pass 1, per-lead percentile bounds."""

from ecgrecon.data.qc import compute_qc_stats
from ecgrecon.io.runlog import script_run

with script_run(snakemake) as log:
    compute_qc_stats(
        snakemake.input.h5,
        snakemake.output.stats,
        snakemake.output.png,
        percentiles=snakemake.params.percentiles,
        window=snakemake.params.window,
        n_windows=snakemake.params.n_windows,
        seed=snakemake.params.seed,
        statistic=snakemake.params.statistic,
        log=log,
    )
