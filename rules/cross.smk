# Cross-dataset evaluation (config `cross_datasets:`): a `datasets:` database evaluated with the main
# dataset's models (fold official), no fine-tuning: segmented with the main QC bounds, every record in
# test, h standardised with the main train statistics. Shared: results/cross/{dataset}/ (segments,
# folds, reps per encoder); per task: results/{task}/cross/{dataset}/ (predictions, tables, figures).


use rule segment as cross_segment with:
    input:
        h5="results/clean/{dataset}.h5",
        stats="results/qc/qc_stats.json",
    output:
        h5="results/cross/{dataset}/segments.h5",
        report="results/cross/{dataset}/qc_report.csv",
    wildcard_constraints:
        dataset=_alternatives(CROSS_DATASETS),
    log:
        "logs/cross/{dataset}/segment.log",
    benchmark:
        "benchmarks/cross/{dataset}/segment.tsv"


rule cross_folds:
    """One fold, `official`, with every record of the evaluated database in test."""
    input:
        h5="results/clean/{dataset}.h5",
    output:
        json="results/cross/{dataset}/folds.json",
    wildcard_constraints:
        dataset=_alternatives(CROSS_DATASETS),
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


use rule extract_reps as cross_reps with:
    input:
        segments="results/cross/{dataset}/segments.h5",
        folds="results/cross/{dataset}/folds.json",
        encoder="results/encoders/{inputs}/encoder.pt",
        norm_from="results/encoders/{inputs}/reps.h5",
    output:
        h5="results/cross/{dataset}/encoders/{inputs}/reps.h5",
    wildcard_constraints:
        dataset=_alternatives(CROSS_DATASETS),
    log:
        "logs/cross/{dataset}/reps_{inputs}.log",
    benchmark:
        "benchmarks/cross/{dataset}/reps_{inputs}.tsv"


use rule cross_reps as cross_reps_paper with:
    input:
        segments="results/cross/{dataset}/segments.h5",
        folds="results/cross/{dataset}/folds.json",
        encoder="results/encoders/{inputs}/paper/encoder.pt",
        norm_from="results/encoders/{inputs}/paper/reps.h5",
    output:
        h5="results/cross/{dataset}/encoders/{inputs}/paper/reps.h5",
    log:
        "logs/cross/{dataset}/reps_{inputs}_paper.log",
    benchmark:
        "benchmarks/cross/{dataset}/reps_{inputs}_paper.tsv"


use rule cross_reps as cross_reps_pt with:
    input:
        segments="results/cross/{dataset}/segments.h5",
        folds="results/cross/{dataset}/folds.json",
        encoder="results/encoders/{inputs}/pretrained/encoder.pt",
        norm_from="results/encoders/{inputs}/pretrained/reps.h5",
    output:
        h5="results/cross/{dataset}/encoders/{inputs}/pretrained/reps.h5",
    log:
        "logs/cross/{dataset}/reps_{inputs}_pretrained.log",
    benchmark:
        "benchmarks/cross/{dataset}/reps_{inputs}_pretrained.tsv"


use rule evaluate as cross_evaluate with:
    input:
        unpack(cross_evaluate_inputs),
    output:
        predictions="results/{task}/cross/{dataset}/predictions.h5",
        segment_csv=report("results/{task}/cross/{dataset}/tables/segment_metrics.csv",
                           caption="../report/cross_metrics.rst", category="6 Cross-dataset",
                           subcategory="{task} {dataset}"),
        segment_md="results/{task}/cross/{dataset}/tables/segment_metrics.md",
        record_csv=report("results/{task}/cross/{dataset}/tables/record_metrics.csv",
                          caption="../report/cross_metrics.rst", category="6 Cross-dataset",
                          subcategory="{task} {dataset}"),
        record_md="results/{task}/cross/{dataset}/tables/record_metrics.md",
        class_csv="results/{task}/cross/{dataset}/tables/class_metrics.csv",
        latent_csv="results/{task}/cross/{dataset}/tables/latent_affinity.csv",
        morph_csv="results/{task}/cross/{dataset}/tables/morphology_metrics.csv",
        fig_affinity_x="results/{task}/cross/{dataset}/figures/latent_affinity_x.png",
        fig_affinity_h="results/{task}/cross/{dataset}/figures/latent_affinity_h.png",
        fig_radar="results/{task}/cross/{dataset}/figures/class_radar.png",
        fig_qualitative="results/{task}/cross/{dataset}/figures/qualitative.png",
        fig_bland_altman="results/{task}/cross/{dataset}/figures/bland_altman_V4.png",
    wildcard_constraints:
        dataset=_alternatives(CROSS_DATASETS),
    params:
        task=task_params,
        folds=["official"],
        plugins=PLUGINS,
        level=config["labels"]["level"],
        evaluation=canonical({k: v for k, v in config["evaluation"].items() if k != "folds"}),
        device=config["device"],
    log:
        "logs/cross/{dataset}/evaluate_{task}.log",
    benchmark:
        "benchmarks/cross/{dataset}/evaluate_{task}.tsv"
