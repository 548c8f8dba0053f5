# Clean: raw WFDB -> notch, band-pass, baseline removal, resample, fixed lead order -> one HDF5.
# {dataset} is the main dataset (config `dataset`, a PTB-XL-shaped folder) or a `datasets:` entry,
# read by the adapter of its kind (ecgrecon/adapters).


rule clean:
    """Clean every raw record into results/clean/{dataset}.h5; bad records go to the quarantine list."""
    input:
        raw=clean_raw_input,
    output:
        h5="results/clean/{dataset}.h5",
        quarantine=report(
            "results/qc/quarantine_{dataset}.csv", caption="../report/clean_quarantine.rst", category="1 Clean"
        ),
    params:
        raw_dir=lambda w: dataset_spec(w.dataset)["raw_dir"],
        kind=lambda w: dataset_spec(w.dataset)["kind"],
        records=lambda w: dataset_spec(w.dataset)["records"],
        clean=canonical(config["clean"]),
        labels=canonical(config["labels"]),
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


rule pool_clean:
    """Pool the main dataset and the `pool:` datasets into one cleaned file (ids renumbered, folds kept)."""
    input:
        sources=lambda wildcards: [f"results/clean/{name}.h5" for name in [DATASET] + POOL],
    output:
        h5="results/pooled/clean.h5",
    params:
        names=[DATASET] + POOL,
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    log:
        "logs/pool_clean.log",
    benchmark:
        "benchmarks/pool_clean.tsv"
    conda:
        f"{ENVS}/data.yaml"
    script:
        "../workflow_scripts/pool_clean.py"
