"""PCM (ecgrecon.learn.calibration): protocol, per-patient maps, GL fallback, and PCM vs GL on the cohort."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pandas as pd
import pytest

from ecgrecon import LEADS12
from ecgrecon.data.clean import clean_dataset
from ecgrecon.data.datasets import ArtifactError, load_folds, read_leads, read_segment_meta
from ecgrecon.data.folds import make_folds_file
from ecgrecon.data.qc import compute_qc_stats
from ecgrecon.data.segment import record_windows, segment_dataset
from ecgrecon.io.h5io import read_table
from ecgrecon.learn import calibration, linear
from ecgrecon.synth import write_cohort
from ptbxl_fixture import CLEAN_CFG, LABELS_CFG

INPUTS, TARGETS = ["I", "II", "V2"], ["V1", "V3", "V4", "V5", "V6"]
SPLIT = {"train_folds": [1, 2, 3, 4, 5, 6, 7, 8], "val_folds": [9], "test_folds": [10], "cv_k": 3}
QUIET = {"log": lambda s: None}


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """120 synthetic records through clean -> qc -> segment -> folds -> GL -> PCM."""
    d = tmp_path_factory.mktemp("pcm")
    write_cohort(d / "raw", 120, seed=21, threads=1, progress=lambda s: None)
    cfg = dict(CLEAN_CFG, max_quarantine_fraction=0.2)
    clean_dataset(d / "raw", d / "clean.h5", d / "quarantine.csv", cfg, LABELS_CFG, **QUIET)
    compute_qc_stats(d / "clean.h5", d / "qc.json", d / "qc.png", [0.1, 99.9], 256, 2000, seed=1, **QUIET)
    segment_dataset(d / "clean.h5", d / "qc.json", d / "segments.h5", d / "qc_report.csv", 256, 64, **QUIET)
    make_folds_file(d / "clean.h5", d / "folds.json", SPLIT, seed=1, **QUIET)
    gl = linear.fit_from_segments(d / "segments.h5", d / "folds.json", "official", INPUTS, TARGETS, **QUIET)
    gl.save(d / "gl.json")
    summary = calibration.run_pcm(d / "clean.h5", d / "segments.h5", d / "folds.json", d / "gl.json", d / "pcm.h5", d / "pcm.json", **QUIET)
    return d, gl, summary


def test_plan_and_excluded_windows():
    meta = pd.DataFrame({"ecg_id": [1, 2, 3, 4, 5], "patient_id": [10, 10, 11, 12, 12]})
    # record 5 is in another split than 4: it must not calibrate record 4
    plan = calibration.calibration_plan(meta, [1, 2, 3, 4], split_ids=[1, 2, 3, 4], n_samples=1000, fs=100.0)
    assert plan["source"].tolist() == ["other_record", "other_record", "same_record", "same_record"]
    assert plan["cal_ecg_id"].tolist() == [2, 1, 3, 4]
    assert (plan["cal_start"] == 0).all() and (plan["cal_stop"] == 200).all()
    starts, _ = record_windows(1000, 256)
    ecg = np.repeat([1, 2, 3, 4], len(starts))
    keep = calibration.eval_mask(plan, ecg, np.tile(starts, 4), 256).reshape(4, -1)
    assert keep[:2].all() and keep[2:, 0].sum() == 0 and keep[2:, 1:].all()  # only window 0 of 3 and 4 goes
    hop = np.arange(0, 745, 64)
    keep_hop = calibration.eval_mask(plan, np.full(len(hop), 3), hop, 256)
    assert hop[~keep_hop].tolist() == [0, 64, 128, 192]
    assert not calibration.eval_mask(plan, [99], [256], 256)[0]  # record not in the plan


def _patients(rng, n, m=1000):
    """Records whose targets are an exact per-patient linear map of smooth random inputs."""
    x = np.cumsum(rng.normal(0, 0.05, (n, m, 12)), axis=1)
    x -= x.mean(axis=1, keepdims=True)
    maps = rng.normal(0, 1, (n, 5, 3))
    ii, it = [LEADS12.index(k) for k in INPUTS], [LEADS12.index(k) for k in TARGETS]
    x[:, :, it] = np.einsum("njc,ntc->ntj", maps, x[:, :, ii])
    return x.astype(np.float32), maps


def _windows(signals, ids):
    starts, keep_from = record_windows(signals.shape[1], 256)
    win = np.stack([signals[i, s : s + 256].T for i in range(len(signals)) for s in starts])
    meta = pd.DataFrame({"ecg_id": np.repeat(ids, len(starts)), "start": np.tile(starts, len(ids))})
    return win, meta


def test_exact_per_patient_maps_are_recovered_and_trusted():
    rng = np.random.default_rng(0)
    ids = np.arange(1, 9)
    sig, maps = _patients(rng, 8)
    meta = pd.DataFrame({"ecg_id": ids, "patient_id": ids + 100})
    win, wmeta = _windows(sig, ids)
    gl = linear.LinearMap(INPUTS, TARGETS, 0, maps.mean(axis=0)[:, :, None], np.zeros(5), np.zeros(5))
    data = calibration.split_data(sig, meta, win, wmeta, ids, gl, fs=100.0)
    assert (data.plan["source"] == "same_record").all() and len(data.x) == 8 * 3
    fitted = calibration.fit_patient_maps(data.cal_x, data.cal_y, gl, 1e-6, data.plan["ecg_id"])
    np.testing.assert_allclose(fitted.weights[..., 0], maps, atol=1e-3)
    assert (fitted.q_pcm > 0.999).all() and (fitted.score > 0).all()
    choice, table = calibration.select_on_validation(data, gl, alphas=[1e-6, 1e-2])
    assert choice["alpha"] == 1e-6 and choice["val_rmse"] < 0.01 * choice["val_rmse_gl"]
    pred = calibration.predict_split(data, gl, choice["alpha"], choice["rule"])
    assert (pred["weight"] == 1).all()
    np.testing.assert_allclose(pred["pcm"], data.y, atol=2e-3)


def test_useless_calibration_falls_back_to_gl():
    """Calibration windows unrelated to the rest of the record: validation picks (near) pure GL."""
    rng = np.random.default_rng(1)
    ids = np.arange(1, 13)
    sig, maps = _patients(rng, 12)
    shared = maps.mean(axis=0)
    it, ii = [LEADS12.index(k) for k in TARGETS], [LEADS12.index(k) for k in INPUTS]
    sig[:, :, it] = np.einsum("jc,ntc->ntj", shared, sig[:, :, ii])  # the population map is the truth ...
    sig[:, :200, it] = rng.normal(0, 0.3, (12, 200, 5))  # ... but calibration is noise
    meta = pd.DataFrame({"ecg_id": ids, "patient_id": ids})
    win, wmeta = _windows(sig, ids)
    gl = linear.LinearMap(INPUTS, TARGETS, 0, shared[:, :, None], np.zeros(5), np.zeros(5))
    data = calibration.split_data(sig, meta, win, wmeta, ids, gl, fs=100.0)
    choice, _ = calibration.select_on_validation(data, gl)
    pred = calibration.predict_split(data, gl, choice["alpha"], choice["rule"])
    assert pred["weight"].max() == 0.0
    np.testing.assert_allclose(pred["pcm"], pred["gl"])
    assert choice["val_rmse"] == pytest.approx(choice["val_rmse_gl"])


def test_pcm_beats_gl_on_synthetic_cohort(cohort):
    d, gl, summary = cohort
    metrics = pd.DataFrame(summary["test_metrics"])
    mean = metrics[(metrics["lead"] == "Mean") & (metrics["split"] == "test_records")].set_index("method")
    assert mean.loc["PCM", "rmse"] < 0.8 * mean.loc["GL", "rmse"]
    assert mean.loc["PCM", "r2"] > mean.loc["GL", "r2"] + 0.05
    seg = metrics[(metrics["lead"] == "Mean") & (metrics["split"] == "test_segments")].set_index("method")
    assert seg.loc["PCM", "rmse"] < seg.loc["GL", "rmse"]
    c = summary["counts"]["test_records"]
    assert c["records"] >= 8 and c["records"] == c["other_record"]["records"] + c["same_record"]["records"]
    assert summary["val_rmse"] < summary["val_rmse_gl"]
    # per record too: PCM is better on most test records
    with h5py.File(d / "pcm.h5", "r") as f:
        rows, pcm, glp = f["records/row"][...], f["records/pcm"][...], f["records/gl"][...]
        plan = read_table(f["plan"])
    rmeta, _ = read_segment_meta(d / "segments.h5", "records")
    ids = load_folds(d / "folds.json", "official")["test"]
    test_rows = np.flatnonzero(np.isin(rmeta["ecg_id"].to_numpy(), ids))
    y = read_leads(d / "segments.h5", TARGETS, test_rows[rows], group="records")
    ecg = rmeta["ecg_id"].to_numpy()[test_rows[rows]]
    better = [((pcm[ecg == e] - y[ecg == e]) ** 2).mean() < ((glp[ecg == e] - y[ecg == e]) ** 2).mean() for e in np.unique(ecg)]
    assert np.mean(better) >= 0.75
    assert set(plan["ecg_id"]) == set(np.unique(ecg))


def test_protocol_holds_on_cohort(cohort):
    """No evaluated window touches its calibration window; calibration stays within the patient."""
    d, gl, summary = cohort
    with h5py.File(d / "pcm.h5", "r") as f:
        plan = read_table(f["plan"])
        rows = {g: f[f"{g}/row"][...] for g in ("records", "segments")}
    with h5py.File(d / "clean.h5", "r") as f:
        cmeta = read_table(f["meta"])
    pat = dict(zip(cmeta["ecg_id"], cmeta["patient_id"]))
    assert all(pat[c] == p for c, p in zip(plan["cal_ecg_id"], plan["patient_id"]))
    assert ((plan["cal_ecg_id"] != plan["ecg_id"]) == (plan["source"] == "other_record")).all()
    ids = load_folds(d / "folds.json", "official")["test"]
    assert set(plan["cal_ecg_id"]) <= set(ids.tolist())
    same = set(plan.loc[plan["source"] == "same_record", "ecg_id"])
    for group in ("records", ""):
        meta, _ = read_segment_meta(d / "segments.h5", group)
        sub = meta[meta["ecg_id"].isin(ids)].reset_index(drop=True).iloc[rows[group or "segments"]]
        touched = sub["ecg_id"].isin(same) & (sub["start"] < 200)
        assert not touched.any()
        n_test_same = meta["ecg_id"].isin(same) & (meta["start"] >= 200)
        assert sub["ecg_id"].isin(same).sum() == n_test_same.sum()  # every other window is kept
    doc = json.loads((d / "pcm.json").read_text())
    assert doc["alpha"] in calibration.DEFAULT_ALPHAS and doc["rule"]["name"] in ("gl", "pcm", "ramp")


def test_pcm_maps_approach_the_true_lead_fields(cohort):
    """Ground truth (tests only): a patient's dipole lead field F gives the exact map from I, II,
    V2 to the targets, F_t F_in^-1 (ignoring the small non-dipolar sources). PCM's per-patient
    weights are closer to it than GL's population weights."""
    d, gl, summary = cohort
    with h5py.File(d / "pcm.h5", "r") as f:
        plan = read_table(f["plan"])
    ids = load_folds(d / "folds.json", "official")["test"]
    test, _ = calibration.load_split(d / "clean.h5", d / "segments.h5", ids, gl)
    maps = calibration.fit_patient_maps(test.cal_x, test.cal_y, gl, summary["alpha"], test.plan["ecg_id"])
    with h5py.File(d / "raw" / "ground_truth.h5", "r") as f:
        truth_ids = read_table(f["records"])["ecg_id"].to_numpy()
        fields = f["lead_field"][...]
    ii, it = [LEADS12.index(k) for k in INPUTS], [LEADS12.index(k) for k in TARGETS]
    err_pcm, err_gl = [], []
    for i, e in enumerate(maps.ecg_id):
        field = fields[np.flatnonzero(truth_ids == e)[0]]
        true_map = field[it] @ np.linalg.inv(field[ii])
        err_pcm.append(np.abs(maps.weights[i, :, :, 0] - true_map).mean())
        err_gl.append(np.abs(gl.weights[:, :, 0] - true_map).mean())
    assert len(err_pcm) == len(plan)
    assert np.median(err_pcm) < 0.6 * np.median(err_gl)


