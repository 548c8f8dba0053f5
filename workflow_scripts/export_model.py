"""Rule export_model: one method's encoder + decoders + settings + metrics + the task's GL map -> model bundle + JSON card."""

from ecgrecon.deploy.bundle import export_model
from ecgrecon.io.runlog import file_list, script_run
from ecgrecon.learn.device import set_threads

with script_run(snakemake) as log:
    set_threads(snakemake.threads)
    p, inp, method = snakemake.params, snakemake.input, snakemake.wildcards.method
    paths = {
        "decoder_paths": dict(zip(p.targets, file_list(inp.decoders), strict=True)),
        "curve_paths": dict(zip(p.targets, file_list(inp.curves), strict=True)),
        "segment_csv": inp.segment_csv,
        "record_csv": inp.record_csv,
        "encoder_path": inp.get("encoder"),
        "reps_path": inp.get("reps"),
        "gl_path": inp.get("gl"),  # the task's GL map (absent when the task fits no GL)
    }
    settings = {"inputs": p.inputs, "targets": p.targets, "clean": p.clean, "window": p.window, "hop": p.hop, "tile_reps": p.tile_reps}
    export_model(snakemake.output.bundle, snakemake.output.card, variant=method, fold=p.fold, settings=settings, log=log, **paths)
