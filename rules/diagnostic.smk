# Diagnostic retention (ecgrecon.learn.classifier, ecgrecon.evaluation.retention): a superclass classifier trained on the
# official fold's cleaned 12-lead train records (shared by every task) scores its test records with the
# original leads and with each task's scored leads replaced by each method's reconstruction
# (results/{task}/predictions/predictions.h5); retention = recon / original.


rule train_classifier:
    """Train the superclass classifier on the fold's train records; early stopping and thresholds on val."""
    input:
        clean=PRIMARY_CLEAN,
        folds="results/folds/folds.json",
    output:
        model=f"results/classifier/{CLASSIFIER_FOLD}/classifier.pt",
        summary=f"results/classifier/{CLASSIFIER_FOLD}/classifier.json",
    params:
        fold=CLASSIFIER_FOLD,
        classifier=canonical(config["classifier"]),
        seed=config["seed"],
        device=config["device"],
    threads: 1  # ecgrecon.learn.classifier.TRAIN_THREADS: its training is bit-stable only on one thread
    resources:
        mem_mb=4000,
        runtime=60,
    log:
        "logs/train_classifier.log",
    benchmark:
        "benchmarks/train_classifier.tsv"
    conda:
        f"{ENVS}/torch.yaml"
    script:
        "../workflow_scripts/train_classifier.py"


rule retention:
    """Classifier macro-F1 / macro-AUC on the test records: original vs each method's reconstruction."""
    input:
        classifier=f"results/classifier/{CLASSIFIER_FOLD}/classifier.pt",
        predictions="results/{task}/predictions/predictions.h5",
        segments="results/segments/segments.h5",
        clean=PRIMARY_CLEAN,  # superclass labels of the test records
    output:
        csv=report(
            "results/{task}/tables/retention_metrics.csv",
            caption="../report/retention_metrics.rst",
            category="5 Evaluation",
            subcategory="{task} tables",
        ),
        md="results/{task}/tables/retention_metrics.md",
    params:
        fold=CLASSIFIER_FOLD,
        device=config["device"],
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    log:
        "logs/retention/{task}.log",
    benchmark:
        "benchmarks/retention/{task}.tsv"
    conda:
        f"{ENVS}/torch.yaml"
    script:
        "../workflow_scripts/retention.py"