def test_bad_inputs_are_named(tmp_path, cohort):
    d, gl, _ = cohort
    with pytest.raises(ArtifactError, match=str(tmp_path / "missing.h5")):
        calibration.run_pcm(
            tmp_path / "missing.h5", d / "segments.h5", d / "folds.json", d / "gl.json", tmp_path / "o.h5", tmp_path / "o.json", **QUIET
        )
    with h5py.File(tmp_path / "bad.h5", "w") as f:
        f.create_dataset("signals", data=np.zeros((2, 1000, 12), np.float32))
    with pytest.raises(ArtifactError, match="missing 'signals' or 'meta'"):
        calibration.load_split(tmp_path / "bad.h5", d / "segments.h5", np.array([1]), gl)
    with pytest.raises(ValueError, match="alpha must be > 0"):
        calibration.fit_patient_maps(np.zeros((1, 3, 200)), np.zeros((1, 5, 200)), gl, 0.0)
    with pytest.raises(ValueError, match="not among the cleaned records"):
        calibration.calibration_plan(pd.DataFrame({"ecg_id": [1], "patient_id": [1]}), [2], [1, 2], 1000, 100.0)
    assert not (tmp_path / "o.json").exists()


def test_pcm_tables_report_pcm_and_gl_from_the_summary(cohort, tmp_path):
    from ecgrecon.evaluation.pcm_report import write_pcm_tables

    d, gl, summary = cohort
    df = write_pcm_tables(summary, tmp_path / "pcm.csv", tmp_path / "pcm.md")
    table = pd.read_csv(tmp_path / "pcm.csv")
    assert set(table["method"]) == {"GL", "PCM-raw", "PCM"} and (table["fold"] == "official").all()
    assert set(table["lead"]) == set(TARGETS) | {"Mean"} and len(table) == len(summary["test_metrics"]) == len(df)
    win_ids = pd.Index(read_segment_meta(d / "segments.h5", "records")[0]["win_id"].to_numpy())
    with h5py.File(d / "pcm.h5") as f, h5py.File(d / "segments.h5") as s:
        rows = win_ids.get_indexer(f["records/win_id"][...])
        assert (rows >= 0).all()
        truth = s["records/x"][...][rows][:, [LEADS12.index(t) for t in TARGETS]].astype(np.float64)
        gl_direct = gl.predict(s["records/x"][...][rows][:, [LEADS12.index(i) for i in INPUTS]])
    rec = table[table["split"] == "test_records"].set_index(["method", "lead"])
    rmse = np.sqrt(((gl_direct - truth) ** 2).mean(axis=(0, 2)))
    for j, lead in enumerate(TARGETS):
        assert rec.loc[("GL", lead), "rmse"] == pytest.approx(rmse[j], rel=1e-6), lead
    md = (tmp_path / "pcm.md").read_text()
    assert "reported separately" in md and "| RMSE (mV) GL | RMSE (mV) PCM-raw | RMSE (mV) PCM |" in md
    assert "PCM beats GL on mean RMSE" in md or "PCM does not beat GL" in md
