# Noise tasks (corruption: noise; ecgrecon.noise): the noise bank of each kind (NSTDB, or synthetic where no NSTDB is
# available), split in time into train / val / test parts; the evaluation of a noise task at every level; one summary
# over the noise tasks. A noise task's methods are fitted by the usual rules (fit_linear, train_decoder) on noisy inputs.


rule download_nstdb:
    """Download NSTDB's bw, ma and em records from PhysioNet and verify them against its SHA256SUMS."""
    output:
        [os.path.join(NOISE_CFG["download_dir"], f"{k}.{ext}") for k in ("bw", "em", "ma") for ext in ("hea", "dat")],
    params:
        url=NOISE_CFG["download_url"],
        out_dir=lambda wildcards, output: os.path.dirname(output[0]),
    threads: 2
    resources:
        mem_mb=1000,
        runtime=30,
    log:
        "logs/download_nstdb.log",
    benchmark:
        "benchmarks/download_nstdb.tsv"
    conda:
        f"{ENVS}/data.yaml"
    script:
        "../workflow_scripts/download_nstdb.py"


rule noise_bank:
    """Noise of one kind at the task rate, split in time (noise.split) into train / val / test parts."""
    input:
        noise_bank_inputs,
    output:
        h5="results/noise/bank_{kind}.h5",
    wildcard_constraints:
        kind="bw|em|ma",
    params:
        source=NOISE_SOURCE[0],
        folder=NOISE_SOURCE[1],
        split=NOISE_CFG["split"],
        fs=config["clean"]["fs"],
        seed=config["seed"],
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    log:
        "logs/noise_bank/{kind}.log",
    benchmark:
        "benchmarks/noise_bank/{kind}.tsv"
    conda:
        f"{ENVS}/data.yaml"
    script:
        "../workflow_scripts/noise_bank.py"


rule evaluate_noise:
    """A noise task's methods (noise-trained) and its clean_models task's (clean-trained) on the noisy test inputs."""
    input:
        unpack(noise_evaluate_inputs),
    output:
        csv=report("results/{task}/noise/metrics.csv", caption="../report/noise_metrics.rst", category="6 Noise",
                   subcategory="{task}"),
        md="results/{task}/noise/metrics.md",
        morph_csv="results/{task}/noise/morphology.csv",
        assignment="results/{task}/noise/assignment.h5",
        fig_rmse=report("results/{task}/noise/rmse_vs_snr.png", caption="../report/noise_rmse.rst", category="6 Noise",
                        subcategory="{task}"),
        fig_examples=report("results/{task}/noise/examples.png", caption="../report/noise_examples.rst", category="6 Noise",
                            subcategory="{task}"),
    params:
        task=noise_task_params,
        noise=noise_params,
        clean=canonical(config["clean"]),
        plugins=PLUGINS,
        device=config["device"],
    threads: 2
    resources:
        mem_mb=4000,
        runtime=30,
    log:
        "logs/evaluate_noise/{task}.log",
    benchmark:
        "benchmarks/evaluate_noise/{task}.tsv"
    conda:
        f"{ENVS}/torch.yaml"
    script:
        "../workflow_scripts/evaluate_noise.py"


rule noise_summary:
    """Every noise task's mean RMSE per level in one table, and RMSE against input SNR per method and noise kind."""
    input:
        [f"results/{name}/noise/metrics.csv" for name, t in TASKS.items() if t.noise is not None],
    output:
        csv="results/noise/summary.csv",
        md="results/noise/summary.md",
        fig=report("results/noise/rmse_vs_snr.png", caption="../report/noise_rmse.rst", category="6 Noise",
                   subcategory="summary"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    log:
        "logs/noise_summary.log",
    benchmark:
        "benchmarks/noise_summary.tsv"
    conda:
        f"{ENVS}/data.yaml"
    script:
        "../workflow_scripts/noise_summary.py"
