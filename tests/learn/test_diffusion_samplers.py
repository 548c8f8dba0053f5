"""Posterior samplers on a linear-Gaussian toy, against the closed form.

Prior x ~ N(mu, Sigma) on one (2, 3) "ECG" (2 leads x 3 samples, d = 6), Sigma a fixed random SPD matrix. The exact
denoiser is E[x0 | x_t] = mu + sqrt(ab) Sigma (ab Sigma + (1 - ab) I)^{-1} (x_t - sqrt(ab) mu), and the posterior of
x given y_o = x_o + sigma_y n is Gaussian with mean mu + S_xo (S_oo + sigma_y^2 I)^{-1} (y_o - mu_o) and covariance
Sigma - S_xo (S_oo + sigma_y^2 I)^{-1} S_ox. Two cases: a lead mask (lead 0 observed exactly, sigma_y = 0) and a noisy
observation of 5 of the 6 coordinates (sigma_y = 0.4). Tolerances are set from measured errors (in the comments of
CASES): DDNM and MGPS are approximate and DPS is biased, so each bound sits well above the measured error (MC
standard error 0.02 - 0.04), and every error must also stay below 0.65 x the prior-to-posterior shift of the mean
(the guidance must do the work). Deliberate sign / schedule-term breakages make these tests fail.
"""

import math

import pytest
import torch

from ecgrecon.learn.diffusion.samplers import Observation, sample
from ecgrecon.learn.diffusion.schedule import make_schedule

SHAPE = (2, 3)
D = math.prod(SHAPE)
SCHED = make_schedule(1000, "cosine")
STEPS = 50


@pytest.fixture(autouse=True, scope="module")
def _flush_denormals():
    """Speed only: float64 subnormals in the toy's autograd make MGPS ~10x slower on some CPUs."""
    torch.set_flush_denormal(True)
    yield
    torch.set_flush_denormal(False)


def _prior():
    g = torch.Generator().manual_seed(0)
    q, _ = torch.linalg.qr(torch.randn(D, D, generator=g, dtype=torch.float64))
    sigma = q @ torch.diag(torch.linspace(0.3, 2.0, D, dtype=torch.float64)) @ q.T
    return 0.5 * torch.randn(D, generator=g, dtype=torch.float64), sigma


MU, SIGMA = _prior()


def denoiser(x: torch.Tensor, t: int) -> torch.Tensor:
    ab = float(SCHED.abar[t])
    m = math.sqrt(ab) * SIGMA @ torch.linalg.inv(ab * SIGMA + (1 - ab) * torch.eye(D, dtype=torch.float64))
    return (MU + (x.reshape(-1, D) - math.sqrt(ab) * MU) @ m.T).reshape(x.shape)


def _case(name: str) -> tuple[Observation, torch.Tensor, torch.Tensor]:
    """(observation, posterior mean (D,), posterior covariance (D, D))."""
    g = torch.Generator().manual_seed(1)
    x = MU + torch.linalg.cholesky(SIGMA) @ torch.randn(D, generator=g, dtype=torch.float64)
    mask = torch.zeros(SHAPE, dtype=torch.bool)
    if name == "lead":
        mask[0], sigma_y = True, 0.0
    else:
        mask[:], mask[1, 2], sigma_y = True, False, 0.4
    y = torch.where(mask, x.reshape(SHAPE) + sigma_y * torch.randn(SHAPE, generator=g, dtype=torch.float64), 0.0)
    o = mask.flatten()
    gain = SIGMA[:, o] @ torch.linalg.inv(SIGMA[o][:, o] + sigma_y**2 * torch.eye(int(o.sum()), dtype=torch.float64))
    return Observation(mask, y, sigma_y), MU + gain @ (y.flatten()[o] - MU[o]), SIGMA - gain @ SIGMA[o]


# method, options, case, K, tolerance on max |mean - posterior mean| (measured error in the comment)
CASES = [
    ("ddnm", {}, "lead", 2000, 0.25),  # 0.138: replacement is not the exact conditional, bias steady in `steps`
    ("ddnm", {}, "noisy", 2000, 0.25),  # 0.12
    ("dps", {"zeta": 0.3}, "lead", 2000, 0.2),  # 0.076
    ("dps", {"zeta": 0.3}, "noisy", 2000, 0.3),  # 0.14
    ("mgps", {}, "lead", 1000, 0.2),  # 0.076
    ("mgps", {}, "noisy", 1000, 0.35),  # 0.22: 3 Adam steps at lr 0.03 under-fit the midpoint posterior
]


@pytest.mark.parametrize(("method", "options", "case", "K", "tol"), CASES, ids=[f"{c[0]}-{c[2]}" for c in CASES])
def test_posterior_mean_matches_closed_form(method, options, case, K, tol):
    obs, mean, cov = _case(case)
    out = sample(method, denoiser, SCHED, obs, K, steps=STEPS, generator=torch.Generator().manual_seed(2), **options)
    assert out["samples"].shape == (K, *SHAPE) and out["mean"].shape == SHAPE
    err = (out["mean"].flatten() - mean).abs().max().item()
    shift = (mean - MU).abs().max().item()  # how far the observation moves the mean
    assert err < tol, f"{method}/{case}: max mean error {err:.3f} >= {tol}"
    assert err < 0.65 * shift, f"{method}/{case}: error {err:.3f} not well below the prior-to-posterior shift {shift:.3f}"
    assert out["nfe"] >= STEPS and out["seconds"] > 0


