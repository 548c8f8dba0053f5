"""The learned digitiser as a pipeline stage (ecgrecon.evaluation.printout_learned): split hygiene, seeding, resume,
the evaluation's shared images and recomputable scores, a corrupt checkpoint; and the classical single-lead digitiser."""

import json

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

from ecgrecon import LEADS12
from ecgrecon.evaluation.printout_learned import (
    evaluate_from_files,
    learned_records,
    load_digitizer,
    read_predictions,
    strip_set,
    train_from_files,
)
from ecgrecon.evaluation.printout_report import render_from_clean
from ecgrecon.io.h5io import write_table
from ecgrecon.printout.layout import PrintoutError
from ecgrecon.printout.learned import ColumnDigitizer, images_to_tensor
from ecgrecon.printout.render import render_single_lead
from ecgrecon.printout.scoring import lead_scores
from ecgrecon.printout.single import digitize_single_classical
from ecgrecon.synth import simulate_cohort

FS = 100.0
SPLIT = {"train": list(range(1, 9)), "val": [9, 10, 11], "test": [12, 13, 14]}
CFG = {"image_size": [64, 256], "train_records": 3, "val_records": 2, "d_model": 32, "n_heads": 2, "n_layers": 1,
       "batch_size": 4, "lr": 1e-3, "weight_decay": 1e-4, "max_epochs": 2, "patience": 2, "lr_schedule": "constant"}  # fmt: skip
LEVELS = ["clean", "scan"]


class Killed(Exception):
    """Stands in for the job being killed between two epochs."""


def _write_cohort(d, signals):
    d.mkdir(parents=True, exist_ok=True)
    ids = np.arange(1, len(signals) + 1)
    with h5py.File(d / "clean.h5", "w") as f:
        f["signals"] = signals
        f.attrs["fs"] = FS
        write_table(f, "meta", pd.DataFrame({"ecg_id": ids, "patient_id": ids}))
    (d / "folds.json").write_text(json.dumps({"seed": 0, "folds": {"official": SPLIT}}))
    return d / "clean.h5", d / "folds.json"


@pytest.fixture(scope="module")
def cohort():
    """(14, 1000, 12) synthetic records: ecg_id 1-8 train, 9-11 val, 12-14 test."""
    return simulate_cohort(14, 5)["clean_lr"].astype(np.float64)


def _train(d, signals, seed=3, cfg=CFG, hook=None, logs=None):
    clean, folds = _write_cohort(d, signals)
    out = {"pt": d / "digitizer.pt", "csv": d / "train_log.csv", "png": d / "loss_curve.png"}
    log = logs.append if logs is not None else (lambda s: None)
    return train_from_files(clean, folds, out, cfg=cfg, levels=LEVELS, seed=seed, device="cpu", log=log, epoch_hook=hook)


@pytest.fixture(scope="module")
def trained(cohort, tmp_path_factory):
    d = tmp_path_factory.mktemp("trained")
    ckpt = _train(d, cohort)
    return d, ckpt


def _weights(path):
    return torch.load(path, weights_only=True)["state_dict"]


def _same_weights(a, b) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_training_and_selection_never_see_a_test_record(cohort, trained, tmp_path):
    d, ckpt = trained
    assert set(ckpt["train_ids"]) <= set(SPLIT["train"]) and len(ckpt["train_ids"]) == 3
    assert set(ckpt["val_ids"]) <= set(SPLIT["val"]) and len(ckpt["val_ids"]) == 2
    assert not (set(ckpt["train_ids"]) | set(ckpt["val_ids"])) & set(SPLIT["test"])
    recs = learned_records(d / "folds.json", np.arange(1, 15), {**CFG, "train_records": 0, "val_records": 0}, 3)
    assert list(recs["train"]) == SPLIT["train"] and list(recs["val"]) == SPLIT["val"]  # 0: every record of the split
    # the test records' signals replaced by garbage: the trained weights do not move by one bit
    spoiled = cohort.copy()
    spoiled[11:] = np.random.default_rng(0).normal(0, 5, spoiled[11:].shape)
    _train(tmp_path, spoiled)
    assert _same_weights(_weights(d / "digitizer.pt"), _weights(tmp_path / "digitizer.pt"))
    log = pd.read_csv(d / "train_log.csv")
    assert list(log["epoch"]) == [1, 2] and (log["n_params"] == ckpt["n_params"]).all() and ckpt["n_params"] > 11_000_000
    assert (d / "loss_curve.png").stat().st_size > 0 and not (d / "digitizer.resume.pt").exists()


