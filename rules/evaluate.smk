# Evaluation on the test split: Table I/II, per-class RMSE, latent affinity, figures, predictions.


rule evaluate:
    """Predict the test split with GL and every decoder; write tables, figures and predictions."""
    input:
        segments="results/segments/segments.h5",
        folds="results/folds/folds.json",
        reps="results/reps/reps.h5",
        decoders=decoder_checkpoints(),
        gl=gl_models(),
    output:
        predictions="results/predictions/predictions.h5",
        **eval_outputs(),
    params:
        pattern=lambda wildcards: DECODER_PATTERN,
        gl_pattern=lambda wildcards: GL_PATTERN,
        inputs=config["leads"]["inputs"],
        targets=config["leads"]["targets"],
        variants=config["decoder"]["variants"],
        folds=config["decoder"]["folds"],
        level=config["labels"]["level"],
        evaluation=canonical(config["decoder"]["evaluation"]),
        device=config["device"],
    threads: 2
    resources:
        mem_mb=6000,
        runtime=60,
    log:
        "logs/evaluate.log",
    benchmark:
        "benchmarks/evaluate.tsv"
    conda:
        f"{ENVS}/torch.yaml"
    script:
        "../workflow_scripts/evaluate.py"
