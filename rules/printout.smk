# Printouts (ecgrecon.printout, ecgrecon.evaluation.printout_report; docs/printout.md): a seeded subset of the official
# fold's cleaned test records rendered as paper pages (printout.layout at printout.dpi) at each distortion level
# (render_printouts: the images, their manifest and the renderer's truth), read back by the classical digitiser and
# scored against what was drawn (digitize_printouts: digitized.h5, the metrics and r-threshold tables, an example
# figure), then completed to 12 leads x 10 s from the lead-II rhythm strip (complete_printouts: GL fitted on the official
# fold's train segments, per-patient PPM on each lead's window, and the diffusion prior's posterior when the run trains
# it; printout.completion). The seed drives the subset and every distortion; changing printout.levels re-renders,
# nothing upstream; printout.completion (its diffusion sampler included) reruns the completion only.


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
    """Digitised partial records -> 12 leads x 10 s (visible, GL, PPM; diffusion when the run trains the prior): the GL
    II->11 map (official fold's train segments, alpha on val), the completed records, per level x method x region x
    lead scores, an example figure."""
    input:
        unpack(completion_inputs),
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
        seed=config["seed"],
        device=config["device"],
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


# The learned single-lead digitiser (printout.learned; ecgrecon.evaluation.printout_learned): the source's protocol, 10 s
# of lead I as one strip image at printout.learned.image_size, distorted at every printout.levels level (seeded per record
# and level). train_digitizer trains on the official fold's train records, early-stopped on its val records (never the
# test fold; resumable: digitizer.resume.pt beside the model); evaluate_digitizer reads render_printouts' test records'
# strips with it and with the classical single-lead digitiser, the same images for both, scored alike.


rule train_digitizer:
    """LeadImageDigitizer (ResNet-18 trunk, transformer bridge, 1-D transposed-conv decoder) on rendered train-fold strips."""
    input:
        clean=PRIMARY_CLEAN,
        folds="results/folds/folds.json",
    output:
        pt="results/printout/learned/digitizer.pt",
        csv="results/printout/learned/train_log.csv",
        png=report(
            "results/printout/learned/loss_curve.png",
            caption="../report/printout_learned.rst",
            category="7 Printouts",
            subcategory="learned digitiser",
        ),
    params:
        learned=canonical({k: v for k, v in config["printout"]["learned"].items() if k != "enabled"}),
        levels=config["printout"]["levels"],
        seed=config["seed"],
        device=config["device"],
    threads: 2
    resources:
        mem_mb=4000,
        runtime=120,
    log:
        "logs/train_digitizer.log",
    benchmark:
        "benchmarks/train_digitizer.tsv"
    conda:
        f"{ENVS}/torch.yaml"
    script:
        "../workflow_scripts/train_digitizer.py"


rule evaluate_digitizer:
    """Learned vs classical digitiser on the same single-lead test strips: predictions, per-level scores, r table, figure."""
    input:
        model="results/printout/learned/digitizer.pt",
        truth="results/printout/truth.h5",
    output:
        h5="results/printout/learned/predictions.h5",
        csv=report(
            "results/printout/learned/metrics.csv",
            caption="../report/printout_learned.rst",
            category="7 Printouts",
            subcategory="learned digitiser",
        ),
        md="results/printout/learned/metrics.md",
        thresholds="results/printout/learned/r_thresholds.csv",
        png=report(
            "results/printout/learned/example.png",
            caption="../report/printout_learned.rst",
            category="7 Printouts",
            subcategory="learned digitiser",
        ),
    params:
        levels=config["printout"]["levels"],
        seed=config["seed"],
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    log:
        "logs/evaluate_digitizer.log",
    benchmark:
        "benchmarks/evaluate_digitizer.tsv"
    conda:
        f"{ENVS}/torch.yaml"
    script:
        "../workflow_scripts/evaluate_digitizer.py"
