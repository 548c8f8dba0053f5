# Helpers of the learning rules (encoder, reps, decoders, evaluate); include before those files.

ENCODER_KEYS = [k for k in config["encoder"] if k != "tile_reps"]  # tile_reps only affects reps.h5
DECODER_KEYS = [k for k in config["decoder"] if k not in ("variants", "folds", "evaluation")]
N_DECODER_JOBS = len(config["decoder"]["variants"]) * len(config["decoder"]["folds"]) * len(config["leads"]["targets"])
DECODER_PATTERN = "results/decoders/{variant}/{fold}/{lead}.pt"
GL_PATTERN = "results/linear/{fold}/gl.json"  # rule fit_gl (rules/linear.smk)
PCM_FOLD = "official"  # PCM (rule calibrate_pcm) is reported on the official split only
PCM_TABLES = ["results/tables/pcm_metrics.csv", "results/tables/pcm_metrics.md"]
EVAL_TABLES = {
    "segment_csv": "results/tables/segment_metrics.csv",
    "segment_md": "results/tables/segment_metrics.md",
    "record_csv": "results/tables/record_metrics.csv",
    "record_md": "results/tables/record_metrics.md",
    "class_csv": "results/tables/class_metrics.csv",
    "latent_csv": "results/tables/latent_affinity.csv",
    "morph_csv": "results/tables/morphology_metrics.csv",
}
EVAL_FIGURES = {
    "fig_affinity_x": "results/figures/latent_affinity_x.png",
    "fig_affinity_h": "results/figures/latent_affinity_h.png",
    "fig_radar": "results/figures/class_radar.png",
    "fig_qualitative": "results/figures/qualitative.png",
    "fig_bland_altman": "results/figures/bland_altman_V4.png",
}

EVAL_CAPTIONS = {  # evaluate output -> report/<caption>.rst; .md tables and predictions stay out of the report
    "segment_csv": "segment_metrics",
    "record_csv": "record_metrics",
    "class_csv": "class_metrics",
    "latent_csv": "latent_affinity",
    "fig_affinity_x": "latent_affinity_fig",
    "fig_affinity_h": "latent_affinity_fig",
    "fig_radar": "class_radar",
    "fig_qualitative": "qualitative",
    "morph_csv": "morphology_metrics",
    "fig_bland_altman": "bland_altman",
}


def eval_outputs():
    """Outputs of the evaluate rule, tables and figures flagged for the report (stage 5)."""
    out = {}
    for name, path in {**EVAL_TABLES, **EVAL_FIGURES}.items():
        if name in EVAL_CAPTIONS:
            kind = "Tables" if path.endswith(".csv") else "Figures"
            path = report(path, caption=f"../report/{EVAL_CAPTIONS[name]}.rst", category="5 Evaluation", subcategory=kind)
        out[name] = path
    return out


def decoder_inputs(wildcards):
    """Signal-only (C) decoders never depend on the encoder; Ch and ChA read reps.h5, ChA also its GL map."""
    inputs = {"segments": "results/segments/segments.h5", "folds": "results/folds/folds.json"}
    if wildcards.variant in ("Ch", "ChA"):
        inputs["reps"] = "results/reps/reps.h5"
    if wildcards.variant == "ChA":
        inputs["gl"] = GL_PATTERN.format(fold=wildcards.fold)
    return inputs


def decoder_threads(wildcards):
    """Share the cores among the decoder jobs (1 thread each on 2 cores), at most 4 per job."""
    cores = workflow.cores if isinstance(workflow.cores, int) else 1
    return max(1, min(4, cores // max(1, N_DECODER_JOBS)))


def decoder_checkpoints():
    return expand(DECODER_PATTERN, variant=config["decoder"]["variants"], fold=config["decoder"]["folds"],
                  lead=config["leads"]["targets"])


def gl_models():
    """The GL baseline of every evaluated fold (reported beside C and C-h)."""
    return expand(GL_PATTERN, fold=config["decoder"]["folds"])


def learning_targets():
    """Final outputs of the learning stages (for rule all)."""
    return ["results/encoder/encoder.pt", *gl_models(), "results/predictions/predictions.h5", *EVAL_TABLES.values(),
            *PCM_TABLES, *EVAL_FIGURES.values()]


# Cross-dataset evaluation (rules/cross.smk)
CROSS = "results/cross/{dataset}"
CROSS_PATTERN = "|".join(map(re.escape, CROSS_DATASETS)) if CROSS_DATASETS else "(?!)"  # the cross datasets only


def cross_outputs():
    """Outputs of cross_evaluate: the evaluate rule's tables and figures under results/cross/{dataset}/."""
    out = {"predictions": f"{CROSS}/predictions.h5"}
    for name, path in {**EVAL_TABLES, **EVAL_FIGURES}.items():
        sub = "tables" if path.startswith("results/tables/") else "figures"
        out[name] = f"{CROSS}/{sub}/{os.path.basename(path)}"
    for name in ("segment_csv", "record_csv"):
        out[name] = report(out[name], caption="../report/cross_metrics.rst", category="6 Cross-dataset",
                           subcategory="{dataset}")
    return out


CROSS_TARGETS = [f"results/cross/{d}/tables/{t}" for d in CROSS_DATASETS
                 for t in ("segment_metrics.csv", "segment_metrics.md", "record_metrics.csv", "record_metrics.md")]
