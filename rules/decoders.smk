# Lead decoders (methods of kind `decoder` in the registry: C, Ch, ChA; the authors' Cpaper, Chpaper): one job
# per {task}/{method}/{fold}/{lead}, with the settings of the method's design (config `decoder` or
# `decoder_paper`; DN: `decoder_denoise`). A noise task's decoders train on noisy inputs (the bank's train / val parts). C never depends on an encoder; Ch, ChA (Chpaper) read the reps.h5 of our (the authors') encoder;
# ChA also the fold's GL map (its anchor). Params carry only decoder settings and the task's inputs,
# so e.g. an encoder change reruns Ch, not C, and another task's change reruns nothing here.


rule train_decoder:
    """Train one decoder; early stopping on the fold's validation split; resumes a killed run."""
    input:
        unpack(decoder_inputs),
    output:
        model="results/{task}/decoders/{method}/{fold}/{lead}.pt",
        curve=report(
            "results/{task}/decoders/{method}/{fold}/{lead}_val.csv",
            caption="../report/decoder_val.rst",
            category="4 Decoders",
            subcategory="{task} {method} {fold}",
            labels={"task": "{task}", "method": "{method}", "fold": "{fold}", "lead": "{lead}"},
        ),
    wildcard_constraints:
        method=_alternatives(methods_of_kind("decoder")),
    params:
        decoder=decoder_cfg,
        inputs=lambda wildcards: method_of(wildcards).input_leads(task_of(wildcards).inputs, wildcards.lead),
        noise=noise_params,
        seed=config["seed"],
        device=config["device"],
    threads: decoder_threads
    resources:
        mem_mb=4000,
        runtime=120,
    log:
        "logs/train_decoder/{task}/{method}_{fold}_{lead}.log",
    benchmark:
        "benchmarks/train_decoder/{task}/{method}_{fold}_{lead}.tsv"
    conda:
        f"{ENVS}/torch.yaml"
    script:
        "../workflow_scripts/train_decoder.py"
