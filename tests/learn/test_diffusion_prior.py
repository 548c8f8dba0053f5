"""The diffusion prior (ecgrecon.learn.diffusion.prior): leads, U-Net, training, resume, checkpoints, sampling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ecgrecon import LEADS12
from ecgrecon.data.datasets import ArtifactError, read_leads, read_segment_meta
from ecgrecon.learn.diffusion import prior
from ecgrecon.learn.diffusion.schedule import make_schedule
from ecgrecon.learn.fitloop import resume_path
from ecgrecon.learn.models import count_params
from learning_cohort import TINY_PRIOR, one_torch_thread, write_cohort  # noqa: F401 (autouse fixture)

QUIET = {"log": lambda s: None}
TINY = TINY_PRIOR
W = 64


def sinusoids(n: int, seed: int, window: int = W) -> np.ndarray:
    """(n, 8, window) sums of two sinusoids per lead, random amplitude and phase (mV-sized)."""
    rng = np.random.default_rng(seed)
    t = np.arange(window) / 100.0
    f = rng.uniform(1, 8, (n, 8, 2, 1))
    a = rng.uniform(0.1, 1.0, (n, 8, 2, 1))
    ph = rng.uniform(0, 2 * np.pi, (n, 8, 2, 1))
    return (a * np.sin(2 * np.pi * f * t + ph)).sum(axis=2).astype(np.float32)


@pytest.fixture(scope="module")
def data():
    return sinusoids(48, 0), sinusoids(16, 1)


def _train(data, out, seed=3, hook=None, **changes):
    s = prior.PriorSettings(**{**TINY, **changes})
    return prior.train_prior(*data, s, seed=seed, out_path=out, device="cpu", epoch_hook=hook, **QUIET)


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    """The reference run (module-scoped fixtures start before the autouse one-thread one: set it here too)."""
    out = tmp_path_factory.mktemp("prior") / "prior.pt"
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model, ckpt = _train(data, out)
    finally:
        torch.set_num_threads(before)
    return out, model, ckpt


def test_derive_12_follows_einthoven_and_goldberger():
    x8 = sinusoids(5, 7, 32).astype(np.float64)
    x12 = prior.derive_12(x8)
    assert x12.shape == (5, 12, 32)
    lead = {name: x12[:, i] for i, name in enumerate(LEADS12)}
    src = {name: x8[:, i] for i, name in enumerate(prior.PRIOR_LEADS)}
    for name in prior.PRIOR_LEADS:
        np.testing.assert_array_equal(lead[name], src[name])
    i, ii, iii = lead["I"], lead["II"], lead["III"]
    np.testing.assert_allclose(i + iii, ii, atol=1e-12)  # Einthoven
    np.testing.assert_allclose(lead["AVR"], -(i + ii) / 2, atol=1e-12)  # Goldberger
    np.testing.assert_allclose(lead["AVL"], (i - iii) / 2, atol=1e-12)
    np.testing.assert_allclose(lead["AVF"], (ii + iii) / 2, atol=1e-12)
    np.testing.assert_allclose(lead["AVR"] + lead["AVL"] + lead["AVF"], 0, atol=1e-12)
    t12 = prior.derive_12(torch.from_numpy(x8))
    assert isinstance(t12, torch.Tensor)
    np.testing.assert_allclose(t12.numpy(), x12, atol=1e-12)
    with pytest.raises(ValueError, match="8, W"):
        prior.derive_12(x12)


def test_untrained_unet_shapes_and_size():
    s = prior.PriorSettings()
    torch.manual_seed(0)
    model = prior.build_model(s)
    n = count_params(model)
    print(f"EpsUNet at the default settings {s.arch()}: {n} parameters")
    assert 3e5 < n < 5e6
    with torch.no_grad():
        for w in (256, 128, 512):
            out = model(torch.randn(2, 8, w), torch.tensor([0, 999]))
            assert out.shape == (2, 8, w)
        assert torch.equal(model(torch.randn(2, 8, 256), 10), torch.zeros(2, 8, 256))  # zero-initialised head
        with pytest.raises(ValueError, match="multiple of 2"):
            model(torch.randn(1, 8, 250), 3)
        with pytest.raises(ValueError, match="unconditional"):
            model(torch.randn(1, 8, 256), 3, torch.zeros(1, 5))


def test_settings_are_checked():
    for bad in (
        {"T": 1},
        {"schedule": "sqrt"},
        {"kernel": 4},
        {"heads": 3},
        {"ema": 1.0},
        {"max_steps": 0},
        {"conditional": True, "cfg_drop": 1.0},
    ):
        with pytest.raises(ValueError) as e:
            prior.PriorSettings(**bad)
        assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match="unknown"):
        prior.PriorSettings.of({"steps": 3})
    assert prior.PriorSettings.of({"channels": [8, 16], "heads": 2}).channels == (8, 16)


def test_a_training_step_lowers_the_loss_on_a_fixed_batch(data):
    s = prior.PriorSettings(**TINY)
    sched = s.make_schedule()
    torch.manual_seed(0)
    model = prior.build_model(s)
    g = torch.Generator().manual_seed(1)
    x0 = torch.from_numpy(data[0][:16] / prior.data_scale(data[0]))
    t, eps = torch.randint(s.T, (16,), generator=g), torch.randn(x0.shape, generator=g)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(4):
        loss = prior.eps_loss(model, sched, x0, t, eps)
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    final = prior.eps_loss(model, sched, x0, t, eps).item()
    assert final < losses[0] and losses == sorted(losses, reverse=True)


def test_seeded_training_is_reproducible_resumes_identically_and_samples(data, trained, tmp_path):
    out, model, a = trained
    _, b = _train(data, tmp_path / "b.pt")
    assert _same(a["state_dict"], b["state_dict"])
    assert [r["val_loss"] for r in a["history"]] == [r["val_loss"] for r in b["history"]]
    assert [r["step"] for r in a["history"]] == [10, 20]
    assert a["scale"] == pytest.approx(prior.data_scale(data[0])) and a["window"] == W and a["fs"] == 100.0
    assert a["leads"] == list(prior.PRIOR_LEADS) and a["n_params"] == count_params(model) and a["seconds"] > 0
    val = [r["val_loss"] for r in a["history"]]
    assert val[-1] < val[0] < 1.0  # below the untrained (zero-output) net's eps-MSE of about 1

    class Killed(Exception):
        pass

    def kill(chunk):
        if chunk == 0:
            raise Killed

    with pytest.raises(Killed):
        _train(data, tmp_path / "c.pt", hook=kill)
    assert resume_path(tmp_path / "c.pt").exists() and not (tmp_path / "c.pt").exists()
    _, c = _train(data, tmp_path / "c.pt")
    assert not resume_path(tmp_path / "c.pt").exists()
    assert _same(a["state_dict"], c["state_dict"])
    assert [r["val_loss"] for r in a["history"]] == [r["val_loss"] for r in c["history"]]
    _, other = _train(data, tmp_path / "d.pt", seed=4)
    assert not _same(a["state_dict"], other["state_dict"])

    # the checkpoint reloads; the same generator seed gives the same samples, in mV
    p = prior.load_prior(out, leads=prior.PRIOR_LEADS, fs=100.0, window=W)
    assert _same(p.model.state_dict(), a["state_dict"]) and p.scale == a["scale"] and p.schedule.T == TINY["T"]
    kw = {"steps": 10, "scale": p.scale, "window": W}
    s1 = prior.sample_unconditional(p.model, p.schedule, 5, generator=torch.Generator().manual_seed(9), **kw)
    s2 = prior.sample_unconditional(p.model, p.schedule, 5, generator=torch.Generator().manual_seed(9), batch=2, **kw)
    s3 = prior.sample_unconditional(p.model, p.schedule, 5, generator=torch.Generator().manual_seed(9), eta=1.0, **kw)
    assert s1.shape == (5, 8, W) and s1.dtype == np.float32 and np.isfinite(s1).all()
    # first batch: the same noise (to float32 rounding: a batch of 2 may take other CPU kernels than a batch of 5)
    np.testing.assert_allclose(s1[:2], s2[:2], rtol=1e-5, atol=1e-4)
    assert not np.array_equal(s1, s3)
    # the denoiser is the network's v turned into x0 in the scaled space, clamped to the checkpoint's x0_clip
    den = p.denoiser()
    x_t = torch.randn(3, 8, W, generator=torch.Generator().manual_seed(2))
    assert p.settings.prediction == "v" and p.ckpt["x0_clip"] > 0
    with torch.no_grad():
        sa, sn = p.schedule.coef(20, x_t)
        want = (sa * x_t - sn * p.model(x_t, 20)).clamp(-p.ckpt["x0_clip"], p.ckpt["x0_clip"])
        np.testing.assert_allclose(den(x_t, 20), want, atol=1e-6)
        assert torch.equal(den.to_mv(x_t), x_t * p.scale) and torch.equal(den.to_scaled(x_t), x_t / p.scale)


def test_load_prior_refuses_other_leads_rate_window_and_garbage(trained, tmp_path):
    out = trained[0]
    cases = [({"leads": ["I", "II", "V2"]}, "task needs leads I, II, V2"), ({"fs": 500.0}, "at 500 Hz"), ({"window": 256}, "window 256")]
    for kw, needle in cases:
        with pytest.raises(ArtifactError) as e:
            prior.load_prior(out, **kw)
        msg = str(e.value)
        assert "\n" not in msg and str(out) in msg and needle in msg and "prior trained on leads I, II, V1" in msg
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all\n\x00\x01")
    other = tmp_path / "other.pt"
    torch.save({"format": "ecgrecon-calinet-1"}, other)
    for path in (garbage, other, tmp_path / "missing.pt"):
        with pytest.raises(ArtifactError) as e:
            prior.load_prior(path)
        assert "\n" not in str(e.value) and str(path) in str(e.value)


def test_class_conditioning_and_the_cfg_null_label(data, tmp_path):
    rng = np.random.default_rng(0)
    y_train = (rng.random((len(data[0]), 5)) < 0.3).astype(np.float32)
    y_val = (rng.random((len(data[1]), 5)) < 0.3).astype(np.float32)
    with pytest.raises(ValueError, match="needs train labels"):
        _train(data, tmp_path / "x.pt", conditional=True)
    s = prior.PriorSettings(**{**TINY, "conditional": True, "max_steps": 4, "eval_every": 2})
    model, ckpt = prior.train_prior(
        *data, s, seed=1, out_path=tmp_path / "cond.pt", labels=y_train, val_labels=y_val, device="cpu", **QUIET
    )
    p = prior.load_prior(tmp_path / "cond.pt")
    assert p.model.n_classes == 5 and p.classes == ["NORM", "MI", "STTC", "CD", "HYP"]
    with torch.no_grad():
        torch.nn.init.normal_(p.model.out.weight, std=0.1)  # a non-zero head, so that labels can change the output
        for blk in p.model.modules():
            if isinstance(blk, prior.ResBlock):
                torch.nn.init.normal_(blk.conv2.weight, std=0.1)
        x_t = torch.randn(4, 8, W, generator=torch.Generator().manual_seed(0))
        lab = np.eye(5, dtype=np.float32)[[0, 1, 2, 3]]
        uncond = p.denoiser()(x_t, 30)
        cond = p.denoiser(lab)(x_t, 30)
        null = p.denoiser(lab, guidance=0.0)(x_t, 30)
        guided = p.denoiser(lab[1], guidance=3.0)(x_t, 30)  # one label row for the whole batch
    np.testing.assert_allclose(null, uncond, atol=1e-5)
    assert not torch.allclose(cond, uncond, atol=1e-4)
    assert guided.shape == x_t.shape and torch.isfinite(guided).all()
    samples = prior.sample_unconditional(
        p.model, p.schedule, 3, steps=4, generator=torch.Generator().manual_seed(1), scale=p.scale, window=W, labels=lab[:3], guidance=2.0
    )
    assert samples.shape == (3, 8, W)
    with pytest.raises(ValueError, match="unconditional"):
        prior.denoiser(trained_model := prior.build_model(prior.PriorSettings(**TINY)), make_schedule(50), 1.0, labels=lab)
    assert trained_model.n_classes == 0


def test_load_prior_windows_reads_the_eight_leads_of_a_split(tmp_path):
    seg, folds = write_cohort(tmp_path, n_records=20, seed=2)
    w = prior.load_prior_windows(seg, folds, "official", "val")
    meta, attrs = read_segment_meta(seg)
    rows = np.flatnonzero(meta["strat_fold"].to_numpy() == 9)
    assert w.x.shape == (len(rows), 8, 256) and w.fs == 100.0 and w.window == 256
    np.testing.assert_array_equal(w.x, read_leads(seg, prior.PRIOR_LEADS, rows))
    assert w.meta["ecg_id"].tolist() == meta["ecg_id"].to_numpy()[rows].tolist()
    y = w.labels()
    assert y.shape == (len(rows), 5) and set(np.unique(y)) <= {0.0, 1.0}
    with pytest.raises(ArtifactError, match="fold 'nope'"):
        prior.load_prior_windows(seg, folds, "nope", "train")


class _Fixed(torch.nn.Module):
    """A network whose output is a given tensor (the exact v or eps of known x0 and eps), to test the conversions."""

    def __init__(self, out):
        super().__init__()
        self.out, self.w = out, torch.nn.Parameter(torch.zeros(1))
        self.n_classes = 0

    def forward(self, x, t, labels=None, drop=None):
        return self.out


@pytest.mark.parametrize("prediction", ["v", "eps"])
def test_the_denoiser_inverts_the_networks_target_exactly(prediction):
    from ecgrecon.learn.diffusion.prior import Denoiser, target
    from ecgrecon.learn.diffusion.schedule import make_schedule

    sched = make_schedule(1000)
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(3, 8, 64, generator=g, dtype=torch.float64), torch.randn(3, 8, 64, generator=g, dtype=torch.float64)
    for t in (0, 500, 999):  # at t = 999 abar ~ 2e-9: x0 from v is exact where x0 from eps loses ~4 digits
        xt = sched.q_sample(x0, t, eps)
        den = Denoiser(_Fixed(target(sched, x0, t, eps, prediction)).double(), sched, 1.0, prediction=prediction)
        tol = 1e-9 if prediction == "v" or t < 999 else 1e-3
        torch.testing.assert_close(den(xt, t), x0, atol=tol, rtol=0)
        torch.testing.assert_close(den.eps(xt, t), eps, atol=1e-9, rtol=0)
    clipped = Denoiser(_Fixed(target(sched, 10 * x0, 500, eps, prediction)).double(), sched, 1.0, clip=2.0, prediction=prediction)
    assert clipped(sched.q_sample(10 * x0, 500, eps), 500).abs().max() <= 2.0  # the checkpoint's x0_clip bounds x0_hat
