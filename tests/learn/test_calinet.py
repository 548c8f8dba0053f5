"""CaLiNet-E (ecgrecon.learn.calinet): starts as the calibrated linear map, trains, quality scores, episodes, resume."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from ecgrecon.data.clean import clean_dataset
from ecgrecon.data.datasets import load_folds, open_clean
from ecgrecon.data.folds import make_folds_file
from ecgrecon.learn import calibration, calinet, linear
from ecgrecon.learn.calinet_model import SOURCE_ARCH, CaLiNetE
from ecgrecon.learn.fitloop import resume_path
from ecgrecon.learn.models import count_params
from ecgrecon.synth import write_cohort
from ptbxl_fixture import CLEAN_CFG, LABELS_CFG

INPUTS, TARGETS = ["I", "II", "V2"], ["V1", "V3", "V4", "V5", "V6"]
SPLIT = {"train_folds": [1, 2, 3, 4, 5, 6, 7, 8], "val_folds": [9], "test_folds": [10], "cv_k": 3}
QUIET = {"log": lambda s: None}
TINY = {"channels": (4, 8), "embed_dim": 8, "episodes_per_record": 1, "batch_size": 32, "max_epochs": 2, "patience": 5}


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """70 synthetic records through clean -> folds; GL (context 2) on the train / val records' windows."""
    d = tmp_path_factory.mktemp("calinet")
    write_cohort(d / "raw", 70, seed=21, threads=1, progress=lambda s: None)
    clean_dataset(d / "raw", d / "clean.h5", d / "quarantine.csv", dict(CLEAN_CFG, max_quarantine_fraction=0.2), LABELS_CFG, **QUIET)
    make_folds_file(d / "clean.h5", d / "folds.json", SPLIT, seed=1, **QUIET)
    folds = load_folds(d / "folds.json", "official")
    f, meta = open_clean(d / "clean.h5")
    with f:
        sig, fs = f["signals"][...], float(f.attrs["fs"])
    cohorts = {s: calinet.cohort_from_arrays(sig, meta, folds[s], folds, INPUTS, TARGETS, fs) for s in ("train", "val", "test")}

    def windows(c):
        return np.concatenate([c.signals[:, :, s : s + 256] for s in (0, 256, 512, 744)])

    wt, wv = windows(cohorts["train"]), windows(cohorts["val"])
    gl = linear.fit(wt[:, :3], wt[:, 3:], wv[:, :3], wv[:, 3:], INPUTS, TARGETS, context=2)
    return {"dir": d, "folds": folds, "meta": meta, "sig": sig, "fs": fs, "gl": gl, **cohorts}


def _test_windows(c: calinet.Cohort):
    """PCM's same-record protocol: calibration [0, 200), evaluated record windows at 256, 512, 744."""
    cal = c.signals[:, :, :200].astype(np.float64)
    x = np.concatenate([c.signals[:, :3, s : s + 256] for s in (256, 512, 744)])
    row = np.tile(np.arange(len(c.ecg_id)), 3)
    return cal[:, :3], cal[:, 3:], x, row


@pytest.mark.parametrize("rho", ["crossfit", "pcm", "source"])
def test_untrained_model_is_the_calibrated_linear_map(cohort, rho):
    gl, c = cohort["gl"], cohort["test"]
    s = calinet.Settings(rho=rho)
    torch.manual_seed(0)
    model = calinet.build_model(gl, s)
    cal_x, cal_y, x, row = _test_windows(c)
    out = calinet.predict(model, gl, s, x, row, cal_x, cal_y, c.fs)
    maps, r, eff = calinet.calibrate(cal_x, cal_y, gl, c.fs, s)
    ref = calibration.predict_pcm(eff, x, row, gl.context)
    np.testing.assert_allclose(out["calinet"], ref, atol=2e-5)
    np.testing.assert_array_equal(out["linear"], ref)
    assert np.abs(ref - gl.predict(x)).max() > 0.05  # the calibrated map is not GL
    if rho == "pcm":  # ... and with PCM's weight it is PCM's mixed prediction
        w = calibration.rule_weight(s.rule, maps.score)[row][:, :, None]
        mixed = w * calibration.predict_pcm(maps, x, row, gl.context) + (1 - w) * gl.predict(x)
        np.testing.assert_allclose(out["calinet"], mixed, atol=2e-5)
    # any length (reflect-padded to a multiple of 2^levels): whole 10-s records
    full = torch.from_numpy(c.signals[:4, :3])
    w_eff, b_eff = torch.from_numpy(eff.weights[:4]).float(), torch.from_numpy(eff.intercept[:4]).float()
    with torch.no_grad():
        y = model(full, w_eff, b_eff).numpy()
    np.testing.assert_allclose(y, calibration.predict_pcm(eff, c.signals[:4, :3], np.arange(4), gl.context), atol=2e-5)


