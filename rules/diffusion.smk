# The diffusion prior (method `diffusion`, kind `generative`; ecgrecon.learn.diffusion): one prior of the 8 independent
# leads per run (train_prior, the official fold's train segments, early stop on its val split; no task is read), its
# unconditional samples through the realism measures (prior_realism), and per task listing `diffusion` posterior
# sampling with every configured sampler on a seeded subset of the test records (sample_diffusion: reads the prior, the
# data and the noise only) and its tables beside the task's other methods on the same windows (evaluate_diffusion:
# a changed decoder or map reruns the tables, not the sampling).


rule train_prior:
    """The diffusion prior on the official fold's train segments (early stop on val); resumable."""
    input:
        segments="results/segments/segments.h5",
        folds="results/folds/folds.json",
    output:
        model="results/prior/model.pt",
        log="results/prior/train_log.csv",
    params:
        prior=canonical(config["diffusion"]["prior"]),
        fold=PRIOR_FOLD,
        seed=config["seed"],
        device=config["device"],
    threads: 2
    resources:
        mem_mb=4000,
        runtime=120,
    log:
        "logs/train_prior.log",
    benchmark:
        "benchmarks/train_prior.tsv"
    conda:
        f"{ENVS}/torch.yaml"
    script:
        "../workflow_scripts/train_prior.py"


rule prior_realism:
    """Unconditional samples of the prior beside train windows, through the realism measures."""
    input:
        model="results/prior/model.pt",
        segments="results/segments/segments.h5",
        folds="results/folds/folds.json",
    output:
        csv="results/prior/realism.csv",
        md="results/prior/realism.md",
        png="results/prior/realism.png",
    params:
        realism=canonical(config["diffusion"]["realism"]),
        fold=PRIOR_FOLD,
        seed=config["seed"],
    threads: 2
    resources:
        mem_mb=4000,
        runtime=30,
    log:
        "logs/prior_realism.log",
    benchmark:
        "benchmarks/prior_realism.tsv"
    conda:
        f"{ENVS}/torch.yaml"
    script:
        "../workflow_scripts/prior_realism.py"


rule sample_diffusion:
    """K posterior samples per window of the task's observation, with every sampler (and noise level)."""
    input:
        unpack(diffusion_sample_inputs),
    output:
        samples="results/{task}/diffusion/samples.h5",
        cost="results/{task}/diffusion/cost.csv",
    params:
        task=task_params,
        noise=noise_params,
        diffusion=diffusion_sampling_cfg(),
        seed=config["seed"],
        device=config["device"],
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
    log:
        "logs/sample_diffusion/{task}.log",
    benchmark:
        "benchmarks/sample_diffusion/{task}.tsv"
    conda:
        f"{ENVS}/torch.yaml"
    script:
        "../workflow_scripts/sample_diffusion.py"


rule evaluate_diffusion:
    """The samplers' posterior means beside the task's other methods on the same windows (no resampling)."""
    input:
        unpack(diffusion_evaluate_inputs),
    output:
        csv=report(
            "results/{task}/diffusion/metrics.csv",
            caption="../report/diffusion_metrics.rst",
            category="5 Evaluation",
            subcategory="{task} tables",
        ),
        md="results/{task}/diffusion/metrics.md",
        morphology="results/{task}/diffusion/morphology.csv",
        png=report(
            "results/{task}/diffusion/samples.png",
            caption="../report/diffusion_samples.rst",
            category="5 Evaluation",
            subcategory="{task} figures",
        ),
    params:
        task=diffusion_task_params,
        noise=noise_params,
        clean=canonical(config["clean"]),
        plugins=PLUGINS,
        device=config["device"],
    threads: 2
    resources:
        mem_mb=4000,
        runtime=30,
    log:
        "logs/evaluate_diffusion/{task}.log",
    benchmark:
        "benchmarks/evaluate_diffusion/{task}.tsv"
    conda:
        f"{ENVS}/torch.yaml"
    script:
        "../workflow_scripts/evaluate_diffusion.py"
