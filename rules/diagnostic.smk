# Diagnostic retention (ecgrecon.classifier, ecgrecon.retention): a superclass classifier trained on the
# official fold's cleaned 12-lead train records scores its test records with the original leads and with
# the target leads replaced by each method's reconstruction (predictions.h5); retention = recon / original.

CLASSIFIER_FOLD = "official"  # the fold whose train / val / test records the classifier uses
CLASSIFIER_DIR = f"results/classifier/{CLASSIFIER_FOLD}"
DIAGNOSTIC_TARGETS = [
    f"{CLASSIFIER_DIR}/classifier.json",
    "results/tables/retention_metrics.csv",
    "results/tables/retention_metrics.md",
]  # for rule all


rule train_classifier:
    """Train the superclass classifier on the fold's train records; early stopping and thresholds on val."""
    input:
        clean=PRIMARY_CLEAN,
        folds="results/folds/folds.json",
    output:
        model=f"{CLASSIFIER_DIR}/classifier.pt",
        summary=f"{CLASSIFIER_DIR}/classifier.json",
    params:
        fold=CLASSIFIER_FOLD,
        classifier=canonical(config["classifier"]),
        seed=config["seed"],
        device=config["device"],
    threads: 2
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
        classifier=f"{CLASSIFIER_DIR}/classifier.pt",
        predictions="results/predictions/predictions.h5",
        segments="results/segments/segments.h5",
        clean=PRIMARY_CLEAN,  # superclass labels of the test records
    output:
        csv=report(
            "results/tables/retention_metrics.csv",
            caption="../report/retention_metrics.rst",
            category="5 Evaluation",
            subcategory="Tables",
        ),
        md="results/tables/retention_metrics.md",
    params:
        fold=CLASSIFIER_FOLD,
        device=config["device"],
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    log:
        "logs/retention.log",
    benchmark:
        "benchmarks/retention.tsv"
    conda:
        f"{ENVS}/torch.yaml"
    script:
        "../workflow_scripts/retention.py"
