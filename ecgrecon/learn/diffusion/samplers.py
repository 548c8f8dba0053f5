"""Posterior samplers for a diffusion prior: DDNM data consistency, DPS and MGPS (issue #16, part 2).

Setting. The prior is a variance-preserving diffusion (:mod:`.schedule`): x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps,
given through a *denoiser* ``D(x_t, t) = E[x0 | x_t]``. The observation is a coordinate mask with additive Gaussian
noise, y = mask * (x + sigma_y n) (:class:`Observation`): a lead mask (leads observed, others missing), a sample mask,
or plain denoising (mask all True, sigma_y > 0). The target is p(x | y) proportional to p(x) g(x) with the potential
g(x) = N(y_o; x_o, sigma_y^2 I) on the observed coordinates o (a hard constraint x_o = y_o when sigma_y = 0).

Time grid. ``steps`` indices tau_0 = 0 < tau_1 < ... < tau_{N-1} = T - 1 (rounded linspace). Sampling starts at
x_{T-1} ~ N(0, I), moves tau_i -> tau_{i-1}, and returns the denoised D(x_0, 0) (modified by DDNM's projection),
so every sampler costs ``steps`` denoiser calls plus its guidance overhead; ``nfe`` counts forward calls per sample
and ``nvjp`` backward passes (vector-Jacobian products through the denoiser) per sample.

Kernels used below, written for noise levels a_lo > a_mid > a_hi (abar values; a = 1 is clean data):

- the forward bridge q(x_mid | x_lo, x_hi) of the VP chain x_lo -> x_mid -> x_hi, with r_ml = a_mid / a_lo,
  r_hm = a_hi / a_mid, r_hl = a_hi / a_lo:
  mean = [sqrt(r_ml) (1 - r_hm) x_lo + sqrt(r_hm) (1 - r_ml) x_hi] / (1 - r_hl), var = (1 - r_ml)(1 - r_hm) / (1 - r_hl)
  (the DDPM posterior q(x_{t-1} | x_t, x0) is the case a_lo = 1);
- the DDIM step (Song et al. 2021) t -> s from a clean estimate x0: eps = (x_t - sqrt(abar_t) x0) / sqrt(1 - abar_t),
  x_s = sqrt(abar_s) x0 + sqrt(1 - abar_s - sig^2) eps + sig z, sig = eta sqrt((1 - abar_s)/(1 - abar_t)
  (1 - abar_t/abar_s)); eta = 1 is the DDPM ancestral step (= the bridge with a_lo = 1), eta = 0 deterministic DDIM.

Methods.

1. ``ddnm`` (Wang et al. 2023, DDNM / DDNM+; RePaint-style data consistency, gradient free). Each step computes
   x0 = D(x_t, t), corrects it in the range of the mask, x0' = x0 - lam (mask * (x0 - y)), and takes the DDIM step
   from x0' (the eps is recomputed from x0', i.e. the step samples q(x_s | x_t, x0') for eta = 1). With sigma_y = 0,
   lam = 1: the observed part of x0 is replaced by y (so the observed part of x_s follows the exact forward bridge
   from y), and the returned samples are D(x_0, 0) with the observed coordinates set to y, so they reproduce y
   exactly. With sigma_y > 0, two options. ``noisy="gain"`` (default, a scaled projection): x0' = x0 - gam
   (mask * (x0 - y)), gam = r2 / (r2 + sigma_y^2), r2 = p (1 - abar_t) / (abar_t p + 1 - abar_t) the variance of x0
   given x_t for an isotropic prior of variance p = ``prior_var`` (1: standardised data; the PiGDM choice), i.e.
   the per-coordinate Kalman update of x0 by y; it reduces to the replacement when sigma_y = 0, and on the toy
   it keeps the posterior spread. ``noisy="ddnm+"`` (DDNM+): the correction carries the noise of y into x_s with std c lam sigma_y, c the
   coefficient of x0' in the step (c = sqrt(abar_s) - sqrt(1 - abar_s - sig^2) sqrt(abar_t / (1 - abar_t))), so
   lam = min(1, sig / (c sigma_y)) and the fresh noise on the observed coordinates is reduced to
   sqrt(sig^2 - (c lam sigma_y)^2); unobserved coordinates keep std sig. (DDNM+ writes the reduced noise as one
   scalar for the whole vector; it only applies to the range of the operator, so here it acts on the observed
   coordinates only.) The last step has no noise left, so no correction is applied there for sigma_y > 0. DDNM+ also
   proposes "time travel" (re-noising loops); not implemented. Default eta = 1: DDNM+ needs sig > 0 to let any
   noisy information in.

2. ``dps`` (Chung et al. 2023, Algorithm 1 with their step-size rule): x0 = D(x_t, t) with autograd, the DDIM step
   from x0 (default eta = 1, the ancestral sampler of the paper) gives x_s', and
   x_s = x_s' - zeta grad_{x_t} ||y - mask * x0(x_t)||_2 (the norm, not its square: the paper's zeta_t = zeta' /
   ||y - A x0|| applied to the squared norm is the same thing up to a factor 2). ``zeta`` is the step size (default
   1.0, the paper's image value; it must be tuned per prior and data scale). sigma_y is not used (DPS folds it
   into zeta). One backward pass per step. The norm is taken per sample, so the K samples are independent.

3. ``mgps`` (Moufad et al., ICLR 2025, "Variational diffusion posterior sampling with midpoint guidance",
   Algorithm 1). For each step t -> s, a midpoint ell = floor(eta_mid * s) (default eta_mid = 0.5) is chosen and the
   posterior transition is decomposed as p(x_s | x_t, y) = int q(x_s | x_ell, x_t) pi(x_ell | x_t, y) dx_ell, with
   pi(x_ell | x_t, y) proportional to p_hat(x_ell | x_t) g_ell(x_ell), where
   - p_hat(x_ell | x_t) = q(x_ell | x0 = D(x_t, t), x_t): the Gaussian DDPM-type prior transition (bridge with
     a_lo = 1, a_mid = abar_ell, a_hi = abar_t), mean m and isotropic variance v;
   - g_ell(x_ell) = g(D(x_ell, ell)): the DPS-type likelihood approximation, but at the midpoint ell < s.
   pi is fitted by a mean-field Gaussian lambda = N(mu, diag(exp(2 rho))) minimising
   KL(lambda || p_hat) - E_lambda[log g(D(x_ell, ell))]: the KL in closed form, the expectation with one
   reparametrised draw x_ell = mu + exp(rho) z per iteration, ``grad_steps`` Adam iterations (default 3, lr 0.03:
   the handful of steps and the learning rate of the paper's experiments). The initial lambda is
   q(x_ell | x0_prev, x_t) with x0_prev = D(x_ell', ell') at the previous step's midpoint draw (the paper's warm
   start; at the first step x0_prev = D(x_t, t)), its std sqrt(v). Then x_ell ~ lambda and x_s is drawn from the
   DDPM bridge q(x_s | x_ell, x_t) (x_s = x_ell when ell = s). log g(x) = -||mask (y - x)||^2 / (2 s_eff^2),
   s_eff = max(sigma_y, ``sigma_floor``): the exact constraint sigma_y = 0 has no finite log-likelihood, so it is
   relaxed to a narrow Gaussian (default floor 0.05 in data units; with Adam the step length hardly depends on that
   scale, the floor only weights the likelihood against the KL). Simplifications against the paper's code: no
   extra variational step towards t = 1 near the end ("warm start" threshold of the authors' repository), a fixed
   number of Adam steps at every diffusion step, and the samples are D(x_0, 0) (the observed coordinates are not
   overwritten). Cost per step: 1 (D at x_t) + grad_steps (forward + backward at ell) + 1 (D at the drawn
   midpoint, for the next warm start).

All randomness comes from the ``generator`` argument (no global RNG): the same seed gives identical samples. K
samples are drawn as one batch (or in chunks of ``batch_size``); the denoiser must treat batch rows independently.
Code is dtype-generic (the tests run it in float64); the dtype and device are those of ``obs.y``.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable

import torch

from ecgrecon.learn.diffusion.schedule import Schedule

METHODS = ("ddnm", "dps", "mgps")

Denoiser = Callable[[torch.Tensor, int], torch.Tensor]


@dataclasses.dataclass(frozen=True)
class Observation:
    """y = mask * (x + sigma_y n): ``mask`` (bool, the shape of one sample) marks observed coordinates, ``y`` holds
    their values (ignored where mask is False), ``sigma_y`` >= 0 the std of the additive noise (0: exact)."""

    mask: torch.Tensor
    y: torch.Tensor
    sigma_y: float | torch.Tensor = 0.0  # a float, or a tensor broadcastable to the shape (per window / lead noise)
    event_dims: int | None = None  # trailing dims of one independent problem (None: all); e.g. 2 for (n, C, W) windows

    def __post_init__(self) -> None:
        if self.mask.dtype != torch.bool:
            raise ValueError(f"observation mask must be a bool tensor, got {self.mask.dtype}")
        if tuple(self.mask.shape) != tuple(self.y.shape):
            raise ValueError(f"observation mask {tuple(self.mask.shape)} and y {tuple(self.y.shape)} differ in shape")
        if not bool(self.mask.any()):
            raise ValueError("observation operator observes no lead (mask is all False): nothing to condition on")
        sig = torch.as_tensor(self.sigma_y, dtype=torch.float64)
        if not (bool(torch.isfinite(sig).all()) and bool((sig >= 0).all())):
            raise ValueError(f"sigma_y must be finite and >= 0, got {self.sigma_y}")
        if torch.is_tensor(self.sigma_y):
            try:
                torch.broadcast_shapes(tuple(self.sigma_y.shape), tuple(self.y.shape))
            except RuntimeError:
                raise ValueError(f"sigma_y {tuple(self.sigma_y.shape)} does not broadcast to y {tuple(self.y.shape)}") from None
            object.__setattr__(self, "sigma_y", self.sigma_y.to(self.y.dtype).to(self.y.device))
        if self.event_dims is not None and not 1 <= self.event_dims <= self.y.dim():
            raise ValueError(f"event_dims must be in [1, {self.y.dim()}], got {self.event_dims}")
        if not torch.is_floating_point(self.y):
            raise ValueError(f"observation y must be a floating tensor, got {self.y.dtype}")

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.y.shape)

    @property
    def exact(self) -> bool:
        """No observation noise anywhere (sigma_y == 0): the observed coordinates are constraints."""
        return bool((torch.as_tensor(self.sigma_y) == 0).all())

    def problem_norms(self, r: torch.Tensor) -> torch.Tensor:
        """L2 norm of a batch r (n, *shape) per independent problem: over the last ``event_dims`` dims."""
        k = r.dim() - 1 if self.event_dims is None else self.event_dims
        return r.flatten(-k).norm(dim=-1)

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        """mask * (x - y) for a batch x (n, *shape): zero on the unobserved coordinates."""
        return torch.where(self.mask, x - self.y, torch.zeros((), dtype=x.dtype, device=x.device))


class Stacked:
    """A prior's denoiser (it takes (B, 8, W)) on samples of stacked windows (K, n, 8, W)."""

    def __init__(self, den):
        self.den = den

    def __call__(self, x: torch.Tensor, t) -> torch.Tensor:
        return self.den(x.reshape(-1, *x.shape[-2:]), t).reshape(x.shape)


