# Raw PTB-XL-shaped data: the synthetic cohort (default) or PhysioNet's PTB-XL (download).


rule calibrate_leadfield:
    """Fit the cohort's lead-field model to the real records' inter-lead structure (synth.leadfield: calibrated)."""
    output:
        model="results/calibration/leadfield_calibrated.json",
    params:
        data=repo_path(config["synth"]["calibration"]["data"]),
        calibration=canonical({k: v for k, v in config["synth"]["calibration"].items() if k != "data"}),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    log:
        "logs/calibrate_leadfield.log",
    benchmark:
        "benchmarks/calibrate_leadfield.tsv"
    conda:
        f"{ENVS}/data.yaml"
    script:
        "../workflow_scripts/calibrate_leadfield.py"


rule synthesize:
    """Generate the synthetic PTB-XL-shaped cohort (dipole x patient lead field + pathology + noise)."""
    input:
        **({"leadfield": "results/calibration/leadfield_calibrated.json"} if config["synth"]["leadfield"] == "calibrated" else {}),
    output:
        db="results/raw/synthetic/ptbxl_database.csv",
        scp="results/raw/synthetic/scp_statements.csv",
        truth="results/raw/synthetic/ground_truth.h5",
        records=directory("results/raw/synthetic/records100"),
    params:
        synth=canonical({k: v for k, v in config["synth"].items() if k != "calibration"}),
        seed=config["seed"],
    threads: 2
    resources:
        mem_mb=2000,
        runtime=30,
    log:
        "logs/synthesize.log",
    benchmark:
        "benchmarks/synthesize.tsv"
    conda:
        f"{ENVS}/data.yaml"
    script:
        "../workflow_scripts/synthesize.py"


rule download_ptbxl:
    """Download PTB-XL from PhysioNet and verify every file against its SHA256SUMS."""
    output:
        db=os.path.join(config["data"]["download_dir"], "ptbxl_database.csv"),
        scp=os.path.join(config["data"]["download_dir"], "scp_statements.csv"),
        records=directory(os.path.join(config["data"]["download_dir"], RECORDS_SUBDIR)),
    params:
        url=config["data"]["download_url"],
        records=RECORDS_SUBDIR,
    threads: 4
    resources:
        mem_mb=1000,
        runtime=240,
    log:
        "logs/download_ptbxl.log",
    benchmark:
        "benchmarks/download_ptbxl.tsv"
    conda:
        f"{ENVS}/data.yaml"
    script:
        "../workflow_scripts/download_ptbxl.py"
