"""Rules evaluate / cross_evaluate: one task's test-split predictions, Tables I/II, per-class RMSE, figures."""

import os

from ecgrecon import methods as registry
from ecgrecon.evaluation.evaluate import EvalSettings, evaluate
from ecgrecon.io.runlog import file_list, script_run
from ecgrecon.learn.device import set_threads

folders = tuple(sorted({os.path.dirname(p) for p in snakemake.output}))  # results/{task}/{tables,figures,predictions}
with script_run(snakemake, provenance=folders) as log:
    log(f"torch threads: {set_threads(snakemake.threads)}")
    p, task = snakemake.params, snakemake.params.task
    registry.load_plugins(p.plugins)
    artifacts = {}  # (method, fold) -> a linear map's path, or a decoder method's per-target checkpoints
    for m in task["methods"]:
        for fold in p.folds:
            given = snakemake.input[registry.artifact_key(m, fold)]
            artifacts[(m, fold)] = file_list(given) if registry.get(m).kind == "decoder" else str(given)
    ev = p.evaluation
    settings = EvalSettings(
        task=task["name"],
        inputs=task["inputs"],
        targets=task["targets"],
        derived=task["derived"],
        methods=task["methods"],
        folds=p.folds,
        level=p.level,
        knn_k=ev["knn_k"],
        n_subclasses=ev["n_subclasses"],
        min_class_records=ev["min_class_records"],
        device=p.device,
    )
    outputs = {k: snakemake.output[k] for k in snakemake.output.keys()}
    reps_by = {section: snakemake.input[key] for section, key in task["reps"].items() if section != "encoder"}
    evaluate(
        snakemake.input.segments, snakemake.input.folds, snakemake.input.get("reps"), artifacts, outputs, settings, log=log, reps_by=reps_by
    )
