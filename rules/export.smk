# Model export (exportable methods of the registry): per task and method one file holding the encoder
# (methods that read h), the decoders of every target lead of the official fold, lead names, fs,
# window/hop, cleaning settings, h statistics, config hash and the validation/test metrics, for
# `ecgrecon reconstruct`; plus a JSON model card beside it. The task's population linear map GL of
# the same fold goes in too, so that `ecgrecon evaluate` scores the model beside GL on a user's records.


rule export_model:
    """Pack one method's trained models, settings, metrics and the task's GL map into results/{task}/model/ecgrecon-{method}.pt."""
    input:
        unpack(export_inputs),
    output:
        bundle="results/{task}/model/ecgrecon-{method}.pt",
        card="results/{task}/model/ecgrecon-{method}.json",
    wildcard_constraints:
        method=_alternatives([m for m in methods_of_kind("decoder") if registry.get(m).exportable]),
    params:
        fold=EXPORT_FOLD,
        inputs=lambda wildcards: list(task_of(wildcards).inputs),
        targets=lambda wildcards: list(task_of(wildcards).targets),
        clean=canonical(config["clean"]),
        window=config["segment"]["window"],
        hop=config["segment"]["hop"],
        tile_reps=config["encoder"]["tile_reps"],
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    log:
        "logs/export_model/{task}/{method}.log",
    benchmark:
        "benchmarks/export_model/{task}/{method}.tsv"
    conda:
        f"{ENVS}/torch.yaml"
    script:
        "../workflow_scripts/export_model.py"
