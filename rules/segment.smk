# QC pass 2: cut windows, keep those inside the QC bounds, plus record-level windows.


rule segment:
    """Cut window/hop segments that pass QC; write segments, aligned metadata and the QC report."""
    input:
        h5=PRIMARY_CLEAN,
        stats="results/qc/qc_stats.json",
    output:
        h5="results/segments/segments.h5",
        report=report("results/qc/qc_report.csv", caption="../report/qc_report.rst", category="2 QC"),
    params:
        window=config["segment"]["window"],
        hop=config["segment"]["hop"],
        statistic=config["qc"]["statistic"],
        max_bad_leads=config["qc"]["max_bad_leads"],
    threads: 1
    resources:
        mem_mb=8000,
        runtime=30,
    log:
        "logs/segment.log",
    benchmark:
        "benchmarks/segment.tsv"
    conda:
        f"{ENVS}/data.yaml"
    script:
        "../workflow_scripts/segment.py"
