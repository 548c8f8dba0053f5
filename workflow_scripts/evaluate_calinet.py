"""Rule evaluate_calinet: CaLiNet-E on PCM's test windows (extended PCM table), calibration robustness, reliability."""

from ecgrecon.evaluation.calinet_report import evaluate_calinet
from ecgrecon.io.runlog import script_run
from ecgrecon.learn.device import set_threads

with script_run(snakemake) as log:
    set_threads(snakemake.threads)
    i, p = snakemake.input, snakemake.params
    evaluate_calinet(
        clean_h5=i.clean,
        segments=i.segments,
        folds_json=i.folds,
        pcm_h5=i.pcm_h5,
        pcm_json=i.pcm_json,
        model_path=i.model,
        predictions_h5=i.get("predictions"),
        noise_bank=i.noise_bank,
        out=dict(snakemake.output.items()),
        task=snakemake.wildcards.task,
        noise_db=p.noise_db,
        seed=p.seed,
        log=log,
    )