def timesteps(schedule: Schedule, steps: int) -> list[int]:
    """Increasing grid 0 = tau_0 < ... < tau_{N-1} = T - 1 of ``steps`` (distinct, rounded) indices."""
    if steps < 2:
        raise ValueError(f"steps must be >= 2, got {steps}")
    if steps > schedule.T:
        raise ValueError(f"steps must be <= T = {schedule.T}, got {steps}")
    grid = torch.linspace(0, schedule.T - 1, steps, dtype=torch.float64).round().long().unique()
    return [int(t) for t in grid]


def bridge(x_lo: torch.Tensor, x_hi: torch.Tensor, a_lo: float, a_mid: float, a_hi: float) -> tuple[torch.Tensor, float]:
    """Mean and std of the VP forward bridge q(x_mid | x_lo, x_hi) for abar levels a_lo > a_mid > a_hi."""
    r_ml, r_hm, r_hl = a_mid / a_lo, a_hi / a_mid, a_hi / a_lo
    mean = (math.sqrt(r_ml) * (1 - r_hm) * x_lo + math.sqrt(r_hm) * (1 - r_ml) * x_hi) / (1 - r_hl)
    return mean, math.sqrt(max((1 - r_ml) * (1 - r_hm) / (1 - r_hl), 0.0))


