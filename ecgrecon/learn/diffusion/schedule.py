"""Variance-preserving diffusion schedule, written here (about 40 lines) rather than taken from ``diffusers``: the samplers
need only abar_t and the eps <-> x0 conversions, and ``diffusers`` would add a large dependency (and its own
conventions for timesteps) to the pinned environment for that.

Forward process: x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps, t = 0 .. T-1, abar decreasing from about 1 to about 0.
A *denoiser* is a callable ``x0_hat = denoiser(x_t, t)`` (``t`` an int index into the schedule, or a (n,) tensor of
them) returning E[x0 | x_t]; an epsilon network gives one through :meth:`Schedule.x0_from_eps`.
"""

from __future__ import annotations

import dataclasses
import math

import torch

SCHEDULES = ("cosine", "linear")


@dataclasses.dataclass(frozen=True)
class Schedule:
    """abar (T,) float64 tensor, decreasing, in (0, 1)."""

    abar: torch.Tensor
    kind: str = "cosine"

    @property
    def T(self) -> int:  # noqa: N802 - the usual name
        return int(self.abar.numel())

    def coef(self, t, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(sqrt(abar_t), sqrt(1 - abar_t)) broadcastable against ``like`` (n, ...) for int or (n,) ``t``."""
        a = self.abar.to(like.device)[torch.as_tensor(t, device=like.device, dtype=torch.long)]
        a = a.to(like.dtype).reshape(-1, *([1] * (like.dim() - 1))) if a.dim() else a.to(like.dtype)
        return a.sqrt(), (1 - a).sqrt()

    def q_sample(self, x0: torch.Tensor, t, eps: torch.Tensor) -> torch.Tensor:
        s, n = self.coef(t, x0)
        return s * x0 + n * eps

    def x0_from_eps(self, x_t: torch.Tensor, t, eps: torch.Tensor) -> torch.Tensor:
        s, n = self.coef(t, x_t)
        return (x_t - n * eps) / s

    def eps_from_x0(self, x_t: torch.Tensor, t, x0: torch.Tensor) -> torch.Tensor:
        s, n = self.coef(t, x_t)
        return (x_t - s * x0) / n


def make_schedule(T: int = 1000, kind: str = "cosine") -> Schedule:  # noqa: N803
    """Cosine (Nichol & Dhariwal 2021, s = 0.008, betas clipped at 0.999) or linear (DDPM: beta 1e-4 .. 0.02) schedule."""
    if T < 2:
        raise ValueError(f"diffusion steps T must be >= 2, got {T}")
    if kind == "cosine":
        s = 0.008
        f = [math.cos((i / T + s) / (1 + s) * math.pi / 2) ** 2 for i in range(T + 1)]
        betas = torch.tensor([min(1 - f[i + 1] / f[i], 0.999) for i in range(T)], dtype=torch.float64)
    elif kind == "linear":
        betas = torch.linspace(1e-4 * 1000 / T, 0.02 * 1000 / T, T, dtype=torch.float64).clamp(max=0.999)
    else:
        raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {kind!r}")
    return Schedule(torch.cumprod(1 - betas, 0), kind)
