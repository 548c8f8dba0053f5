# Contrastive encoder: 1-D CNN on an input-lead set, supervised contrastive loss, class-balanced batches.
# One encoder per input-lead set ({inputs}, e.g. I-II-V2), shared by every task with those inputs; the authors'
# ResNet encoder of the same set (methods of design `paper`, ecgrecon/learn/paper.py) beside it in {inputs}/paper/.


rule train_encoder:
    """Train the encoder of one input-lead set on the official train split, early-stopped on its validation split."""
    input:
        segments="results/segments/segments.h5",
        folds="results/folds/folds.json",
    output:
        model="results/encoders/{inputs}/encoder.pt",
        log_csv=report("results/encoders/{inputs}/train_log.csv", caption="../report/encoder_train_log.rst",
                       category="3 Encoder", subcategory="{inputs}"),
        curve=report("results/encoders/{inputs}/loss_curve.png", caption="../report/encoder_loss_curve.rst",
                     category="3 Encoder", subcategory="{inputs}"),
    params:
        encoder=canonical({k: config["encoder"][k] for k in ENCODER_KEYS}),
        inputs=lambda wildcards: INPUT_SETS[wildcards.inputs],
        level=config["labels"]["level"],
        seed=config["seed"],
        device=config["device"],
        design="ours",
    threads: 4
    priority: 10  # on the critical path (encoder -> reps -> Ch decoders): start it before the C decoders
    resources:
        mem_mb=4000,
        runtime=120,
    log:
        "logs/train_encoder/{inputs}.log",
    benchmark:
        "benchmarks/train_encoder/{inputs}.tsv"
    conda:
        f"{ENVS}/torch.yaml"
    script:
        "../workflow_scripts/train_encoder.py"


use rule train_encoder as train_encoder_paper with:
    output:
        model="results/encoders/{inputs}/paper/encoder.pt",
        log_csv=report("results/encoders/{inputs}/paper/train_log.csv", caption="../report/encoder_train_log.rst",
                       category="3 Encoder", subcategory="{inputs} (authors' design)"),
        curve=report("results/encoders/{inputs}/paper/loss_curve.png", caption="../report/encoder_loss_curve.rst",
                     category="3 Encoder", subcategory="{inputs} (authors' design)"),
    params:
        encoder=canonical(config["encoder_paper"]),
        inputs=lambda wildcards: INPUT_SETS[wildcards.inputs],
        level=config["encoder_paper"]["label_level"],
        seed=config["seed"],
        device=config["device"],
        design="paper",
    log:
        "logs/train_encoder/{inputs}_paper.log",
    benchmark:
        "benchmarks/train_encoder/{inputs}_paper.tsv"


use rule train_encoder as train_encoder_pt with:
    input:
        segments="results/segments/segments.h5",
        folds="results/folds/folds.json",
        init=lambda wildcards: f"{PT_RUN}/results/encoders/{wildcards.inputs}/encoder.pt",
    output:
        model="results/encoders/{inputs}/pretrained/encoder.pt",
        log_csv=report("results/encoders/{inputs}/pretrained/train_log.csv", caption="../report/encoder_train_log.rst",
                       category="3 Encoder", subcategory="{inputs} (pre-trained, fine-tuned)"),
        curve=report("results/encoders/{inputs}/pretrained/loss_curve.png", caption="../report/encoder_loss_curve.rst",
                     category="3 Encoder", subcategory="{inputs} (pre-trained, fine-tuned)"),
    params:
        encoder=canonical(finetune_cfg({k: config["encoder"][k] for k in ENCODER_KEYS})),
        inputs=lambda wildcards: INPUT_SETS[wildcards.inputs],
        level=config["labels"]["level"],
        seed=config["seed"],
        device=config["device"],
        design="ours",
    log:
        "logs/train_encoder/{inputs}_pretrained.log",
    benchmark:
        "benchmarks/train_encoder/{inputs}_pretrained.tsv"