def ddim_coefficients(a_t: float, a_s: float, eta: float) -> tuple[float, float, float]:
    """(c_x0, c_xt, sig) of the DDIM step x_s = c_x0 x0 + c_xt x_t + sig z for abar_t < abar_s, noise scale eta."""
    sig = eta * math.sqrt(max((1 - a_s) / (1 - a_t) * (1 - a_t / a_s), 0.0))
    c_eps = math.sqrt(max(1 - a_s - sig**2, 0.0))
    c_xt = c_eps / math.sqrt(1 - a_t)
    return math.sqrt(a_s) - c_xt * math.sqrt(a_t), c_xt, sig


def _randn(like: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return torch.randn(like.shape, generator=generator, dtype=like.dtype, device=like.device)


class _Adam:
    """Adam (Kingma & Ba 2015, default betas) on a few leaf tensors, written out rather than torch.optim.Adam: the
    update is elementwise, so the K samples' variational parameters are fitted independently in one batch."""

    def __init__(self, params: list[torch.Tensor], lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.params, self.lr, self.betas, self.eps, self.k = params, lr, betas, eps, 0
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]

    @torch.no_grad()
    def step(self, grads: list[torch.Tensor] | tuple[torch.Tensor, ...]) -> None:
        self.k += 1
        b1, b2 = self.betas
        for p, g, m, v in zip(self.params, grads, self.m, self.v, strict=True):
            m.mul_(b1).add_(g, alpha=1 - b1)
            v.mul_(b2).addcmul_(g, g, value=1 - b2)
            p.sub_(self.lr * (m / (1 - b1**self.k)) / ((v / (1 - b2**self.k)).sqrt() + self.eps))


class _Counter:
    """Counts denoiser calls (forward) and backward passes, per batch row."""

    def __init__(self, denoiser: Denoiser) -> None:
        self.denoiser, self.nfe, self.nvjp = denoiser, 0, 0

    def __call__(self, x: torch.Tensor, t: int) -> torch.Tensor:
        self.nfe += 1
        return self.denoiser(x, t)


def _ddnm(
    d: _Counter,
    abar: list[float],
    grid: list[int],
    obs: Observation,
    x: torch.Tensor,
    g: torch.Generator,
    *,
    eta: float = 1.0,
    noisy: str = "gain",
    prior_var: float = 1.0,
):
    if noisy not in ("gain", "ddnm+"):
        raise ValueError(f"noisy must be 'gain' or 'ddnm+', got {noisy!r}")
    for i in range(len(grid) - 1, 0, -1):
        t, s = grid[i], grid[i - 1]
        with torch.no_grad():
            x0 = d(x, t)
        c_x0, c_xt, sig = ddim_coefficients(abar[t], abar[s], eta)
        noise = sig * _randn(x, g)
        if obs.exact:
            x0 = torch.where(obs.mask, obs.y, x0)
        elif noisy == "gain":
            r2 = prior_var * (1 - abar[t]) / (abar[t] * prior_var + 1 - abar[t])
            x0 = x0 - r2 / (r2 + obs.sigma_y**2) * obs.residual(x0)
        else:
            if torch.is_tensor(obs.sigma_y):
                raise ValueError("ddnm noisy='ddnm+' needs one float sigma_y (use noisy='gain' for per-window noise)")
            lam = min(1.0, sig / (c_x0 * obs.sigma_y)) if c_x0 > 0 else 0.0
            x0 = x0 - lam * obs.residual(x0)
            reduced = math.sqrt(max(sig**2 - (c_x0 * lam * obs.sigma_y) ** 2, 0.0))
            noise = torch.where(obs.mask, noise * (reduced / sig if sig > 0 else 0.0), noise)
        x = c_x0 * x0 + c_xt * x + noise
    with torch.no_grad():
        x0 = d(x, grid[0])
    return torch.where(obs.mask, obs.y, x0) if obs.exact else x0


def _dps(
    d: _Counter,
    abar: list[float],
    grid: list[int],
    obs: Observation,
    x: torch.Tensor,
    g: torch.Generator,
    *,
    zeta: float = 1.0,
    eta: float = 1.0,
):
    for i in range(len(grid) - 1, 0, -1):
        t, s = grid[i], grid[i - 1]
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            x0 = d(xg, t)
            norm = obs.problem_norms(obs.residual(x0)).sum()
            (grad,) = torch.autograd.grad(norm, xg)
        d.nvjp += 1
        c_x0, c_xt, sig = ddim_coefficients(abar[t], abar[s], eta)
        x = c_x0 * x0.detach() + c_xt * x + sig * _randn(x, g) - zeta * grad
    with torch.no_grad():
        return d(x, grid[0])


def _mgps(
    d: _Counter,
    abar: list[float],
    grid: list[int],
    obs: Observation,
    x: torch.Tensor,
    g: torch.Generator,
    *,
    eta_mid: float = 0.5,
    grad_steps: int = 3,
    lr: float = 0.03,
    sigma_floor: float = 0.05,
    warm_start: bool = True,
):
    if not 0 <= eta_mid <= 1:
        raise ValueError(f"eta_mid must be in [0, 1], got {eta_mid}")
    if grad_steps < 0:
        raise ValueError(f"grad_steps must be >= 0, got {grad_steps}")
    s_eff = torch.as_tensor(obs.sigma_y, dtype=obs.y.dtype, device=obs.y.device).clamp(min=sigma_floor)
    if not bool((s_eff > 0).all()):
        raise ValueError("mgps needs sigma_y > 0 or sigma_floor > 0 (a finite log-likelihood)")
    x0_prev = None
    for i in range(len(grid) - 1, 0, -1):
        t, s = grid[i], grid[i - 1]
        ell = math.floor(eta_mid * s)
        with torch.no_grad():
            x0_t = d(x, t)
        m_prior, std_prior = bridge(x0_t, x, 1.0, abar[ell], abar[t])
        init = m_prior if x0_prev is None or not warm_start else bridge(x0_prev, x, 1.0, abar[ell], abar[t])[0]
        mu = init.clone().requires_grad_(True)
        rho = torch.full_like(x, math.log(std_prior)).requires_grad_(True)
        opt = _Adam([mu, rho], lr)
        var_prior = std_prior**2
        for _ in range(grad_steps):
            with torch.enable_grad():
                x_ell = mu + rho.exp() * _randn(x, g)
                kl = 0.5 * (((2 * rho).exp() + (mu - m_prior) ** 2) / var_prior - 1 - 2 * rho + math.log(var_prior)).sum()
                nll = (obs.residual(d(x_ell, ell)).square() / (2 * s_eff**2)).sum()
                grads = torch.autograd.grad(kl + nll, [mu, rho])
            d.nvjp += 1
            opt.step(grads)
        with torch.no_grad():
            x_ell = mu.detach() + rho.detach().exp() * _randn(x, g)
            if ell < s:
                mean, std = bridge(x_ell, x, abar[ell], abar[s], abar[t])
                x = mean + std * _randn(x, g)
            else:
                x = x_ell
            x0_prev = d(x_ell, ell) if warm_start else None
    with torch.no_grad():
        return d(x, grid[0])


_SAMPLERS = {"ddnm": _ddnm, "dps": _dps, "mgps": _mgps}


def sampler_options(method: str) -> dict:
    """The options of ``method`` with their defaults (its keyword-only parameters)."""
    import inspect

    if method not in _SAMPLERS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    params = inspect.signature(_SAMPLERS[method]).parameters.values()
    return {q.name: q.default for q in params if q.kind is inspect.Parameter.KEYWORD_ONLY}


def sample(
    method: str,
    denoiser: Denoiser,
    schedule: Schedule,
    obs: Observation,
    K: int,  # noqa: N803 - the number of posterior samples, as in the issue
    *,
    steps: int = 50,
    generator: torch.Generator,
    batch_size: int | None = None,
    **options,
) -> dict:
    """Draw K samples of p(x | y) with ``method`` in ``METHODS``; ``options`` go to the method (module docstring).

    Returns ``samples`` (K, *shape), ``mean`` and ``std`` over the K samples (*shape), ``nfe`` and ``nvjp``
    (denoiser forward / backward passes per sample), ``seconds`` (wall time), ``method``, ``steps``."""
    if method not in _SAMPLERS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if K < 1:
        raise ValueError(f"K must be >= 1 (number of posterior samples), got {K}")
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    grid = timesteps(schedule, steps)
    abar = [float(a) for a in schedule.abar]
    counter = _Counter(denoiser)
    start = time.perf_counter()
    chunks, nfe, nvjp = [], 0, 0
    size = K if batch_size is None else batch_size
    for lo in range(0, K, size):
        n = min(size, K - lo)
        counter.nfe = counter.nvjp = 0
        x = torch.randn((n, *obs.shape), generator=generator, dtype=obs.y.dtype, device=obs.y.device)
        chunks.append(_SAMPLERS[method](counter, abar, grid, obs, x, generator, **options).detach())
        nfe, nvjp = max(nfe, counter.nfe), max(nvjp, counter.nvjp)
    samples = torch.cat(chunks)
    return {
        "samples": samples,
        "mean": samples.mean(0),
        "std": samples.std(0) if K > 1 else torch.zeros_like(samples[0]),
        "nfe": nfe,
        "nvjp": nvjp,
        "seconds": time.perf_counter() - start,
        "method": method,
        "steps": len(grid),
    }
