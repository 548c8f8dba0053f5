"""Rule download_nstdb: fetch NSTDB's noise records from PhysioNet, verify SHA256SUMS."""

from ecgrecon.io.download import download_nstdb
from ecgrecon.io.runlog import script_run

with script_run(snakemake) as log:
    download_nstdb(snakemake.params.url, snakemake.params.out_dir, threads=snakemake.threads, log=log)