def test_same_seed_same_images_and_weights(cohort, trained, tmp_path):
    lead_i = cohort[:3, :, 0]
    a = strip_set(lead_i, [1, 2, 3], FS, LEVELS, 3, CFG["image_size"])
    b = strip_set(lead_i, [1, 2, 3], FS, LEVELS, 3, CFG["image_size"])
    c = strip_set(lead_i, [1, 2, 3], FS, LEVELS, 4, CFG["image_size"])
    assert a.images.shape == (6, 64, 256, 3) and a.images.dtype == np.uint8 and a.level == ["clean", "scan"] * 3
    assert np.array_equal(a.images, b.images) and np.array_equal(a.targets, b.targets)
    assert np.array_equal(a.images[0::2], c.images[0::2])  # clean renders do not depend on the seed ...
    assert not np.array_equal(a.images[1::2], c.images[1::2])  # ... the scan distortions do
    d, _ = trained
    _train(tmp_path / "same", cohort)
    _train(tmp_path / "other", cohort, seed=4)
    assert _same_weights(_weights(d / "digitizer.pt"), _weights(tmp_path / "same" / "digitizer.pt"))
    assert not _same_weights(_weights(d / "digitizer.pt"), _weights(tmp_path / "other" / "digitizer.pt"))


def test_killed_training_resumes_to_the_identical_result(cohort, tmp_path):
    cfg = {**CFG, "max_epochs": 3, "patience": 3}
    _train(tmp_path / "a", cohort, cfg=cfg)

    def kill_after_first_epoch(epoch):
        if epoch == 0:
            raise Killed

    b = tmp_path / "b"
    with pytest.raises(Killed):
        _train(b, cohort, cfg=cfg, hook=kill_after_first_epoch)
    assert not (b / "digitizer.pt").exists() and (b / "digitizer.resume.pt").exists()
    logs = []
    _train(b, cohort, cfg=cfg, logs=logs)
    assert any("resuming" in m and "1 epoch(s) done" in m for m in logs), logs
    assert [m.split()[1].rstrip(":") for m in logs if m.startswith("epoch ")] == ["2/3", "3/3"]
    assert _same_weights(_weights(tmp_path / "a" / "digitizer.pt"), _weights(b / "digitizer.pt"))
    cols = ["epoch", "train_loss", "val_loss", "val_rmse_mv", "best"]
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "a" / "train_log.csv")[cols], pd.read_csv(b / "train_log.csv")[cols])
    assert not (b / "digitizer.resume.pt").exists()


def test_columns_arch_trains_reloads_and_refits_identically(cohort, tmp_path):
    """printout.learned.arch columns goes through the same stage: its settings are in the checkpoint, load_digitizer
    rebuilds a ColumnDigitizer with the stored weights, and the same seed trains the same weights."""
    cfg = {**CFG, "arch": "columns", "column_channels": [8, 16], "max_epochs": 1}
    ckpt = _train(tmp_path / "a", cohort, cfg=cfg)
    assert ckpt["settings"]["arch"] == "columns" and ckpt["settings"]["column_channels"] == [8, 16]
    model, _ = load_digitizer(tmp_path / "a" / "digitizer.pt")
    assert isinstance(model, ColumnDigitizer) and model.n_tokens == CFG["image_size"][1]
    assert _same_weights(model.state_dict(), _weights(tmp_path / "a" / "digitizer.pt"))
    _train(tmp_path / "b", cohort, cfg=cfg)
    assert _same_weights(_weights(tmp_path / "a" / "digitizer.pt"), _weights(tmp_path / "b" / "digitizer.pt"))


@pytest.fixture(scope="module")
def evaluated(cohort, trained, tmp_path_factory):
    d, _ = trained
    w = tmp_path_factory.mktemp("evaluated")
    cfg = {"layout": "3x4", "dpi": 100, "levels": LEVELS, "records": 2}
    render_from_clean(d / "clean.h5", d / "folds.json", w / "images", w / "images.csv", w / "truth.h5", cfg=cfg, seed=3, log=lambda s: None)
    out = {k: w / f for k, f in (("h5", "predictions.h5"), ("csv", "metrics.csv"), ("md", "metrics.md"),
                                 ("thresholds", "r_thresholds.csv"), ("png", "example.png"))}  # fmt: skip
    evaluate_from_files(d / "digitizer.pt", w / "truth.h5", out, levels=LEVELS, seed=3, log=lambda s: None)
    return w, out