def test_one_training_step_lowers_the_loss(cohort):
    gl, c = cohort["gl"], cohort["train"]
    s = calinet.Settings()
    batch = calinet.prepare(c, calinet.make_episodes(c, s, np.random.default_rng(0)), gl, s)
    x, w, b, y = (torch.from_numpy(a[:64]) for a in (batch.x, batch.w_eff, batch.b_eff, batch.y))
    torch.manual_seed(0)
    model = calinet.build_model(gl, s)
    opt = torch.optim.AdamW(model.parameters(), lr=s.lr, weight_decay=s.weight_decay)
    with torch.no_grad():
        lin = model(x, w, b)
    before = calinet.batch_loss(model, x, w, b, y)
    opt.zero_grad()
    before.backward()
    opt.step()
    with torch.no_grad():
        after = calinet.batch_loss(model, x, w, b, y)
        moved = (model(x, w, b) - lin).abs().max()
    assert float(after) < float(before.detach())
    assert float(moved) > 0  # the residual left zero


def test_quality_scores_are_in_unit_interval_and_fall_on_noise(cohort):
    gl, c = cohort["gl"], cohort["train"]
    cal = c.signals[:, :, :200].astype(np.float64)
    noise = np.random.default_rng(3).normal(0, cal.std(axis=2, keepdims=True), cal.shape)
    scores = {}
    for name, w in (("real", cal), ("noise", noise)):
        for rho in ("crossfit", "source", "pcm"):
            s = calinet.Settings(rho=rho)
            maps, r, _ = calinet.calibrate(w[:, :3], w[:, 3:], gl, c.fs, s)
            assert r.shape == (len(w), len(TARGETS)) and ((r >= 0) & (r <= 1)).all(), rho
            scores[name, rho] = r
        q = calinet.crossfit_quality(maps)
        assert ((q >= 0) & (q <= 1)).all()
        scores[name, "q"] = q
        parts = calinet.source_quality(maps, w[:, :3], w[:, 3:], gl.context, c.fs, calinet.Settings())
        for k in ("s_cond", "s_fit", "s_beat", "rho"):
            assert ((parts[k] >= 0) & (parts[k] <= 1)).all(), k
        scores[name, "parts"], scores[name, "maps"] = parts, maps
    for key in ("crossfit", "source", "q"):
        assert scores["noise", key].mean() < scores["real", key].mean() - 0.3, key
    assert np.median(scores["real", "source"]) > 0.7 and np.median(scores["real", "q"]) > 0.8
    real, noisy = scores["real", "parts"], scores["noise", "parts"]
    assert noisy["s_fit"].mean() < 0.3 < 0.8 < real["s_fit"].mean()
    assert (real["s_beat"] == 1).mean() > 0.9  # 1-6 beats in 2 s on real windows
    assert noisy["s_cond"].mean() > real["s_cond"].mean()  # white noise is well conditioned (documented)
    # the floored cross-fit rule is PCM's own weight wherever GL explains the window (q_GL >= 0)
    explained = scores["real", "maps"].q_gl >= 0
    assert explained.mean() > 0.5
    np.testing.assert_array_equal(scores["real", "crossfit"][explained], scores["real", "pcm"][explained])


