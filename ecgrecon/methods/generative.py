"""Generative methods (kind ``generative``): a diffusion prior of the 12-lead ECG with posterior sampling
(Bedin et al. 2025; MGPS, Moufad et al. 2025). The prior (:mod:`ecgrecon.learn.diffusion.prior`, rule
``train_prior``) models the 8 independent leads of clean windows and knows nothing of a task; a task is an
observation operator (which leads are seen, with how much noise), and the samplers of
:mod:`ecgrecon.learn.diffusion.samplers` draw reconstructions from the posterior (rule ``evaluate_diffusion``,
:mod:`ecgrecon.evaluation.diffusion_report`). Reported in its own tables beside the task's other methods on the
same windows: sampling every test segment is too slow for a CPU run."""

from __future__ import annotations

from ecgrecon.methods.registry import Method, register

_TEXT = "diffusion prior of the 8 independent leads + posterior sampling (MGPS; DDNM, DPS as options); K samples per window"
DIFFUSION = register(
    Method(
        "diffusion",
        "Diffusion",
        "generative prior",
        "generative",
        _TEXT,
        corruptions=("none", "noise"),
        legend="diffusion prior (posterior mean)",
        color="tab:pink",
    )
)
