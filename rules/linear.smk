# Population linear methods (kind `linear` in the registry: GL): one least-squares / ridge map per
# {task}/{fold}/{method} from the task's input leads (mV, +-context samples) to every target lead,
# alpha chosen on the fold's val split. Per-patient calibration (kind `calibrated`: PCM) on top of GL.


rule fit_linear:
    """Fit a linear map on the fold's train segments; the ridge alpha per lead is chosen on its val split."""
    input:
        unpack(linear_inputs),
    output:
        model="results/{task}/linear/{fold}/{method}.json",
    wildcard_constraints:
        method=_alternatives(methods_of_kind("linear")),
    params:
        gl=linear_cfg,
        inputs=lambda wildcards: list(task_of(wildcards).inputs),
        targets=lambda wildcards: list(task_of(wildcards).targets),
        noise=noise_params,
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    log:
        "logs/fit_linear/{task}/{fold}_{method}.log",
    benchmark:
        "benchmarks/fit_linear/{task}/{fold}_{method}.tsv"
    conda:
        f"{ENVS}/torch.yaml"  # ecgrecon.learn.linear imports torch (its torch twin GLAnchor); data.yaml has none
    script:
        "../workflow_scripts/fit_linear.py"


rule calibrate_pcm:
    """PCM (per-patient map from 2 s of a true 12-lead ECG) vs GL on the test split; reported separately."""
    input:
        clean=PRIMARY_CLEAN,
        segments="results/segments/segments.h5",
        folds="results/folds/folds.json",
        gl=f"results/{{task}}/linear/{PCM_FOLD}/GL.json",
    output:
        predictions=f"results/{{task}}/pcm/{PCM_FOLD}/pcm.h5",
        summary=f"results/{{task}}/pcm/{PCM_FOLD}/pcm.json",
        csv=report(
            "results/{task}/tables/pcm_metrics.csv",
            caption="../report/pcm_metrics.rst",
            category="5 Evaluation",
            subcategory="{task} tables",
        ),
        md="results/{task}/tables/pcm_metrics.md",
    params:
        fold=PCM_FOLD,
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    log:
        "logs/calibrate_pcm/{task}.log",
    benchmark:
        "benchmarks/calibrate_pcm/{task}.tsv"
    conda:
        f"{ENVS}/torch.yaml"  # ecgrecon.learn.calibration imports ecgrecon.learn.linear (torch)
    script:
        "../workflow_scripts/calibrate_pcm.py"