def test_s_beat_mapping(cohort):
    s = calinet.beats_plausibility(np.arange(10), 2.0)  # 2 s at 40-180 bpm: 1..6 beats
    np.testing.assert_allclose(s, [0, 1, 1, 1, 1, 1, 1, 6 / 7, 6 / 8, 6 / 9])
    assert calinet.beats_plausibility([1], 10.0)[0] == pytest.approx(1 / 6)  # 10 s: 6..30 beats
    cal = cohort["train"].signals[:5, :, :200].astype(np.float64)
    s_real, n_real = calinet.beat_score(cal, 100.0)
    s_flat, n_flat = calinet.beat_score(np.zeros_like(cal), 100.0)
    assert (n_real >= 1).all() and (s_real == 1).all() and (n_flat == 0).all() and (s_flat == 0).all()


def test_embedding_is_zero_exactly_when_the_map_is_the_population_map(cohort):
    gl, c = cohort["gl"], cohort["test"]
    torch.manual_seed(1)
    model = calinet.build_model(gl, calinet.Settings())
    cal_x, cal_y, _, _ = _test_windows(c)
    maps = calibration.fit_patient_maps(cal_x, cal_y, gl, 1e-3)
    gl_maps = calinet.effective_maps(maps, gl, np.zeros_like(maps.intercept))  # rho = 0: the population map
    own = calinet.effective_maps(maps, gl, np.ones_like(maps.intercept))
    for m in (gl_maps, own):
        m.weights, m.intercept = m.weights.astype(np.float32), m.intercept.astype(np.float32)
    with torch.no_grad():
        e0 = model.embedding(torch.from_numpy(gl_maps.weights), torch.from_numpy(gl_maps.intercept))
        e1 = model.embedding(torch.from_numpy(own.weights), torch.from_numpy(own.intercept))
    assert torch.equal(e0, torch.zeros_like(e0))
    assert (e1.abs().sum(dim=1) > 0).all()


def test_episodes_never_pair_two_patients_or_leave_the_split(cohort):
    tr, folds, meta = cohort["train"], cohort["folds"], cohort["meta"]
    s = calinet.Settings(other_record=0.5, episodes_per_record=6)
    patient = dict(zip(meta["ecg_id"], meta["patient_id"]))
    n_other = 0
    for seed in range(5):
        ep = calinet.make_episodes(tr, s, np.random.default_rng(seed))
        assert (ep["cal_ecg_id"].map(patient) == ep["tgt_ecg_id"].map(patient)).all()
        assert ep["cal_ecg_id"].isin(folds["train"]).all() and ep["tgt_ecg_id"].isin(folds["train"]).all()
        same = ep["cal_ecg_id"] == ep["tgt_ecg_id"]
        assert (ep.loc[same, "tgt_start"] == ep.loc[same, "cal_start"] + 200 + ep.loc[same, "gap"]).all()
        assert set(ep.loc[same, "gap"]) <= {0, 100, 200, 500}
        n_other += int((~same).sum())
    assert n_other > 0  # other-record episodes were drawn (the check is not vacuous)
    a, b = (calinet.make_episodes(tr, s, np.random.default_rng(7)) for _ in range(2))
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(calinet.make_episodes(tr, s, np.random.default_rng(8)))
    ev = calinet.make_episodes(cohort["val"], calinet.Settings(eval_gap_s=1.0))
    assert (ev["cal_start"] == 0).all() and (ev["tgt_start"] == 300).all() and len(ev) == len(cohort["val"].ecg_id)
    # refused: ids of two splits, a patient of two splits, an episode pairing two patients or leaving the split
    with pytest.raises(ValueError, match="exactly one split"):
        calinet.cohort_from_arrays(cohort["sig"], meta, np.r_[folds["train"][:3], folds["val"][:1]], folds, INPUTS, TARGETS, 100.0)
    two_rec = meta[meta["patient_id"].duplicated(keep=False)]
    assert len(two_rec)  # the cohort has patients with two records: move one record of one to val
    e0, e1 = two_rec.sort_values("ecg_id").groupby("patient_id")["ecg_id"].apply(list).iloc[0][:2]
    leaky = {s_: np.setdiff1d(v, [e0, e1]) for s_, v in folds.items()}
    leaky["train"], leaky["val"] = np.r_[leaky["train"], e0], np.r_[leaky["val"], e1]
    with pytest.raises(ValueError, match="in another split"):
        calinet.cohort_from_arrays(cohort["sig"], meta, leaky["train"], leaky, INPUTS, TARGETS, 100.0)
    bad = a.copy()
    j = int(np.flatnonzero(bad["tgt_ecg_id"].map(patient) != bad["tgt_ecg_id"].map(patient).iloc[0])[0])
    bad.loc[0, "cal_ecg_id"] = bad.loc[j, "tgt_ecg_id"]
    with pytest.raises(ValueError, match="two patients"):
        calinet.check_episodes(bad, tr, 200, 256)
    out = a.copy()
    out.loc[0, ["cal_ecg_id", "tgt_ecg_id"]] = int(folds["val"][0])
    with pytest.raises(ValueError, match="outside split train"):
        calinet.check_episodes(out, tr, 200, 256)
    with pytest.raises(ValueError, match="same split"):
        calinet.train_calinet(tr, tr, cohort["gl"], calinet.Settings(), seed=0, out_path=cohort["dir"] / "x.pt", **QUIET)


