"""Rules render_printouts and digitize_printouts on the tiny cohort (2 test records, clean level, 100 dpi): the
metrics table against a recomputation from digitized.h5 and truth.h5, a failed image counted, not dropped; and (dry
runs) complete_printouts reads the diffusion prior exactly when the run trains it."""

import json
import shutil
import subprocess

import h5py
import numpy as np
import pandas as pd
import pytest

from ecgrecon import LEADS12
from ecgrecon.evaluation.printout_report import digitize_from_files
from ecgrecon.printout.layout import PrintoutTruth
from ecgrecon.printout.scoring import lead_scores
from snakemake_helpers import ROOT, SNAKEMAKE, scheduled_rules, snakemake
from tiny_learning import tiny_config

PRINTOUT = {"enabled": True, "layout": "3x4", "dpi": 100, "levels": ["clean"], "records": 2}
TARGETS = ("results/printout/metrics.csv", "results/printout/example.png")


@pytest.fixture(scope="module")
def printout_run(tmp_path_factory):
    """The tiny learning config's cohort, cleaned and split, then the two printout rules (nothing else runs)."""
    work = tmp_path_factory.mktemp("printout_dag")
    cfg = tiny_config(work, "tiny.yaml", printout=PRINTOUT)
    snakemake(work, *TARGETS, configfile=cfg)
    return work, cfg


def test_outputs_logs_and_benchmarks(printout_run):
    work, cfg = printout_run
    out = work / "results/printout"
    manifest = pd.read_csv(out / "images.csv")
    assert len(manifest) == 2 and set(manifest["level"]) == {"clean"}
    for rel in manifest["image"]:
        assert (out / "images" / rel).stat().st_size > 0
    for name in ("digitized.h5", "metrics.md", "r_thresholds.csv", "example.png", "truth.h5"):
        assert (out / name).stat().st_size > 0, name
    for rule in ("render_printouts", "digitize_printouts"):
        assert (work / "logs" / f"{rule}.log").stat().st_size > 0
        assert (work / "benchmarks" / f"{rule}.tsv").exists()
    with h5py.File(out / "truth.h5") as t:
        folds = json.loads((work / "results/folds/folds.json").read_text())["folds"]["official"]
        assert set(t["ecg_id"][()]) <= set(folds["test"])
    assert scheduled_rules(work, cfg, *TARGETS) == {}
    changed = tiny_config(work, "dpi.yaml", printout={**PRINTOUT, "dpi": 150})
    assert scheduled_rules(work, changed, *TARGETS) == {"render_printouts": 1, "digitize_printouts": 1}


def test_metrics_table_matches_a_recomputation_from_the_files(printout_run):
    work, _ = printout_run
    out = work / "results/printout"
    with h5py.File(out / "digitized.h5") as d, h5py.File(out / "truth.h5") as t:
        sig, ecg, failed = d["signals"][()], d["ecg_id"][()], d["failed"][()]
        labels = dict(zip(t["ecg_id"][()], t["signals"][()]))
        truths = [PrintoutTruth.from_dict(json.loads(s)) for s in t["truth"].asstr()[()]]
    assert not failed.any()
    plotted = np.stack([tr.plotted().T for tr in truths])
    assert np.array_equal(np.isfinite(sig), plotted)  # NaN exactly where the page plots nothing
    scores = [lead_scores(labels[e], s, tr.plotted()) for e, s, tr in zip(ecg, sig, truths)]
    table = pd.read_csv(out / "metrics.csv").set_index(["level", "lead"])
    for j, lead in enumerate(LEADS12):
        row = table.loc[("clean", lead)]
        snr = [s["snr"][j] for s in scores]
        assert row["snr_mean_db"] == pytest.approx(np.mean(snr), abs=1e-9)
        assert row["snr_median_db"] == pytest.approx(np.median(snr), abs=1e-9)
        for col, key in (("pearson", "pearson"), ("r2", "r2"), ("rmse_mv", "rmse"), ("mae_mv", "mae"), ("coverage", "coverage")):
            assert row[col] == pytest.approx(np.mean([s[key][j] for s in scores]), abs=1e-9), (lead, col)
    mean = table.loc[("clean", "Mean")]
    assert mean["snr_mean_db"] == pytest.approx(np.mean([s["snr"].mean() for s in scores]), abs=1e-9)
    assert mean["n_images"] == 2 and mean["n_failed"] == 0
    assert mean["snr_mean_db"] > 5 and mean["pearson"] > 0.9  # the cohort's cleaned records keep their noise: ~11 dB
    thr = pd.read_csv(out / "r_thresholds.csv").set_index("level")
    r_rec = np.array([s["pearson"].mean() for s in scores])
    assert thr.loc["clean", "r_ge_0.9"] == pytest.approx((r_rec >= 0.9).mean())


