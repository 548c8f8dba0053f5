"""Two views of a segment for contrastive training.

- Morphology-centred view: the R peak nearest the window centre is detected on the input
  leads (summed absolute slope, smoothed, local maxima above half the segment maximum) and
  the window is shifted so that peak sits at the centre; samples shifted in from outside the
  window are mirror reflections of the edge (no wrap-around).
- Signal-augmented view: per-lead amplitude scaling, Gaussian noise, sinusoidal baseline
  wander and a small time shift (also with mirror padding), drawn from a seeded generator.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def qrs_envelope(x: torch.Tensor, smooth: int = 5) -> torch.Tensor:
    """(B, L, T) signals -> (B, T) envelope: summed |first difference| over leads, smoothed."""
    d = (x[..., 1:] - x[..., :-1]).abs().sum(dim=1, keepdim=True)
    d = F.pad(d, (1, 0), mode="replicate")
    kernel = torch.ones(1, 1, smooth, dtype=x.dtype, device=x.device) / smooth
    return F.conv1d(F.pad(d, (smooth // 2, smooth - 1 - smooth // 2), mode="replicate"), kernel)[:, 0]


def detect_r_peaks(x: torch.Tensor, fs: float, refractory_s: float = 0.25) -> torch.Tensor:
    """Sample index of the QRS nearest the window centre for each segment of (B, L, T).

    Candidates are local maxima of :func:`qrs_envelope` within +-``refractory_s`` that reach
    half of the segment's maximum; a flat segment returns the centre.
    """
    env = qrs_envelope(x)
    t = env.shape[-1]
    half = max(1, int(round(refractory_s * fs)))
    local_max = F.max_pool1d(env[:, None], 2 * half + 1, stride=1, padding=half)[:, 0]
    peak = (env >= local_max) & (env >= 0.5 * env.amax(dim=-1, keepdim=True)) & (env > 0)
    pos = torch.arange(t, device=x.device)
    dist = (pos - t // 2).abs().to(env.dtype).expand_as(env)
    dist = torch.where(peak, dist, torch.full_like(dist, float("inf")))
    idx = dist.argmin(dim=-1)
    return torch.where(peak.any(dim=-1), idx, torch.full_like(idx, t // 2))


def _reflect_index(idx: torch.Tensor, t: int) -> torch.Tensor:
    """Mirror indices outside [0, t) back inside (edge sample not repeated)."""
    period = 2 * (t - 1)
    idx = idx.remainder(period)
    return torch.where(idx >= t, period - idx, idx)


def shift_segments(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """out[b, :, i] = x[b, :, i - shift[b]] with mirror reflection at the edges."""
    t = x.shape[-1]
    src = torch.arange(t, device=x.device)[None, :] - shift[:, None].to(torch.long)
    src = _reflect_index(src, t)
    return torch.gather(x, 2, src[:, None, :].expand(-1, x.shape[1], -1))


def morphology_view(x: torch.Tensor, fs: float) -> torch.Tensor:
    """Shift each segment so its detected R peak is at the centre sample."""
    peaks = detect_r_peaks(x, fs)
    return shift_segments(x, x.shape[-1] // 2 - peaks)


def augment(x: torch.Tensor, fs: float, cfg: dict, generator: torch.Generator) -> torch.Tensor:
    """Signal-augmented view of (B, L, T) mV segments.

    cfg keys: ``scale`` [lo, hi] per-lead gain, ``noise_mv`` Gaussian noise sd, ``wander_mv``
    maximum baseline-wander amplitude (sinusoid 0.05-0.5 Hz, random phase), ``max_shift``
    maximum time shift in samples.
    """
    b, n_leads, t = x.shape
    dev, dt = x.device, x.dtype

    def rand(*shape):
        return torch.rand(*shape, generator=generator, dtype=dt).to(dev)

    lo, hi = cfg["scale"]
    out = x * (lo + (hi - lo) * rand(b, n_leads, 1))
    out = out + cfg["noise_mv"] * torch.randn(b, n_leads, t, generator=generator, dtype=dt).to(dev)
    freq = 0.05 + 0.45 * rand(b, 1, 1)
    phase = 2 * math.pi * rand(b, 1, 1)
    amp = cfg["wander_mv"] * rand(b, n_leads, 1)
    time = torch.arange(t, device=dev, dtype=dt)[None, None, :] / fs
    out = out + amp * torch.sin(2 * math.pi * freq * time + phase)
    m = int(cfg["max_shift"])
    if m > 0:
        shift = torch.randint(-m, m + 1, (b,), generator=generator).to(dev)
        out = shift_segments(out, shift)
    return out
