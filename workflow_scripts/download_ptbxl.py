"""Rule download_ptbxl: fetch PTB-XL from PhysioNet, verify SHA256SUMS."""

from pathlib import Path

from ecgrecon.io.download import download_ptbxl
from ecgrecon.io.runlog import script_run

with script_run(snakemake) as log:
    download_ptbxl(
        snakemake.params.url, Path(snakemake.output.db).parent, records=snakemake.params.records, threads=snakemake.threads, log=log
    )
