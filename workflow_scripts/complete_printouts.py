"""Rule complete_printouts: digitised partial records -> 12 leads x 10 s (visible, GL, PPM; diffusion when the run trains
the diffusion prior), their scores, an example."""

from ecgrecon.evaluation.completion_report import complete_from_files
from ecgrecon.io.runlog import script_run

with script_run(snakemake) as log:
    i, p = snakemake.input, snakemake.params
    out = {k: snakemake.output[k] for k in ("gl", "h5", "csv", "md", "png")}
    prior = i.prior if "prior" in i.keys() else None
    complete_from_files(
        i.digitized, i.truth, i.segments, i.folds, out, cfg=p.completion, prior=prior, seed=p.seed, device=p.device, log=log
    )