def test_both_digitisers_read_the_same_images_and_the_table_recomputes(cohort, trained, evaluated):
    d, _ = trained
    w, out = evaluated
    p = read_predictions(out["h5"])
    with h5py.File(w / "truth.h5") as t:
        test_ids = t["ecg_id"][()]
    assert set(test_ids) <= set(SPLIT["test"]) and len(test_ids) == 2
    assert list(p["ecg_id"]) == [e for e in test_ids for _ in LEVELS] and p["level"] == LEVELS * 2
    # the stored images are the rendered strips of the test records, and both predictions come from them
    again = strip_set(cohort[np.asarray(test_ids) - 1, :, 0], test_ids, FS, LEVELS, 3, CFG["image_size"])
    assert np.array_equal(again.images, p["images"]) and np.allclose(again.targets, p["truth"])
    model, _ = load_digitizer(d / "digitizer.pt")
    with torch.no_grad():
        assert np.allclose(model(images_to_tensor(p["images"])).double().numpy(), p["learned"], atol=1e-5)
    for k in range(len(p["ecg_id"])):
        sig, _ = digitize_single_classical(p["images"][k], FS, p["truth"].shape[1])
        assert np.allclose(sig, p["classical"][k], equal_nan=True)
    metrics = pd.read_csv(out["csv"]).set_index(["digitiser", "level"])
    assert set(metrics.index) == {(dg, lv) for dg in ("learned", "classical") for lv in LEVELS}
    for dig in ("learned", "classical"):
        for lv in LEVELS:
            ks = [k for k, x in enumerate(p["level"]) if x == lv]
            s = [lead_scores(p["truth"][k], p[dig][k]) for k in ks]
            row = metrics.loc[(dig, lv)]
            assert row["n_images"] == 2 and row["n_failed"] == 0
            assert row["snr_mean_db"] == pytest.approx(np.mean([x["snr"][0] for x in s]), abs=1e-9)
            assert row["snr_median_db"] == pytest.approx(np.median([x["snr"][0] for x in s]), abs=1e-9)
            for col, key in (("pearson", "pearson"), ("r2", "r2"), ("rmse_mv", "rmse"), ("mae_mv", "mae")):
                assert row[col] == pytest.approx(np.mean([x[key][0] for x in s]), abs=1e-9), (dig, lv, col)
            thr = pd.read_csv(out["thresholds"]).set_index(["digitiser", "level"]).loc[(dig, lv)]
            assert thr["r_ge_0.9"] == pytest.approx(np.mean([x["pearson"][0] >= 0.9 for x in s]))
    assert "| learned | clean |" in out["md"].read_text() and out["png"].stat().st_size > 0


def test_a_corrupt_checkpoint_is_one_line_naming_the_file(trained, evaluated, tmp_path):
    bad = tmp_path / "digitizer.pt"
    bad.write_bytes(b"half a checkpoint")
    with pytest.raises(PrintoutError) as err:
        load_digitizer(bad)
    assert str(bad) in str(err.value) and "\n" not in str(err.value)
    torch.save({"state_dict": {}, "settings": {"image_size": [64, 256]}}, bad)  # readable, but not a digitiser
    with pytest.raises(PrintoutError, match="not a digitizer checkpoint") as err:
        load_digitizer(bad)
    assert str(bad) in str(err.value) and "\n" not in str(err.value)
    w, out = evaluated
    with pytest.raises(PrintoutError, match=str(tmp_path / "missing.pt")):
        evaluate_from_files(tmp_path / "missing.pt", w / "truth.h5", out, levels=LEVELS, seed=3, log=lambda s: None)


def test_classical_single_lead_digitiser_reads_a_clean_and_a_cropped_strip(cohort):
    from ecgrecon.printout.distort import distort

    x = cohort[0, :, LEADS12.index("I")]
    img, _, drawn = render_single_lead(x, FS)  # the source's 1968 x 472 px
    sig, diag = digitize_single_classical(img, FS, 1000)
    assert lead_scores(drawn, sig)["snr"][0] > 15 and abs(diag["t0_column"] + 0.5) < 0.3
    cropped, applied = distort(img, {"crop_frac": (0.01, 0.01)}, np.random.default_rng(1))
    assert cropped.shape[1] < img.shape[1]  # t = 0 is no longer the image's first column: the grid's phase finds it
    sig, _ = digitize_single_classical(cropped, FS, 1000)
    assert lead_scores(drawn, sig)["pearson"][0] > 0.9
    with pytest.raises(PrintoutError, match="no grid"):
        digitize_single_classical(np.repeat(img.min(axis=2, keepdims=True), 3, axis=2), FS, 1000, name="gray.png")
