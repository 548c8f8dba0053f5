# ecg-recon: reconstruct V1, V3-V6 from I, II, V2. Read the DAG from rules/ (one file per stage).
from snakemake.utils import min_version, validate

min_version("9.0")


report: "report/workflow.rst"


configfile: os.path.join(workflow.basedir, "config.yaml")


validate(config, os.path.join(workflow.basedir, "schemas/config.schema.yaml"))


include: "rules/common.smk"
include: "rules/raw.smk"
include: "rules/clean.smk"
include: "rules/qc.smk"
include: "rules/segment.smk"
include: "rules/folds.smk"
include: "rules/learning_common.smk"
include: "rules/encoder.smk"
include: "rules/reps.smk"
include: "rules/decoders.smk"
include: "rules/linear.smk"
include: "rules/evaluate.smk"
include: "rules/diagnostic.smk"
include: "rules/export.smk"
include: "rules/cross.smk"


rule all:
    input:
        all_targets(),
    default_target: True
