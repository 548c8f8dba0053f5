# CaLiNet-E (method `calinet`, kind `calibrated`; ecgrecon.learn.calinet): PCM's quality-weighted per-patient map plus a
# FiLM-conditioned U-Net residual, trained per task on the official fold's train episodes (early stop on its val split)
# with PCM's validation-chosen alpha and rule; evaluated on PCM's test windows beside GL, PCM-raw, PCM and ChA, with the
# calibration-robustness table, the three quality scores compared and the score's reliability plot; the classifier of
# rules/diagnostic.smk scores the records CaLiNet-E reconstructs (retention_calinet).


rule train_calinet:
    """CaLiNet-E on the official fold (train episodes, early stop on val), PCM's alpha and rule; resumable."""
    input:
        clean=PRIMARY_CLEAN,
        folds="results/folds/folds.json",
        gl=f"results/{{task}}/linear/{PCM_FOLD}/GL.json",
        pcm=f"results/{{task}}/pcm/{PCM_FOLD}/pcm.json",
    output:
        model="results/{task}/calinet/model.pt",
        log="results/{task}/calinet/train_log.csv",
    params:
        calinet=calinet_train_cfg(),
        fold=PCM_FOLD,
        seed=config["seed"],
        device=config["device"],
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
    log:
        "logs/train_calinet/{task}.log",
    benchmark:
        "benchmarks/train_calinet/{task}.tsv"
    conda:
        f"{ENVS}/torch.yaml"
    script:
        "../workflow_scripts/train_calinet.py"


rule evaluate_calinet:
    """CaLiNet-E vs GL, PCM-raw, PCM (and ChA) on PCM's test windows; calibration robustness; the scores; reliability."""
    input:
        unpack(calinet_evaluate_inputs),
    output:
        csv=report(
            "results/{task}/calinet/metrics.csv",
            caption="../report/calinet_metrics.rst",
            category="5 Evaluation",
            subcategory="{task} tables",
        ),
        md="results/{task}/calinet/metrics.md",
        robustness_csv="results/{task}/calinet/robustness.csv",
        robustness_md="results/{task}/calinet/robustness.md",
        robustness_png="results/{task}/calinet/robustness.png",
        reliability_csv="results/{task}/calinet/reliability.csv",
        reliability_png="results/{task}/calinet/reliability.png",
        scores_csv="results/{task}/calinet/scores.csv",
        scores_md="results/{task}/calinet/scores.md",
        predictions="results/{task}/calinet/predictions.h5",
    params:
        noise_db=config["calinet"]["robust_noise_db"],
        seed=config["seed"],
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    log:
        "logs/evaluate_calinet/{task}.log",
    benchmark:
        "benchmarks/evaluate_calinet/{task}.tsv"
    conda:
        f"{ENVS}/torch.yaml"
    script:
        "../workflow_scripts/evaluate_calinet.py"


rule retention_calinet:
    """Diagnostic retention of the records CaLiNet-E reconstructs (PCM's windows), beside GL, PCM and ChA."""
    input:
        classifier=f"results/classifier/{CLASSIFIER_FOLD}/classifier.pt",
        predictions="results/{task}/calinet/predictions.h5",
        segments="results/segments/segments.h5",
        clean=PRIMARY_CLEAN,  # superclass labels of the test records
    output:
        csv=report(
            "results/{task}/calinet/retention.csv",
            caption="../report/calinet_retention.rst",
            category="5 Evaluation",
            subcategory="{task} tables",
        ),
        md="results/{task}/calinet/retention.md",
    params:
        fold=CLASSIFIER_FOLD,
        device=config["device"],
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    log:
        "logs/retention_calinet/{task}.log",
    benchmark:
        "benchmarks/retention_calinet/{task}.tsv"
    conda:
        f"{ENVS}/torch.yaml"
    script:
        "../workflow_scripts/retention_calinet.py"
