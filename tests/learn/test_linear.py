"""GL (ecgrecon.learn.linear): exact recovery, ridge selection on validation, persistence, torch, files."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import torch

from ecgrecon import LEADS12
from ecgrecon.data.datasets import ArtifactError, load_folds, read_leads, read_segment_meta, split_rows
from ecgrecon.io.wfdbio import read_record
from ecgrecon.learn import linear
from learning_cohort import write_cohort as write_learning_cohort

INPUTS, TARGETS = ["I", "II", "V2"], ["V1", "V3", "V4", "V5", "V6"]


def _signals(rng, n, c, t):
    """Smooth random signals (cumulative sums of noise, centred): correlated like real leads."""
    x = np.cumsum(rng.normal(0, 0.1, (n, c, t)), axis=-1)
    return x - x.mean(axis=-1, keepdims=True) + rng.normal(0, 0.3, (n, c, 1))


def _fir_truth(x, w, b, k):
    """y_j[t] = b_j + sum_c sum_d w[j, c, d + k] x_c[clip(t + d)], by explicit loops over lags."""
    t = x.shape[-1]
    y = np.zeros((x.shape[0], w.shape[0], t)) + b[None, :, None]
    for d in range(-k, k + 1):
        idx = np.clip(np.arange(t) + d, 0, t - 1)
        y += np.einsum("jc,nct->njt", w[:, :, d + k], x[:, :, idx])
    return y


def test_recovers_exact_instantaneous_map():
    rng = np.random.default_rng(0)
    w = rng.normal(0, 1, (5, 3, 1))
    b = rng.normal(0, 0.1, 5)
    x_tr, x_va = _signals(rng, 30, 3, 256), _signals(rng, 10, 3, 256)
    gl = linear.fit(x_tr, _fir_truth(x_tr, w, b, 0), x_va, _fir_truth(x_va, w, b, 0), INPUTS, TARGETS)
    np.testing.assert_allclose(gl.weights, w, atol=1e-6)
    np.testing.assert_allclose(gl.intercept, b, atol=1e-6)
    assert gl.alpha.tolist() == [0.0] * 5
    rec = _signals(rng, 3, 3, 1000)  # whole records: the same map, any length
    np.testing.assert_allclose(gl.predict(rec), _fir_truth(rec, w, b, 0), atol=1e-5)


def test_recovers_exact_map_with_temporal_context():
    rng = np.random.default_rng(1)
    k = 2
    w = rng.normal(0, 0.5, (5, 3, 2 * k + 1))
    b = rng.normal(0, 0.1, 5)
    x_tr, x_va = _signals(rng, 40, 3, 256), _signals(rng, 10, 3, 256)
    gl = linear.fit(x_tr, _fir_truth(x_tr, w, b, k), x_va, _fir_truth(x_va, w, b, k), INPUTS, TARGETS, context=k)
    np.testing.assert_allclose(gl.weights, w, atol=1e-6)
    rec = _signals(rng, 2, 3, 1000)
    np.testing.assert_allclose(gl.predict(rec), _fir_truth(rec, w, b, k), atol=1e-5)
    assert gl.info["n_train_samples"] == 40 * (256 - 2 * k)  # fitted on interior samples only
    assert gl.info["n_val_samples"] == 10 * 256


def test_alpha_is_chosen_on_validation_and_matches_closed_form():
    rng = np.random.default_rng(2)
    k = 3
    w = rng.normal(0, 0.3, (5, 3, 2 * k + 1))
    x_tr, x_va = _signals(rng, 2, 3, 40), _signals(rng, 20, 3, 256)  # few, noisy train samples
    y_tr = _fir_truth(x_tr, w, np.zeros(5), k) + rng.normal(0, 1.0, (2, 5, 40))
    y_va = _fir_truth(x_va, w, np.zeros(5), k) + rng.normal(0, 1.0, (20, 5, 256))
    alphas = [0.0, 0.01, 0.1, 1.0, 10.0]
    gl = linear.fit(x_tr, y_tr, x_va, y_va, INPUTS, TARGETS, context=k, alphas=alphas)
    assert (gl.alpha > 0).all()  # with so few samples, shrinkage must help on validation
    # independent check: brute-force validation RMSE of each alpha from an explicit ridge solve
    xd = np.concatenate([np.stack([x_tr[n, c, k + d : 40 - k + d] for c in range(3) for d in range(-k, k + 1)], 1) for n in range(2)])
    yd = np.concatenate([y_tr[n, :, k : 40 - k].T for n in range(2)])
    mx, my = xd.mean(0), yd.mean(0)
    for i, a in enumerate(alphas):
        g = (xd - mx).T @ (xd - mx) / len(xd) + a * np.eye(xd.shape[1])
        wa = np.linalg.lstsq(g, (xd - mx).T @ (yd - my) / len(xd), rcond=None)[0]
        cand = linear.LinearMap(INPUTS, TARGETS, k, wa.T.reshape(5, 3, 2 * k + 1), my - mx @ wa, np.full(5, a))
        rmse = np.sqrt(((cand.predict(x_va) - y_va) ** 2).mean(axis=(0, 2)))
        np.testing.assert_allclose(gl.val_rmse[i], rmse, rtol=1e-6)
        chosen = np.isclose(gl.alpha, a)
        np.testing.assert_allclose(gl.weights[chosen], cand.weights[chosen], atol=1e-8)
    np.testing.assert_array_equal(gl.val_rmse.argmin(axis=0), [alphas.index(a) for a in gl.alpha])


def test_save_load_roundtrip_and_torch_agree(tmp_path):
    rng = np.random.default_rng(3)
    x, y = _signals(rng, 8, 3, 256), _signals(rng, 8, 5, 256)
    gl = linear.fit(x[:6], y[:6], x[6:], y[6:], INPUTS, TARGETS, context=1)
    gl.save(tmp_path / "gl.json")
    back = linear.load(tmp_path / "gl.json")
    np.testing.assert_array_equal(back.weights, gl.weights)
    np.testing.assert_array_equal(back.intercept, gl.intercept)
    np.testing.assert_array_equal(back.val_rmse, gl.val_rmse)
    assert back.targets == TARGETS and back.context == 1
    ref = gl.predict(x)
    xt = torch.from_numpy(x.astype(np.float32))
    np.testing.assert_allclose(linear.torch_predict(back, xt).numpy(), ref, atol=1e-4)
    anchor = linear.GLAnchor.from_map(back, "V4")
    assert not list(anchor.parameters())  # frozen: buffers only
    np.testing.assert_allclose(anchor(xt).numpy(), ref[:, 2], atol=1e-4)


def test_bad_input_is_named(tmp_path):
    rng = np.random.default_rng(4)
    x, y = _signals(rng, 4, 3, 64), _signals(rng, 4, 5, 64)
    with pytest.raises(ValueError, match="expected 3 channels"):
        linear.fit(x[:, :2], y, x, y, INPUTS, TARGETS)
    bad = x.copy()
    bad[0, 0, 5] = np.nan
    with pytest.raises(ValueError, match="train inputs: contains non-finite"):
        linear.fit(bad, y, x, y, INPUTS, TARGETS)
    with pytest.raises(ValueError, match="too short for context 40"):
        linear.fit(x, y, x, y, INPUTS, TARGETS, context=40)
    with pytest.raises(ValueError, match="alphas"):
        linear.fit(x, y, x, y, INPUTS, TARGETS, alphas=[-1.0])
    p = tmp_path / "gl.json"
    p.write_text("{not json")
    with pytest.raises(ArtifactError, match=f"{p}: invalid JSON"):
        linear.load(p)
    p.write_text(json.dumps({"format": "other"}))
    with pytest.raises(ArtifactError, match="not a valid GL map"):
        linear.load(p)
    with pytest.raises(ArtifactError, match="GL map not found"):
        linear.load(tmp_path / "missing.json")


def test_fit_from_segments_uses_only_train_and_val(tmp_path):
    seg, folds = write_learning_cohort(tmp_path, n_records=40, seed=5)
    meta, _ = read_segment_meta(seg)
    rows = split_rows(meta, load_folds(folds, "official"), seg)
    with h5py.File(seg, "r+") as f:  # poison the test split: reading it would raise
        x = f["x"][...]
        x[rows["test"]] = np.nan
        f["x"][...] = x
    gl = linear.fit_from_segments(seg, folds, "official", INPUTS, TARGETS, context=2, chunk=16, log=lambda s: None)
    tr = read_leads(seg, INPUTS + TARGETS, rows["train"])
    va = read_leads(seg, INPUTS + TARGETS, rows["val"])
    ref = linear.fit(tr[:, :3], tr[:, 3:], va[:, :3], va[:, 3:], INPUTS, TARGETS, context=2)
    np.testing.assert_allclose(gl.weights, ref.weights, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(gl.alpha, ref.alpha)
    assert gl.info["n_train_segments"] == len(rows["train"]) and gl.info["fold"] == "official"
    # the learning cohort is a per-patient lead-field mixture: GL must explain most of the variance
    pred = gl.predict(va[:, :3])
    r2 = 1 - ((pred - va[:, 3:]) ** 2).sum() / ((va[:, 3:] - va[:, 3:].mean(axis=(0, 2), keepdims=True)) ** 2).sum()
    assert r2 > 0.6


def test_real_limb_leads_follow_einthoven(shared_data):
    """On real PTB-XL records GL from I, II finds III = II - I and aVR = -(I + II) / 2 exactly."""
    root = (shared_data / "ptb-xl").resolve()
    rels = sorted(str(p.relative_to(root))[:-4] for p in root.glob("records100/*/*_lr.hea"))[:16]
    assert len(rels) == 16
    sig = np.stack([read_record(root, r).signal.T for r in rels]).astype(np.float64)  # (n, 12, 1000)
    ii, it = [LEADS12.index(k) for k in ("I", "II")], [LEADS12.index(k) for k in ("III", "AVR", "AVL", "AVF")]
    gl = linear.fit(sig[:12, ii], sig[:12, it], sig[12:, ii], sig[12:, it], ["I", "II"], ["III", "AVR", "AVL", "AVF"])
    want = np.array([[-1.0, 1.0], [-0.5, -0.5], [1.0, -0.5], [-0.5, 1.0]])
    np.testing.assert_allclose(gl.weights[:, :, 0], want, atol=1e-3)  # 1 uV quantisation
    assert gl.val_rmse.min(axis=0).max() < 1e-3


def test_load_checked_refuses_a_map_of_other_inputs_or_another_fold(tmp_path):
    rng = np.random.default_rng(4)
    x, y = _signals(rng, 8, 3, 256), _signals(rng, 8, 5, 256)
    gl = linear.fit(x[:6], y[:6], x[6:], y[6:], INPUTS, TARGETS, context=1)
    gl.info["fold"] = "official"
    gl.save(tmp_path / "gl.json")
    assert linear.load_checked(tmp_path / "gl.json", "official", INPUTS).targets == TARGETS
    with pytest.raises(ArtifactError, match="GL map inputs .* differ from the expected inputs"):
        linear.load_checked(tmp_path / "gl.json", "official", ["I"])
    with pytest.raises(ArtifactError, match="GL map was fitted on fold 'official', expected 'cv0'"):
        linear.load_checked(tmp_path / "gl.json", "cv0", INPUTS)
