"""Rule evaluate: test-split predictions, Tables I/II, per-class RMSE, latent affinity, figures."""
import os
import sys

sys.path.insert(0, snakemake.scriptdir + "/..")  # this checkout's ecgrecon package (also in conda envs)
from ecgrecon.device import set_threads
from ecgrecon.evaluate import EvalSettings, evaluate
from ecgrecon.runlog import script_run

folders = tuple(sorted({os.path.dirname(p) for p in snakemake.output}))  # results/{tables,figures,predictions}
with script_run(snakemake, provenance=folders) as log:
    log(f"torch threads: {set_threads(snakemake.threads)}")
    p = snakemake.params
    paths = {(v, f, lead): p.pattern.format(variant=v, fold=f, lead=lead)
             for v in p.variants for f in p.folds for lead in p.targets}
    gl_paths = {f: p.gl_pattern.format(fold=f) for f in p.folds}
    given = set()
    for key in ("decoders", "gl"):  # a one-file named input comes back as a plain string
        files = snakemake.input[key]
        given |= {files} if isinstance(files, str) else set(files)
    missing = sorted((set(paths.values()) | set(gl_paths.values())) - given)
    if missing:
        raise ValueError(f"decoder checkpoints / GL maps not among the rule inputs: {missing}")
    ev = p.evaluation
    settings = EvalSettings(inputs=p.inputs, targets=p.targets, variants=p.variants, folds=p.folds, level=p.level,
                            knn_k=ev["knn_k"], n_subclasses=ev["n_subclasses"],
                            min_class_records=ev["min_class_records"], device=p.device)
    outputs = {k: snakemake.output[k] for k in snakemake.output.keys()}
    evaluate(snakemake.input.segments, snakemake.input.folds, snakemake.input.reps, paths, outputs, settings, log=log,
             gl_paths=gl_paths)
