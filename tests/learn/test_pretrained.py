"""Pre-trained, then fine-tuned methods (ecgrecon.methods.pretrained): the ridge prior toward a pre-trained GL map,
encoders and decoders that start from pre-trained weights, and fine-tuning that never reads the test fold."""

import json
import shutil

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

from defaults import section
from ecgrecon.data.datasets import ArtifactError, read_segment_meta
from ecgrecon.learn import linear
from ecgrecon.learn.reps import extract_reps
from ecgrecon.learn.train_decoder import load_decoder, train_decoder
from ecgrecon.learn.train_encoder import train_encoder
from learning_cohort import one_torch_thread, write_cohort  # noqa: F401 (autouse fixture)

INPUTS = ["I", "II", "V2"]
ENC = section(
    "encoder",
    **{
        "embed_dim": 16,
        "proj_dim": 8,
        "width": 4,
        "temperature": 0.1,
        "batch_size": 40,
        "lr": 0.003,
        "max_epochs": 2,
        "patience": 5,
        "augment": {"scale": [0.8, 1.2], "noise_mv": 0.02, "wander_mv": 0.1, "max_shift": 8},
    },
)
DEC = section(
    "decoder",
    **{"proj": 8, "hidden": 8, "stride": 4, "out_channels": 4, "batch_size": 32, "max_epochs": 2, "patience": 5, "epoch_fraction": 1.0},
)
QUIET = {"log": lambda m: None}


# ---- GL with a ridge prior -----------------------------------------------------------------------------------
def _linear_problem(rng, n, w_true, noise=0.05):
    x = rng.normal(0, 1, (n, 2, 64))
    y = np.einsum("jc,nct->njt", w_true, x) + 0.3 + rng.normal(0, noise, (n, w_true.shape[0], 64))
    return x, y