@pytest.mark.parametrize("case", ["lead", "noisy"])
def test_ddnm_posterior_std(case):
    obs, _, cov = _case(case)
    out = sample("ddnm", denoiser, SCHED, obs, 2000, steps=STEPS, generator=torch.Generator().manual_seed(3))
    free = cov.diagonal() > 1e-12  # sigma_y = 0: observed coordinates have no spread (exact replacement)
    ratio = out["std"].flatten()[free] / cov.diagonal()[free].sqrt()
    assert ((ratio > 0.8) & (ratio < 1.25)).all(), ratio  # measured 0.91 .. 1.07


def test_ddnm_reproduces_observed_leads_exactly():
    obs, _, _ = _case("lead")
    out = sample("ddnm", denoiser, SCHED, obs, 64, steps=20, generator=torch.Generator().manual_seed(4))
    assert torch.equal(out["samples"][:, obs.mask], obs.y[obs.mask].expand(64, -1))


def test_unguided_dps_samples_the_prior():
    """zeta = 0: the plain ancestral (DDPM) sampler; catches a wrong schedule term in the shared DDIM step."""
    obs, _, _ = _case("lead")
    out = sample("dps", denoiser, SCHED, obs, 4000, steps=STEPS, generator=torch.Generator().manual_seed(5), zeta=0.0)
    x = out["samples"].reshape(-1, D)
    assert (x.mean(0) - MU).abs().max() < 0.1  # measured 0.03
    assert (torch.cov(x.T) - SIGMA).abs().max() < 0.15


@pytest.mark.parametrize("method", ["ddnm", "dps", "mgps"])
def test_same_seed_same_samples(method):
    obs, _, _ = _case("noisy")
    a, b, c = (sample(method, denoiser, SCHED, obs, 8, steps=10, generator=torch.Generator().manual_seed(s)) for s in (7, 7, 8))
    assert torch.equal(a["samples"], b["samples"]) and not torch.equal(a["samples"], c["samples"])


def test_empty_mask_and_bad_k_raise():
    y = torch.zeros(SHAPE, dtype=torch.float64)
    with pytest.raises(ValueError, match="observation operator observes no lead"):
        Observation(torch.zeros(SHAPE, dtype=torch.bool), y, 0.0)
    obs = Observation(torch.ones(SHAPE, dtype=torch.bool), y, 0.1)
    with pytest.raises(ValueError, match="K must be >= 1"):
        sample("ddnm", denoiser, SCHED, obs, 0, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="method must be one of"):
        sample("nope", denoiser, SCHED, obs, 1, generator=torch.Generator().manual_seed(0))


def _noisy_case(sigma_y: float, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(mask, y, posterior mean) of the noisy case at another noise level and draw."""
    g = torch.Generator().manual_seed(seed)
    x = MU + torch.linalg.cholesky(SIGMA) @ torch.randn(D, generator=g, dtype=torch.float64)
    mask = torch.ones(SHAPE, dtype=torch.bool)
    mask[1, 2] = False
    y = torch.where(mask, x.reshape(SHAPE) + sigma_y * torch.randn(SHAPE, generator=g, dtype=torch.float64), 0.0)
    o = mask.flatten()
    gain = SIGMA[:, o] @ torch.linalg.inv(SIGMA[o][:, o] + sigma_y**2 * torch.eye(int(o.sum()), dtype=torch.float64))
    return mask, y, MU + gain @ (y.flatten()[o] - MU[o])


@pytest.mark.parametrize(("method", "options", "tol"), [("ddnm", {}, 0.25), ("dps", {"zeta": 0.3}, 0.3), ("mgps", {}, 0.35)])
def test_a_batch_of_problems_with_their_own_noise_levels(method, options, tol):
    """Windows stacked as independent problems (event_dims), each with its own sigma_y: each posterior mean is its own."""
    cases = [_noisy_case(0.4, 1), _noisy_case(0.25, 1)]  # same draw, other noise: mgps under-fits far-off observations
    obs = Observation(
        torch.stack([c[0] for c in cases]), torch.stack([c[1] for c in cases]), torch.tensor([0.4, 0.25]).reshape(2, 1, 1), event_dims=2
    )
    out = sample(method, denoiser, SCHED, obs, 1000, steps=STEPS, generator=torch.Generator().manual_seed(12), **options)
    assert out["samples"].shape == (1000, 2, *SHAPE)
    for b, (_, _, mean) in enumerate(cases):
        err = (out["mean"][b].flatten() - mean).abs().max().item()
        assert err < tol, f"{method} problem {b}: max mean error {err:.3f} >= {tol}"
    with pytest.raises(ValueError, match="does not broadcast"):
        Observation(obs.mask, obs.y, torch.ones(4), event_dims=2)
