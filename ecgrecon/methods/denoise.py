"""Denoising methods (noise tasks, :mod:`ecgrecon.noise`): the classical baseline and a learned per-lead denoiser.

- ``filter`` (kind ``fixed``): the pipeline's own cleaning filters (``clean:`` band-pass, notch where
  below Nyquist, moving-median baseline removal) applied to each noisy target lead; nothing is fitted.
- ``DN`` (kind ``decoder``): our per-lead decoder network (as C) on the noisy lead and its neighbours
  (:data:`ecgrecon.methods.registry.NEIGHBOURS`, in mV), as a residual on the noisy lead
  (:class:`ecgrecon.learn.models.ResidualDenoiser`: it starts as the identity and learns minus the noise),
  target the clean lead, trained with noise from the train part of the noise record only; settings:
  config section ``decoder_denoise``.

GL (a ridge FIR map from all noisy input leads to each clean lead) and C also run on noise tasks,
trained with the task's noise; see :mod:`ecgrecon.methods.linear`, :mod:`ecgrecon.methods.decoders`.
"""

from __future__ import annotations

import numpy as np

from ecgrecon.methods.registry import Method, Prediction, register

FILTER = register(
    Method(
        "filter",
        "filter",
        "classical filter",
        "fixed",
        "the pipeline's cleaning filters (clean: band-pass, median baseline) applied to each noisy lead",
        corruptions=("noise",),
        legend="filter (classical)",
        color="tab:brown",
    )
)
DN = register(
    Method(
        "DN",
        "DN",
        "discriminative deep",
        "decoder",
        "per-lead denoiser: our decoder network on the noisy lead and its neighbours, trained with train-part noise",
        corruptions=("noise",),
        neighbours=True,
        raw_inputs=True,
        section="decoder_denoise",
        legend="DN (learned denoiser)",
        color="tab:olive",
    )
)


def filter_leads(noisy: np.ndarray, fs: float, clean_cfg: dict) -> np.ndarray:
    """The cleaning filters on (n, L, T) signals at ``fs`` (already at the output rate): (n, L, T) float32."""
    from ecgrecon.signal.filters import clean_batch

    if len(noisy) == 0:
        return np.zeros_like(noisy, np.float32)
    out, _ = clean_batch(np.swapaxes(noisy, 1, 2), fs, {**clean_cfg, "fs": fs})
    return np.ascontiguousarray(np.swapaxes(out, 1, 2), dtype=np.float32)


def predict(method: Method, artifact, data) -> Prediction:
    """``filter``: each target lead's noisy input, filtered (``data.clean``: the clean config section and fs)."""
    from ecgrecon.data.datasets import ArtifactError

    if data.clean is None:
        raise ArtifactError(f"{method.name}: the evaluation passed no clean-filter settings")
    missing = [t for t in data.targets if t not in data.inputs]
    if missing:
        raise ArtifactError(f"{method.name}: filters noisy leads; {missing} are not among the inputs {list(data.inputs)}")
    cols = [list(data.inputs).index(t) for t in data.targets]
    fs = float(data.clean["fs"])
    seg = filter_leads(data.raw_in[:, cols], fs, data.clean)
    rec = None if data.r_raw is None else filter_leads(data.r_raw[:, cols], fs, data.clean)
    return Prediction(segments=seg, records=rec, n_params=0)
