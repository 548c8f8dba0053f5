"""Rules render_printouts -> train_digitizer -> evaluate_digitizer on the tiny cohort (2 test records, 2 levels, a few
train / val strips at 64 x 256 px, 2 epochs): outputs, logs, benchmarks, split hygiene, and what a change reruns."""

import json

import h5py
import jsonschema
import pandas as pd
import pytest
import torch
import yaml

from snakemake_helpers import ROOT, scheduled_rules, snakemake, write_config
from tiny_learning import tiny_config

LEARNED = {"enabled": True, "image_size": [64, 256], "train_records": 4, "val_records": 2, "d_model": 32, "n_heads": 2,
           "n_layers": 1, "batch_size": 4, "max_epochs": 2, "patience": 2}  # fmt: skip
PRINTOUT = {"enabled": True, "layout": "3x4", "dpi": 100, "levels": ["clean", "scan"], "records": 2, "learned": LEARNED}
TARGETS = ("results/printout/learned/metrics.csv", "results/printout/learned/example.png")


def test_tiny_run_trains_evaluates_and_reruns_only_what_a_change_touches(tmp_path):
    cfg = tiny_config(tmp_path, "tiny.yaml", printout=PRINTOUT)
    snakemake(tmp_path, *TARGETS, configfile=cfg)
    out = tmp_path / "results/printout/learned"
    for name in ("digitizer.pt", "train_log.csv", "loss_curve.png", "predictions.h5", "metrics.csv", "metrics.md",
                 "r_thresholds.csv", "example.png"):  # fmt: skip
        assert (out / name).stat().st_size > 0, name
    for rule in ("train_digitizer", "evaluate_digitizer"):
        assert (tmp_path / "logs" / f"{rule}.log").stat().st_size > 0
        assert (tmp_path / "benchmarks" / f"{rule}.tsv").exists()
    assert "parameters" in (tmp_path / "logs/train_digitizer.log").read_text()
    folds = json.loads((tmp_path / "results/folds/folds.json").read_text())["folds"]["official"]
    ckpt = torch.load(out / "digitizer.pt", weights_only=True)
    assert set(ckpt["train_ids"]) <= set(folds["train"]) and set(ckpt["val_ids"]) <= set(folds["val"])
    with h5py.File(out / "predictions.h5") as p:
        assert set(p["ecg_id"][()]) <= set(folds["test"]) and len(p["ecg_id"]) == 4
    metrics = pd.read_csv(out / "metrics.csv")
    assert set(zip(metrics["digitiser"], metrics["level"])) == {(d, lv) for d in ("learned", "classical") for lv in ("clean", "scan")}
    assert scheduled_rules(tmp_path, cfg, *TARGETS) == {}
    from ecgrecon.evaluation import results_doc  # a run with only this stage gets its own results page

    page = tmp_path / "docs" / "results_printout.md"
    assert results_doc.main(["--run", f"tiny={tmp_path}", "--out", str(page)]) == 0
    text, by = page.read_text(), metrics.set_index(["digitiser", "level"])
    learned, classical = by.loc[("learned", "scan")], by.loc[("classical", "scan")]
    assert "### Printouts: the learned single-lead digitiser" in text and "arch `columns`" in text
    assert "Two metric conventions" not in text and "the classical digitiser on the same images" in text  # no task tables
    assert f"| learned | scan | 2 (0) | {learned['snr_mean_db']:.2f} | " in text
    assert f"`scan` {learned['snr_mean_db'] - classical['snr_mean_db']:+.1f} dB SNR" in text and "r 0.972 / 14.4 dB" in text
    assert (tmp_path / "docs" / "img" / "printout_learned_printout_1.png").stat().st_size > 0  # synthetic: figure copied
    longer = tiny_config(tmp_path, "longer.yaml", printout={**PRINTOUT, "learned": {**LEARNED, "max_epochs": 3}})
    assert scheduled_rules(tmp_path, longer, *TARGETS) == {"train_digitizer": 1, "evaluate_digitizer": 1}
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    off = tiny_config(tmp_path, "off.yaml", printout={**PRINTOUT, "learned": {**LEARNED, "enabled": False}})
    assert "train_digitizer" not in scheduled_rules(fresh, off)  # the default target leaves the stage out when disabled
    on = scheduled_rules(fresh, cfg)
    assert on["train_digitizer"] == 1 and on["evaluate_digitizer"] == 1  # ... and asks for it when enabled


SCHEMA = yaml.safe_load((ROOT / "schemas/config.schema.yaml").read_text())


@pytest.mark.parametrize(
    "key, bad",
    [("enabled", "yes"), ("image_size", [96]), ("image_size", [16, 384]), ("train_records", -1), ("batch_size", 1),
     ("lr", 0), ("max_epochs", 0), ("lr_schedule", "plateau"), ("bogus", 1)],
)  # fmt: skip
def test_schema_checks_every_learned_key_and_refuses_unknown_ones(key, bad):
    base = yaml.safe_load((ROOT / "config.yaml").read_text())
    learned = base["printout"]["learned"]
    assert set(learned) == set(SCHEMA["properties"]["printout"]["properties"]["learned"]["required"])
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**base, "printout": {**base["printout"], "learned": {**learned, key: bad}}}, SCHEMA)
    jsonschema.validate(base, SCHEMA)


def test_an_unknown_learned_key_fails_at_start_naming_it(tmp_path):
    cfg = write_config(tmp_path / "bad.yaml", {"printout": {"learned": {"epochs": 3}}})
    proc = snakemake(tmp_path, "-n", configfile=cfg, check=False)
    assert proc.returncode != 0 and "epochs" in proc.stdout + proc.stderr
