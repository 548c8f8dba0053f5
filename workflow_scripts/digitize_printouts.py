"""Rule digitize_printouts: the classical digitiser on every printout image, its scores per level and lead, an example figure."""

from ecgrecon.evaluation.printout_report import digitize_from_files
from ecgrecon.io.runlog import script_run

with script_run(snakemake) as log:
    i = snakemake.input
    out = {k: snakemake.output[k] for k in ("h5", "csv", "md", "thresholds", "png")}
    digitize_from_files(i.images, i.manifest, i.truth, out, log=log)