def test_the_results_page_section_shows_the_digitisers_table(printout_run, tmp_path):
    from ecgrecon.evaluation.results_doc import printout_section

    work, _ = printout_run
    mean = pd.read_csv(work / "results/printout/metrics.csv").set_index(["level", "lead"]).loc[("clean", "Mean")]
    text = "\n".join(printout_section(work, tmp_path / "img", "_1"))
    assert f"| clean | 2 (0) | {mean['snr_mean_db']:.1f} | {mean['snr_median_db']:.1f} | {mean['pearson']:.3f} |" in text
    assert "r >= 0.9" in text and (tmp_path / "img" / "printout_example_1.png").exists()


def test_a_failed_image_is_logged_and_counted(printout_run, tmp_path):
    work, _ = printout_run
    src = work / "results/printout"
    images = tmp_path / "images"
    shutil.copytree(src / "images", images)
    manifest = pd.read_csv(src / "images.csv")
    (images / manifest["image"].iloc[0]).write_bytes(b"not a png")
    out = {k: tmp_path / f for k, f in (("h5", "d.h5"), ("csv", "m.csv"), ("md", "m.md"), ("thresholds", "t.csv"), ("png", "e.png"))}
    lines = []
    table = digitize_from_files(images, src / "images.csv", src / "truth.h5", out, log=lines.append).set_index(["level", "lead"])
    assert any("failed on" in line and manifest["image"].iloc[0] in line for line in lines), lines
    mean = table.loc[("clean", "Mean")]
    assert mean["n_images"] == 2 and mean["n_failed"] == 1
    before = pd.read_csv(src / "metrics.csv").set_index(["level", "lead"]).loc[("clean", "Mean")]
    with h5py.File(out["h5"]) as d:
        assert list(d["failed"][()]) == [True, False] and np.isnan(d["signals"][0]).all()
        snr_ok = lead_scores(*_label_and_output(src, d["signals"][1], 1))["snr"].mean()
    assert mean["snr_mean_db"] == pytest.approx(snr_ok / 2, abs=1e-9)  # the failed image scores 0 dB (Challenge)
    assert mean["coverage"] == pytest.approx(0.5) and before["coverage"] == pytest.approx(1.0)
    assert pd.read_csv(out["thresholds"]).iloc[0]["r_ge_0.8"] <= 0.5  # counted below every threshold


def _label_and_output(src, output, k):
    with h5py.File(src / "truth.h5") as t:
        truth = PrintoutTruth.from_dict(json.loads(t["truth"].asstr()[k]))
        ecg = pd.read_csv(src / "images.csv")["ecg_id"].iloc[k]
        label = t["signals"][list(t["ecg_id"][()]).index(ecg)]
    return label, output, truth.plotted()


def _completion_inputs(work, configfile=None) -> list[str]:
    """The inputs of complete_printouts in a dry run of its outputs from an empty working directory."""
    cmd = [SNAKEMAKE, "-n", "results/printout/completion.h5", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(work)]
    cmd += ["--configfile", str(configfile)] if configfile is not None else []
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=work)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    k = next(i for i, line in enumerate(lines) if line.strip() == "rule complete_printouts:")
    return next(line for line in lines[k:] if line.strip().startswith("input:")).split(":", 1)[1].replace(" ", "").split(",")


def test_completion_reads_the_diffusion_prior_only_when_the_run_trains_it(tmp_path):
    """Default config (tasks with method `diffusion`): the prior is an input of complete_printouts (diffusion completes
    the printouts too); a run without a generative task neither trains the prior nor waits for it."""
    (tmp_path / "default").mkdir()
    assert "results/prior/model.pt" in _completion_inputs(tmp_path / "default")
    assert "train_prior" in scheduled_rules(tmp_path / "default", None, "results/printout/completion.h5")
    cfg = tiny_config(tmp_path, "tiny.yaml", printout=PRINTOUT)  # run_tasks [paper]: GL, C, Ch, ... no diffusion
    (tmp_path / "tiny").mkdir()
    inputs = _completion_inputs(tmp_path / "tiny", cfg)
    assert "results/prior/model.pt" not in inputs and "results/printout/digitized.h5" in inputs
    assert "train_prior" not in scheduled_rules(tmp_path / "tiny", cfg, "results/printout/completion.h5")
