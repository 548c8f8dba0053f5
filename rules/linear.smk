# Population linear baseline GL (ecgrecon.linear): one least-squares / ridge map per fold from the
# input leads (mV, +-gl.context samples) to every target lead; alpha chosen on the fold's val split.


rule fit_gl:
    """Fit GL on the fold's train segments; the ridge alpha per lead is chosen on its val split."""
    input:
        segments="results/segments/segments.h5",
        folds="results/folds/folds.json",
    output:
        model="results/linear/{fold}/gl.json",
    wildcard_constraints:
        fold=r"official|cv\d+",
    params:
        gl=canonical(config["gl"]),
        inputs=config["leads"]["inputs"],
        targets=config["leads"]["targets"],
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    log:
        "logs/fit_gl/{fold}.log",
    benchmark:
        "benchmarks/fit_gl/{fold}.tsv"
    conda:
        f"{ENVS}/torch.yaml"  # ecgrecon.linear imports torch (its torch twin GLAnchor); data.yaml has none
    script:
        "../workflow_scripts/fit_gl.py"


rule calibrate_pcm:
    """PCM (per-patient map from 2 s of a true 12-lead ECG) vs GL on the test split; reported separately."""
    input:
        clean=PRIMARY_CLEAN,
        segments="results/segments/segments.h5",
        folds="results/folds/folds.json",
        gl=GL_PATTERN.format(fold=PCM_FOLD),
    output:
        predictions=f"results/pcm/{PCM_FOLD}/pcm.h5",
        summary=f"results/pcm/{PCM_FOLD}/pcm.json",
        csv=report(
            "results/tables/pcm_metrics.csv",
            caption="../report/pcm_metrics.rst",
            category="5 Evaluation",
            subcategory="Tables",
        ),
        md="results/tables/pcm_metrics.md",
    params:
        fold=PCM_FOLD,
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    log:
        "logs/calibrate_pcm.log",
    benchmark:
        "benchmarks/calibrate_pcm.tsv"
    conda:
        f"{ENVS}/torch.yaml"  # ecgrecon.calibration imports ecgrecon.linear (torch)
    script:
        "../workflow_scripts/calibrate_pcm.py"
