# Representations: h for every segment and record-level window, h statistics per fold (train only).


rule extract_reps:
    """Encode every segment and record window; store mean/std of h over each fold's train split."""
    input:
        segments="results/segments/segments.h5",
        folds="results/folds/folds.json",
        encoder="results/encoders/{inputs}/encoder.pt",
    output:
        h5="results/encoders/{inputs}/reps.h5",
    params:
        tile=config["encoder"]["tile_reps"],
        device=config["device"],
    threads: 2
    priority: 10
    resources:
        mem_mb=4000,
        runtime=30,
    log:
        "logs/extract_reps/{inputs}.log",
    benchmark:
        "benchmarks/extract_reps/{inputs}.tsv"
    conda:
        f"{ENVS}/torch.yaml"
    script:
        "../workflow_scripts/extract_reps.py"


use rule extract_reps as extract_reps_paper with:
    input:
        segments="results/segments/segments.h5",
        folds="results/folds/folds.json",
        encoder="results/encoders/{inputs}/paper/encoder.pt",
    output:
        h5="results/encoders/{inputs}/paper/reps.h5",
    params:
        tile=False,  # the authors' h is per segment (encoder.tile_reps is a setting of our design)
        device=config["device"],
    log:
        "logs/extract_reps/{inputs}_paper.log",
    benchmark:
        "benchmarks/extract_reps/{inputs}_paper.tsv"


use rule extract_reps as extract_reps_pt with:
    input:
        segments="results/segments/segments.h5",
        folds="results/folds/folds.json",
        encoder="results/encoders/{inputs}/pretrained/encoder.pt",
    output:
        h5="results/encoders/{inputs}/pretrained/reps.h5",
    log:
        "logs/extract_reps/{inputs}_pretrained.log",
    benchmark:
        "benchmarks/extract_reps/{inputs}_pretrained.tsv"
