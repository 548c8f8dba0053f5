# Evaluation of one task on the test split of every evaluated fold: Table I/II, per-class RMSE,
# morphology, latent affinity, figures and predictions, for every population method of the task
# (registry order) beside the zero / train-mean reference predictors.


rule evaluate:
    """Predict the test split with every population method of the task; write tables, figures and predictions."""
    input:
        unpack(evaluate_inputs),
    output:
        predictions="results/{task}/predictions/predictions.h5",
        segment_csv=report("results/{task}/tables/segment_metrics.csv", caption="../report/segment_metrics.rst",
                           category="5 Evaluation", subcategory="{task} tables"),
        segment_md="results/{task}/tables/segment_metrics.md",
        record_csv=report("results/{task}/tables/record_metrics.csv", caption="../report/record_metrics.rst",
                          category="5 Evaluation", subcategory="{task} tables"),
        record_md="results/{task}/tables/record_metrics.md",
        class_csv=report("results/{task}/tables/class_metrics.csv", caption="../report/class_metrics.rst",
                         category="5 Evaluation", subcategory="{task} tables"),
        latent_csv=report("results/{task}/tables/latent_affinity.csv", caption="../report/latent_affinity.rst",
                          category="5 Evaluation", subcategory="{task} tables"),
        morph_csv=report("results/{task}/tables/morphology_metrics.csv",
                         caption="../report/morphology_metrics.rst", category="5 Evaluation",
                         subcategory="{task} tables"),
        fig_affinity_x=report("results/{task}/figures/latent_affinity_x.png",
                              caption="../report/latent_affinity_fig.rst", category="5 Evaluation",
                              subcategory="{task} figures"),
        fig_affinity_h=report("results/{task}/figures/latent_affinity_h.png",
                              caption="../report/latent_affinity_fig.rst", category="5 Evaluation",
                              subcategory="{task} figures"),
        fig_radar=report("results/{task}/figures/class_radar.png", caption="../report/class_radar.rst",
                         category="5 Evaluation", subcategory="{task} figures"),
        fig_qualitative=report("results/{task}/figures/qualitative.png", caption="../report/qualitative.rst",
                               category="5 Evaluation", subcategory="{task} figures"),
        fig_bland_altman=report("results/{task}/figures/bland_altman_V4.png", caption="../report/bland_altman.rst",
                                category="5 Evaluation", subcategory="{task} figures"),
    params:
        task=task_params,
        folds=FOLDS,
        plugins=PLUGINS,
        level=config["labels"]["level"],
        evaluation=canonical({k: v for k, v in config["evaluation"].items() if k != "folds"}),
        device=config["device"],
    threads: 2
    resources:
        mem_mb=6000,
        runtime=60,
    log:
        "logs/evaluate/{task}.log",
    benchmark:
        "benchmarks/evaluate/{task}.tsv"
    conda:
        f"{ENVS}/torch.yaml"
    script:
        "../workflow_scripts/evaluate.py"
