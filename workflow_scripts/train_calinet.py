"""Rule train_calinet: CaLiNet-E on the official fold with PCM's chosen alpha and rule; resumes from model.resume.pt."""

from ecgrecon.io.runlog import script_run
from ecgrecon.learn.calinet_run import train_from_files
from ecgrecon.learn.device import set_threads

with script_run(snakemake) as log:
    log(f"torch threads: {set_threads(snakemake.threads)}")
    i, o, p = snakemake.input, snakemake.output, snakemake.params
    train_from_files(i.clean, i.folds, i.gl, i.pcm, o.model, o.log, p.calinet, fold=p.fold, seed=p.seed, device=p.device, log=log)
