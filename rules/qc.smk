# QC pass 1: per-lead amplitude / RMS distributions -> percentile bounds.


rule qc_stats:
    """Sample windows from the cleaned records and store per-lead percentile bounds."""
    input:
        h5=PRIMARY_CLEAN,
    output:
        stats="results/qc/qc_stats.json",
        png=report("results/qc/qc_stats.png", caption="../report/qc_stats.rst", category="2 QC"),
    params:
        percentiles=config["qc"]["percentiles"],
        statistic=config["qc"]["statistic"],
        n_windows=config["qc"]["n_sample_windows"],
        window=config["segment"]["window"],
        seed=config["seed"],
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    log:
        "logs/qc_stats.log",
    benchmark:
        "benchmarks/qc_stats.tsv"
    conda:
        f"{ENVS}/data.yaml"
    script:
        "../workflow_scripts/qc_stats.py"
