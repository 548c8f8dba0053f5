# Contrastive encoder: 1-D CNN on the input leads, supervised contrastive loss, class-balanced batches.


rule train_encoder:
    """Train the encoder on the official train split, early-stopped on its validation split."""
    input:
        segments="results/segments/segments.h5",
        folds="results/folds/folds.json",
    output:
        model="results/encoder/encoder.pt",
        log_csv=report("results/encoder/train_log.csv", caption="../report/encoder_train_log.rst", category="3 Encoder"),
        curve=report("results/encoder/loss_curve.png", caption="../report/encoder_loss_curve.rst", category="3 Encoder"),
    params:
        encoder=canonical({k: config["encoder"][k] for k in ENCODER_KEYS}),
        inputs=config["leads"]["inputs"],
        level=config["labels"]["level"],
        seed=config["seed"],
        device=config["device"],
    threads: 4
    priority: 10  # on the critical path (encoder -> reps -> Ch decoders): start it before the C decoders
    resources:
        mem_mb=4000,
        runtime=120,
    log:
        "logs/train_encoder.log",
    benchmark:
        "benchmarks/train_encoder.tsv"
    conda:
        f"{ENVS}/torch.yaml"
    script:
        "../workflow_scripts/train_encoder.py"