def test_ridge_prior_solves_its_normal_equations_and_reaches_both_limits():
    rng = np.random.default_rng(0)
    w_true = np.array([[1.0, -0.5], [0.2, 0.8]])
    x, y = _linear_problem(rng, 30, w_true)
    prior = linear.fit(x, y, x, y, ["a", "b"], ["c", "d"], alphas=[0.0])
    prior.weights = prior.weights + 0.3  # a pre-trained map that is off by 0.3 everywhere
    prior.intercept = prior.intercept * 0
    plain = linear.fit(x, y, x, y, ["a", "b"], ["c", "d"], alphas=[0.0])
    for a in (0.5, 1e7):
        m = linear.fit_streams([(x, y)], [(x, y)], ["a", "b"], ["c", "d"], alphas=[a], prior=prior)
        ne = linear.accumulate([(x, y)], 0, 2, 2)
        g, c, _, _ = ne.centred()
        w0 = prior.flat_weights()
        np.testing.assert_allclose((g + a * np.eye(2)) @ m.flat_weights(), c + a * w0, rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(m.weights, prior.weights, atol=1e-5)  # alpha -> infinity: the prior's weights
    zero = linear.fit_streams([(x, y)], [(x, y)], ["a", "b"], ["c", "d"], alphas=[0.0], prior=prior)
    np.testing.assert_allclose(zero.weights, plain.weights, atol=1e-12)  # alpha 0: least squares, prior ignored


def test_ridge_prior_wins_on_few_samples_when_the_prior_is_close():
    """The reason for GLPT: a handful of real records, a pre-trained map near the truth -> lower held-out error than
    GL, with a strong penalty chosen on the validation split."""
    rng = np.random.default_rng(1)
    w_true = rng.normal(0, 1, (3, 2))
    x_tr, y_tr = _linear_problem(rng, 2, w_true, noise=0.8)
    x_va, y_va = _linear_problem(rng, 4, w_true, noise=0.8)
    x_te, y_te = _linear_problem(rng, 200, w_true, noise=0.8)
    near = linear.fit(*_linear_problem(rng, 400, w_true, noise=0.1), *_linear_problem(rng, 40, w_true, noise=0.1), "ab", "cde")
    near.inputs, near.targets = ["a", "b"], ["c", "d", "e"]
    alphas = [0.0, 1e-2, 1.0, 100.0]
    gl = linear.fit(x_tr, y_tr, x_va, y_va, ["a", "b"], ["c", "d", "e"], alphas=alphas)
    pt = linear.fit_streams([(x_tr, y_tr)], [(x_va, y_va)], ["a", "b"], ["c", "d", "e"], alphas=alphas, prior=near)

    def rmse(m):
        return float(np.sqrt(np.mean((m.predict(x_te) - y_te) ** 2)))

    assert rmse(pt) < rmse(gl)
    assert pt.alpha.min() > 0


def test_prior_of_other_leads_or_context_is_refused(tmp_path):
    rng = np.random.default_rng(2)
    x, y = _linear_problem(rng, 10, np.eye(2))
    prior = linear.fit(x, y, x, y, ["I", "II"], ["V1", "V2"])
    with pytest.raises(ArtifactError, match=r"prior map: map is \['I', 'II'\] -> \['V1', 'V2'\] \(context 0\), expected"):
        linear.fit_streams([(x, y)], [(x, y)], ["I", "V2"], ["V1", "V2"], prior=prior)
    with pytest.raises(ArtifactError, match="context 2"):
        linear.fit_streams([(x, y)], [(x, y)], ["I", "II"], ["V1", "V2"], context=2, prior=prior)


# ---- encoder and decoders started from pre-trained weights ---------------------------------------------------
@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """A 'pre-training run' on one cohort: encoder, reps, C-h and ChA decoders of V1, GL map."""
    root = tmp_path_factory.mktemp("pretrain")
    seg, folds = write_cohort(root / "data", n_records=60, seed=5)
    train_encoder(
        seg, folds, root / "encoder.pt", root / "log.csv", root / "loss.png", inputs=INPUTS, level="superclass", cfg=ENC, seed=1, **QUIET
    )
    extract_reps(seg, folds, root / "encoder.pt", root / "reps.h5", device="cpu", **QUIET)
    gl = linear.fit_from_segments(seg, folds, "official", INPUTS, ["V1"], context=2, **QUIET)
    gl.save(root / "GL.json")
    for v in ("Ch", "ChA"):
        train_decoder(seg, folds, root / "reps.h5", root / f"{v}.pt", root / f"{v}_val.csv", variant=v, fold="official", lead="V1",
                      inputs=INPUTS, cfg=DEC, seed=2, gl_path=root / "GL.json", **QUIET)  # fmt: skip
    return root, seg, folds


def _finetune(pre, seg, folds, reps, out, variant, cfg=DEC, gl=None):
    return train_decoder(seg, folds, reps, out / f"{variant}.pt", out / f"{variant}_val.csv", variant=variant, fold="official",
                         lead="V1", inputs=INPUTS, cfg=cfg, seed=2, gl_path=gl, init=pre, **QUIET)  # fmt: skip


def test_fine_tuning_starts_from_the_pretrained_weights(pretrained, tmp_path):
    """Epoch 0 of a fine-tuning curve scores the untrained step: on the pre-training data it is the pre-trained model's
    own best validation loss, to the last bit; a random start would not give it."""
    root, seg, folds = pretrained
    enc = train_encoder(seg, folds, tmp_path / "encoder.pt", tmp_path / "log.csv", tmp_path / "loss.png", inputs=INPUTS,
                        level="superclass", cfg=ENC, seed=1, init=root / "encoder.pt", **QUIET)  # fmt: skip
    pre_enc = torch.load(root / "encoder.pt", weights_only=True)
    log = pd.read_csv(tmp_path / "log.csv")
    assert log["epoch"].iloc[0] == 0 and log["val_loss"].iloc[0] == pytest.approx(pre_enc["best_val_loss"], abs=1e-7)
    assert enc["init"]["sha256"] and enc["epochs_run"] == ENC["max_epochs"]
    _finetune(root / "Ch.pt", seg, folds, root / "reps.h5", tmp_path, "ChPT")
    pre = torch.load(root / "Ch.pt", weights_only=True)
    curve = pd.read_csv(tmp_path / "ChPT_val.csv")
    assert curve["epoch"].iloc[0] == 0 and curve["val_loss"].iloc[0] == pytest.approx(pre["best_val_loss"], abs=1e-7)
    random_start = pd.read_csv(root / "Ch_val.csv")["val_loss"].iloc[0]  # Ch's first trained epoch, far from its best
    assert curve["val_loss"].iloc[0] < random_start
    _, ckpt = load_decoder(tmp_path / "ChPT.pt")
    assert ckpt["init"]["path"] == str(root / "Ch.pt") and ckpt["variant"] == "ChPT"
    # ChA-PT keeps this run's anchor (here another GL map), not the pre-training run's
    other = linear.load(root / "GL.json")
    other.weights = other.weights * 0.5
    other.save(tmp_path / "GLPT.json")
    _finetune(root / "ChA.pt", seg, folds, root / "reps.h5", tmp_path, "ChAPT", gl=tmp_path / "GLPT.json")
    model, _ = load_decoder(tmp_path / "ChAPT.pt")
    np.testing.assert_allclose(model.anchor.weight[0].numpy(), other.weights[0], rtol=1e-6)
    pre_cha = torch.load(root / "ChA.pt", weights_only=True)["state_dict"]
    assert not torch.equal(model.anchor.weight, pre_cha["anchor.weight"])


def test_fine_tuning_never_reads_the_test_fold(pretrained, tmp_path):
    """Test-fold segments replaced by NaN in a copy of segments.h5: the fine-tuned GL-PT, encoder and C-h-PT are
    identical to those fine-tuned on the intact file."""
    root, seg, folds = pretrained
    poisoned = tmp_path / "segments.h5"
    shutil.copy(seg, poisoned)
    test_ids = set(json.loads(folds.read_text())["folds"]["official"]["test"])
    meta, _ = read_segment_meta(seg)
    rows = np.flatnonzero(meta["ecg_id"].isin(test_ids).to_numpy())
    assert len(rows) > 0
    with h5py.File(poisoned, "r+") as f:
        x = f["x"][...]
        x[rows] = np.nan
        f["x"][...] = x
    for name, s in (("clean", seg), ("poisoned", poisoned)):
        out = tmp_path / name
        out.mkdir()
        linear.fit_from_segments(s, folds, "official", INPUTS, ["V1"], context=2, prior_path=root / "GL.json", **QUIET).save(
            out / "GLPT.json"
        )
        train_encoder(s, folds, out / "encoder.pt", out / "log.csv", out / "loss.png", inputs=INPUTS, level="superclass", cfg=ENC,
                      seed=1, init=root / "encoder.pt", **QUIET)  # fmt: skip
        _finetune(root / "Ch.pt", s, folds, root / "reps.h5", out, "ChPT")
    a, b = (json.loads((tmp_path / n / "GLPT.json").read_text()) for n in ("clean", "poisoned"))
    assert a["weights"] == b["weights"] and a["info"]["prior"]["path"] == str(root / "GL.json")
    for f in ("encoder.pt", "ChPT.pt"):
        ca, cb = (torch.load(tmp_path / n / f, weights_only=True) for n in ("clean", "poisoned"))
        sa, sb = (c.get("state_dict", c.get("encoder")) for c in (ca, cb))
        assert all(torch.equal(sa[k], sb[k]) for k in sa), f


def test_a_pretrained_checkpoint_of_another_method_lead_or_arch_is_refused(pretrained, tmp_path):
    root, seg, folds = pretrained
    with pytest.raises(ArtifactError, match=r"ChA.pt: pre-trained checkpoint is ChA \['I', 'II', 'V2'\] -> V1, ChPT needs Ch"):
        _finetune(root / "ChA.pt", seg, folds, root / "reps.h5", tmp_path, "ChPT")
    wide = {**DEC, "hidden": 16}
    with pytest.raises(ArtifactError, match=r"Ch.pt: pre-trained decoder has arch .* pre-train with the same `decoder` settings"):
        _finetune(root / "Ch.pt", seg, folds, root / "reps.h5", tmp_path, "ChPT", cfg=wide)
    with pytest.raises(ArtifactError, match=r"encoder.pt: pre-trained encoder reads \['I', 'II', 'V2'\], this run's task reads \['I'\]"):
        train_encoder(seg, folds, tmp_path / "e.pt", tmp_path / "l.csv", tmp_path / "p.png", inputs=["I"], level="superclass",
                      cfg=ENC, seed=1, init=root / "encoder.pt", **QUIET)  # fmt: skip
    with pytest.raises(ValueError, match="variant ChPT starts from a pre-trained Ch checkpoint"):
        _finetune(None, seg, folds, root / "reps.h5", tmp_path, "ChPT")
