"""The Snakemake DAG end to end on a tiny synthetic cohort, and what a config change reruns."""

import json

import h5py
import pandas as pd
import pytest

from snakemake_helpers import copy_workflow, scheduled_rules, snakemake, write_config

TINY = {"synth": {"n_records": 120}, "qc": {"n_sample_windows": 3000}, "split": {"cv_k": 3}}
DATA_RULES = {"synthesize", "clean", "qc_stats", "segment", "folds"}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """Run the foundation DAG once on a tiny cohort; tests then dry-run config changes against it."""
    work = tmp_path_factory.mktemp("dag")
    snakefile = copy_workflow(tmp_path_factory.mktemp("workflow"))
    cfg = write_config(work / "tiny.yaml", TINY)
    snakemake(work, "results/segments/segments.h5", "results/folds/folds.json", configfile=cfg, snakefile=snakefile)
    return work, cfg, snakefile


def _changed(work, name, **sections):
    cfg = dict(TINY)
    for key, value in sections.items():
        cfg[key] = {**cfg.get(key, {}), **value}
    return write_config(work / name, cfg)


def _data_targets():
    return ("results/segments/segments.h5", "results/folds/folds.json")


def test_tiny_run_accounts_for_every_record(tiny_run):
    work, _, sf = tiny_run
    with h5py.File(work / "results/clean/synthetic.h5", "r") as f:
        kept = f["signals"].shape[0]
        assert f["signals"].shape[1:] == (1000, 12)
    quarantined = len(pd.read_csv(work / "results/qc/quarantine_synthetic.csv"))
    assert kept + quarantined == 120
    folds = json.loads((work / "results/folds/folds.json").read_text())["folds"]
    assert set(folds) == {"official", "cv0", "cv1", "cv2"}
    for log in ("synthesize", "clean_synthetic", "qc_stats", "segment", "folds"):
        assert (work / "logs" / f"{log}.log").stat().st_size > 0
        assert (work / "benchmarks" / f"{log}.tsv").exists()


def test_nothing_to_do_after_a_run(tiny_run):
    work, cfg, sf = tiny_run
    assert scheduled_rules(work, cfg, *_data_targets(), snakefile=sf) == {}


def test_qc_percentile_change_reruns_qc_and_segment_only(tiny_run):
    work, _, sf = tiny_run
    cfg = _changed(work, "pct.yaml", qc={"percentiles": [1.0, 99.0]})
    assert set(scheduled_rules(work, cfg, *_data_targets(), snakefile=sf)) == {"qc_stats", "segment"}


def test_window_change_reruns_from_qc_stats(tiny_run):
    work, _, sf = tiny_run
    cfg = _changed(work, "hop.yaml", segment={"hop": 128})
    assert set(scheduled_rules(work, cfg, *_data_targets(), snakefile=sf)) == {"segment"}
    cfg = _changed(work, "win.yaml", segment={"window": 128})
    assert set(scheduled_rules(work, cfg, *_data_targets(), snakefile=sf)) == {"qc_stats", "segment"}


def test_filter_change_reruns_clean_but_not_the_cohort(tiny_run):
    work, _, sf = tiny_run
    cfg = _changed(work, "bp.yaml", clean={"bandpass_hz": [0.7, 40.0]})
    assert set(scheduled_rules(work, cfg, *_data_targets(), snakefile=sf)) == DATA_RULES - {"synthesize"}
    for key, value in (("filter_form", "ba"), ("median_edges", "zero")):
        cfg = _changed(work, f"{key}.yaml", clean={key: value})
        assert set(scheduled_rules(work, cfg, *_data_targets(), snakefile=sf)) == DATA_RULES - {"synthesize"}, key


def test_qc_statistic_reruns_qc_and_segment_and_max_bad_leads_only_segment(tiny_run):
    work, _, sf = tiny_run
    cfg = _changed(work, "stat.yaml", qc={"statistic": "max_abs"})
    assert set(scheduled_rules(work, cfg, *_data_targets(), snakefile=sf)) == {"qc_stats", "segment"}
    cfg = _changed(work, "bad.yaml", qc={"max_bad_leads": 3})
    assert set(scheduled_rules(work, cfg, *_data_targets(), snakefile=sf)) == {"segment"}


def test_seed_change_regenerates_everything(tiny_run):
    work, _, sf = tiny_run
    cfg = write_config(work / "seed.yaml", {**TINY, "seed": 7})
    assert set(scheduled_rules(work, cfg, *_data_targets(), snakefile=sf)) == DATA_RULES


def test_editing_a_workflow_script_reruns_its_rule_and_downstream(tiny_run):
    work, cfg, snakefile = tiny_run
    script = snakefile.parent / "workflow_scripts" / "qc_stats.py"
    original = script.read_text()
    script.write_text(original + "\n# edited\n")
    try:
        jobs = scheduled_rules(work, cfg, *_data_targets(), snakefile=snakefile)
    finally:
        script.write_text(original)
    assert set(jobs) == {"qc_stats", "segment"}, jobs


def test_cohort_size_change_regenerates_everything_and_split_change_only_the_folds(tiny_run):
    work, _, sf = tiny_run
    cfg = _changed(work, "n.yaml", synth={"n_records": 121})
    assert set(scheduled_rules(work, cfg, *_data_targets(), snakefile=sf)) == DATA_RULES
    base = set(scheduled_rules(work, work / "tiny.yaml", *_data_targets(), snakefile=sf))  # earlier tests may leave QC stale
    cfg = _changed(work, "cv.yaml", split={"cv_k": 4})
    jobs = set(scheduled_rules(work, cfg, *_data_targets(), snakefile=sf))
    assert jobs - base == {"folds"} and not {"synthesize", "clean"} & jobs, (jobs, base)
