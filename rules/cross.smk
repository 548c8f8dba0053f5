# Cross-dataset evaluation (config `cross_datasets:`): a `datasets:` database evaluated with the
# main dataset's models (fold official), no fine-tuning: segmented with the main QC bounds, every
# record in test, h standardised with the main train statistics. Outputs under results/cross/{dataset}/.
# Paths and outputs: CROSS, CROSS_PATTERN, cross_outputs() in rules/learning_common.smk.


rule cross_segment:
    """Windows of the evaluated database that pass the main dataset's QC bounds (pass 2 only)."""
    input:
        h5="results/clean/{dataset}.h5",
        stats="results/qc/qc_stats.json",
    output:
        h5=f"{CROSS}/segments.h5",
        report=f"{CROSS}/qc_report.csv",
    params:
        window=config["segment"]["window"],
        hop=config["segment"]["hop"],
    wildcard_constraints:
        dataset=CROSS_PATTERN,
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    log:
        "logs/cross/{dataset}/segment.log",
    benchmark:
        "benchmarks/cross/{dataset}/segment.tsv"
    conda:
        f"{ENVS}/data.yaml"
    script:
        "../workflow_scripts/segment.py"


rule cross_folds:
    """One fold, `official`, with every record of the evaluated database in test."""
    input:
        h5="results/clean/{dataset}.h5",
    output:
        json=f"{CROSS}/folds.json",
    params:
        seed=config["seed"],
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    log:
        "logs/cross/{dataset}/folds.log",
    benchmark:
        "benchmarks/cross/{dataset}/folds.tsv"
    conda:
        f"{ENVS}/data.yaml"
    script:
        "../workflow_scripts/cross_folds.py"


rule cross_reps:
    """h of every window with the main encoder, standardised with the main dataset's train statistics."""
    input:
        segments=f"{CROSS}/segments.h5",
        folds=f"{CROSS}/folds.json",
        encoder="results/encoder/encoder.pt",
        norm_from="results/reps/reps.h5",
    output:
        h5=f"{CROSS}/reps.h5",
    params:
        tile=config["encoder"]["tile_reps"],
        device=config["device"],
    threads: 2
    resources:
        mem_mb=4000,
        runtime=30,
    log:
        "logs/cross/{dataset}/reps.log",
    benchmark:
        "benchmarks/cross/{dataset}/reps.tsv"
    conda:
        f"{ENVS}/torch.yaml"
    script:
        "../workflow_scripts/extract_reps.py"


rule cross_evaluate:
    """GL and every decoder of the main dataset (fold official) on all records of the evaluated database."""
    input:
        segments=f"{CROSS}/segments.h5",
        folds=f"{CROSS}/folds.json",
        reps=f"{CROSS}/reps.h5",
        decoders=expand(DECODER_PATTERN, variant=config["decoder"]["variants"], fold="official",
                        lead=config["leads"]["targets"]),
        gl=GL_PATTERN.format(fold="official"),
    output:
        **cross_outputs(),
    params:
        pattern=lambda wildcards: DECODER_PATTERN,
        gl_pattern=lambda wildcards: GL_PATTERN,
        inputs=config["leads"]["inputs"],
        targets=config["leads"]["targets"],
        variants=config["decoder"]["variants"],
        folds=["official"],
        level=config["labels"]["level"],
        evaluation=canonical(config["decoder"]["evaluation"]),
        device=config["device"],
    threads: 2
    resources:
        mem_mb=6000,
        runtime=60,
    log:
        "logs/cross/{dataset}/evaluate.log",
    benchmark:
        "benchmarks/cross/{dataset}/evaluate.tsv"
    conda:
        f"{ENVS}/torch.yaml"
    script:
        "../workflow_scripts/evaluate.py"
