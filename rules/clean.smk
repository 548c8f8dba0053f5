# Clean: raw WFDB -> notch, band-pass, baseline removal, resample, fixed lead order -> one HDF5.


rule clean:
    """Clean every raw record into results/clean/{dataset}.h5; bad records go to the quarantine list."""
    input:
        db=raw_database(),
    output:
        h5="results/clean/{dataset}.h5",
        quarantine="results/qc/quarantine_{dataset}.csv",
    params:
        raw_dir=lambda w, input: os.path.dirname(input.db),
        records=RECORDS_SUBDIR,
        clean=config["clean"],
        labels=config["labels"],
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
    log:
        "logs/clean_{dataset}.log",
    benchmark:
        "benchmarks/clean_{dataset}.tsv"
    conda:
        f"{ENVS}/data.yaml"
    script:
        "../workflow_scripts/clean.py"
