# Patient-wise splits: the official strat_fold split and k patient-grouped CV folds.


rule folds:
    """Write the official split and the CV folds as lists of ecg_ids; no patient crosses splits."""
    input:
        h5=PRIMARY_CLEAN,
    output:
        json="results/folds/folds.json",
    params:
        split=canonical(config["split"]),
        seed=config["seed"],
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    log:
        "logs/folds.log",
    benchmark:
        "benchmarks/folds.tsv"
    conda:
        f"{ENVS}/data.yaml"
    script:
        "../workflow_scripts/folds.py"
