# Lead decoders: one job per (variant, fold, lead). C = signal only (never depends on the encoder),
# Ch = signal + h, ChA = the fold's GL prediction + a Ch decoder of the residual (starts as GL). Params carry only decoder settings, so e.g. an encoder change reruns Ch, not C.


rule train_decoder:
    """Train one decoder; early stopping on the fold's validation split; resumes a killed run."""
    input:
        unpack(decoder_inputs),
    output:
        model="results/decoders/{variant}/{fold}/{lead}.pt",
        curve=report(
            "results/decoders/{variant}/{fold}/{lead}_val.csv",
            caption="../report/decoder_val.rst",
            category="4 Decoders",
            subcategory="{variant} {fold}",
            labels={"variant": "{variant}", "fold": "{fold}", "lead": "{lead}"},
        ),
    wildcard_constraints:
        variant="C|Ch|ChA",
        fold=r"official|cv\d+",
        lead="|".join(["I", "II", "III", "AVR", "AVL", "AVF", "V1", "V2", "V3", "V4", "V5", "V6"]),
    params:
        decoder=canonical({k: config["decoder"][k] for k in DECODER_KEYS}),
        inputs=config["leads"]["inputs"],
        seed=config["seed"],
        device=config["device"],
    threads: decoder_threads
    resources:
        mem_mb=4000,
        runtime=120,
    log:
        "logs/train_decoder/{variant}_{fold}_{lead}.log",
    benchmark:
        "benchmarks/train_decoder/{variant}_{fold}_{lead}.tsv"
    conda:
        f"{ENVS}/torch.yaml"
    script:
        "../workflow_scripts/train_decoder.py"
