# Printouts (ecgrecon.printout, ecgrecon.evaluation.printout_report; docs/printout.md): a seeded subset of the official
# fold's cleaned test records rendered as paper pages (printout.layout at printout.dpi) at each distortion level
# (render_printouts: the images, their manifest and the renderer's truth), read back by the classical digitiser and
# scored against what was drawn (digitize_printouts: digitized.h5, the metrics and r-threshold tables, an example
# figure), then completed to 12 leads x 10 s from the lead-II rhythm strip (complete_printouts: GL fitted on the official
# fold's train segments, per-patient PPM on each lead's window; printout.completion). The seed drives the subset and
# every distortion; changing printout.levels re-renders, nothing upstream; printout.completion reruns the completion only.


rule render_printouts:
    """Render each chosen test record at each distortion level: images/{level}/{ecg_id}.png, manifest, truth."""
    input:
        clean=PRIMARY_CLEAN,
        folds="results/folds/folds.json",
    output:
        images=report(
            directory("results/printout/images"),
            patterns=["{level}/{ecg_id}.png"],
            caption="../report/printout_images.rst",
            category="7 Printouts",
            subcategory="rendered pages",
        ),
        manifest=report(
            "results/printout/images.csv",
            caption="../report/printout_images.rst",
            category="7 Printouts",
            subcategory="rendered pages",
        ),
        truth="results/printout/truth.h5",
    params:
        printout=printout_params(),
        seed=config["seed"],
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    log:
        "logs/render_printouts.log",
    benchmark:
        "benchmarks/render_printouts.tsv"
    conda:
        f"{ENVS}/torch.yaml"  # the seeds come from ecgrecon.learn.device.derive_seed (a torch module)
    script:
        "../workflow_scripts/render_printouts.py"


rule digitize_printouts:
    """The classical digitiser on every image: signals, per-level and per-lead scores (failures counted), example figure."""
    input:
        images="results/printout/images",
        manifest="results/printout/images.csv",
        truth="results/printout/truth.h5",
    output:
        h5="results/printout/digitized.h5",
        csv=report(
            "results/printout/metrics.csv",
            caption="../report/printout_metrics.rst",
            category="7 Printouts",
            subcategory="digitiser",
        ),
        md="results/printout/metrics.md",
        thresholds=report(
            "results/printout/r_thresholds.csv",
            caption="../report/printout_metrics.rst",
            category="7 Printouts",
            subcategory="digitiser",
        ),
        png=report(
            "results/printout/example.png",
            caption="../report/printout_example.rst",
            category="7 Printouts",
            subcategory="digitiser",
        ),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    log:
        "logs/digitize_printouts.log",
    benchmark:
        "benchmarks/digitize_printouts.tsv"
    conda:
        f"{ENVS}/torch.yaml"
    script:
        "../workflow_scripts/digitize_printouts.py"


rule complete_printouts:
    """Digitised partial records -> 12 leads x 10 s (visible, GL, PPM): the GL II->11 map (official fold's train
    segments, alpha on val), the completed records, per level x method x region x lead scores, an example figure."""
    input:
        digitized="results/printout/digitized.h5",
        truth="results/printout/truth.h5",
        segments="results/segments/segments.h5",
        folds="results/folds/folds.json",
    output:
        gl="results/printout/completion_gl.json",
        h5="results/printout/completion.h5",
        csv=report(
            "results/printout/completion_metrics.csv",
            caption="../report/printout_completion.rst",
            category="7 Printouts",
            subcategory="completion",
        ),
        md="results/printout/completion_metrics.md",
        png=report(
            "results/printout/completion_example.png",
            caption="../report/printout_completion.rst",
            category="7 Printouts",
            subcategory="completion",
        ),
    params:
        completion=canonical(config["printout"]["completion"]),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    log:
        "logs/complete_printouts.log",
    benchmark:
        "benchmarks/complete_printouts.tsv"
    conda:
        f"{ENVS}/torch.yaml"  # ecgrecon.learn.linear imports torch
    script:
        "../workflow_scripts/complete_printouts.py"
