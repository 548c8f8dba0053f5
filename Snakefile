# ecg-recon: reconstruct missing ECG leads, one task axis x one method axis. Read the DAG from rules/ (one file per stage).
from snakemake.utils import min_version, validate

min_version("9.0")


report: "report/workflow.rst"


configfile: os.path.join(workflow.basedir, "config.yaml")


validate(config, os.path.join(workflow.basedir, "schemas/config.schema.yaml"))


include: "rules/common.smk"


wildcard_constraints:  # one place for every wildcard's alphabet (the task, input-set and method names: rules/common.smk)
    task=_alternatives(TASKS),
    inputs=_alternatives(INPUT_SETS),
    fold=r"official|cv\d+",
    lead="|".join(["I", "II", "III", "AVR", "AVL", "AVF", "V1", "V2", "V3", "V4", "V5", "V6"]),
    dataset=r"[A-Za-z0-9][A-Za-z0-9_.-]*",


include: "rules/raw.smk"
include: "rules/clean.smk"
include: "rules/qc.smk"
include: "rules/segment.smk"
include: "rules/folds.smk"
include: "rules/encoder.smk"
include: "rules/reps.smk"
include: "rules/decoders.smk"
include: "rules/linear.smk"
include: "rules/calinet.smk"
include: "rules/diffusion.smk"
include: "rules/evaluate.smk"
include: "rules/diagnostic.smk"
include: "rules/export.smk"
include: "rules/cross.smk"
include: "rules/noise.smk"
include: "rules/printout.smk"


rule all:
    input:
        get_final_output(),
    default_target: True
