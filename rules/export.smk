# Model export: per decoder variant one file holding the encoder (Ch), the decoders of every target
# lead of the official fold, lead names, fs, window/hop, cleaning settings, h statistics, config hash
# and the validation/test metrics, for `ecgrecon reconstruct`; plus a JSON model card beside it.
import sys

sys.path.insert(0, workflow.basedir)  # this checkout's ecgrecon package (config hash as the bundle records it)
from ecgrecon.provenance import config_hash

EXPORT_FOLD = "official"
EXPORT_TARGETS = expand("results/model/ecgrecon-{variant}.{ext}", variant=config["decoder"]["variants"],
                        ext=["pt", "json"])  # bundles + model cards of every configured variant (for rule all)


rule export_model:
    """Pack one variant's trained models, settings and metrics into results/model/ecgrecon-{variant}.pt."""
    input:
        decoders=expand(DECODER_PATTERN, fold=EXPORT_FOLD, lead=config["leads"]["targets"], allow_missing=True),
        curves=expand("results/decoders/{variant}/{fold}/{lead}_val.csv", fold=EXPORT_FOLD,
                      lead=config["leads"]["targets"], allow_missing=True),
        segment_csv=EVAL_TABLES["segment_csv"],
        record_csv=EVAL_TABLES["record_csv"],
        encoder=lambda wildcards: "results/encoder/encoder.pt" if wildcards.variant != "C" else [],  # C: no h
        reps=lambda wildcards: "results/reps/reps.h5" if wildcards.variant != "C" else [],
    output:
        bundle="results/model/ecgrecon-{variant}.pt",
        card="results/model/ecgrecon-{variant}.json",
    wildcard_constraints:
        variant="C|Ch|ChA",
    params:
        fold=EXPORT_FOLD,
        pattern=lambda wildcards: DECODER_PATTERN,
        inputs=config["leads"]["inputs"],
        targets=config["leads"]["targets"],
        clean=canonical(config["clean"]),
        window=config["segment"]["window"],
        hop=config["segment"]["hop"],
        tile_reps=config["encoder"]["tile_reps"],
        config_sha256=config_hash(config),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    log:
        "logs/export_model/{variant}.log",
    benchmark:
        "benchmarks/export_model/{variant}.tsv"
    conda:
        f"{ENVS}/torch.yaml"
    script:
        "../workflow_scripts/export_model.py"
