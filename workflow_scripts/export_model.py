"""Rule export_model: one variant's encoder + decoders + settings + metrics -> model bundle + JSON card."""
import sys

sys.path.insert(0, snakemake.scriptdir + "/..")  # this checkout's ecgrecon package (also in conda envs)
from ecgrecon.bundle import export_model
from ecgrecon.device import set_threads
from ecgrecon.runlog import script_run

with script_run(snakemake) as log:
    set_threads(snakemake.threads)
    p, inp, variant = snakemake.params, snakemake.input, snakemake.wildcards.variant
    decoders = {lead: p.pattern.format(variant=variant, fold=p.fold, lead=lead) for lead in p.targets}
    missing = sorted(set(decoders.values()) - set(inp.decoders))
    if missing:
        raise ValueError(f"decoder checkpoints not among the rule inputs: {missing}")
    paths = {"decoder_paths": decoders,
             "curve_paths": {lead: d[: -len(".pt")] + "_val.csv" for lead, d in decoders.items()},
             "segment_csv": inp.segment_csv, "record_csv": inp.record_csv}
    if variant in ("Ch", "ChA"):  # variants that read h
        paths.update(encoder_path=inp.encoder, reps_path=inp.reps)
    settings = {"inputs": p.inputs, "targets": p.targets, "clean": p.clean, "window": p.window, "hop": p.hop,
                "tile_reps": p.tile_reps}
    export_model(snakemake.output.bundle, snakemake.output.card, variant=variant, fold=p.fold, settings=settings,
                 config_sha256=p.config_sha256, log=log, **paths)