class Killed(Exception):
    pass


def _train(cohort, out, seed=5, hook=None, **changes):
    s = calinet.Settings(**{**TINY, **changes})
    return calinet.train_calinet(cohort["train"], cohort["val"], cohort["gl"], s, seed=seed, out_path=out, epoch_hook=hook, **QUIET)


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_seeded_training_is_reproducible_and_resumes_identically(cohort, tmp_path):
    _, a = _train(cohort, tmp_path / "a.pt")
    _, b = _train(cohort, tmp_path / "b.pt")
    assert _same(a["state_dict"], b["state_dict"])
    assert [r["val_loss"] for r in a["history"]] == [r["val_loss"] for r in b["history"]]
    assert a["history"][0]["epoch"] == 0 and len(a["history"]) == 3  # untrained (= linear map), then 2 epochs

    def kill(epoch):
        if epoch == 0:
            raise Killed

    with pytest.raises(Killed):
        _train(cohort, tmp_path / "c.pt", hook=kill)
    assert resume_path(tmp_path / "c.pt").exists() and not (tmp_path / "c.pt").exists()
    _, c = _train(cohort, tmp_path / "c.pt")
    assert not resume_path(tmp_path / "c.pt").exists()
    assert _same(a["state_dict"], c["state_dict"])
    assert [r["val_loss"] for r in a["history"]] == [r["val_loss"] for r in c["history"]]
    # training moved the weights, the checkpoint reloads to the same predictions
    _, other = _train(cohort, tmp_path / "d.pt", seed=6)
    assert not _same(a["state_dict"], other["state_dict"])
    model, ckpt, gl, s = calinet.load_calinet(tmp_path / "a.pt")
    assert ckpt["arch"] == {"channels": [4, 8], "embed_dim": 8, "kernel": 5} and s == calinet.Settings(**TINY)
    cal_x, cal_y, x, row = _test_windows(cohort["test"])
    p1 = calinet.predict(model, gl, s, x, row, cal_x, cal_y, 100.0)
    fresh = CaLiNetE.from_gl(cohort["gl"], **ckpt["arch"])
    fresh.load_state_dict(a["state_dict"])
    p2 = calinet.predict(fresh, cohort["gl"], s, x, row, cal_x, cal_y, 100.0)
    np.testing.assert_array_equal(p1["calinet"], p2["calinet"])


def test_sizes():
    default = CaLiNetE(3, 5, 2)
    source = CaLiNetE(3, 5, 2, **SOURCE_ARCH)
    assert count_params(default) < count_params(source) / 3
