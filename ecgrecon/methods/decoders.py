"""Our deep lead decoders (kind ``decoder``, rule ``train_decoder``, one network per target lead): our
redesign of the paper's C (signal only) and C-h (signal + encoder representation h), and ChA (GL prediction + a C-h decoder of
the residual whose output layer starts at zero). Networks: :mod:`ecgrecon.learn.models`; training:
:mod:`ecgrecon.learn.train_decoder`."""

from __future__ import annotations

import numpy as np

from ecgrecon.methods.registry import Method, Prediction, register


def _decoder(name: str, display: str, family: str, text: str, legend: str, color: str, **reads) -> Method:
    """Register an exportable per-lead decoder method (kind ``decoder``); ``reads``: uses_h, raw_inputs, anchor."""
    return register(Method(name, display, family, "decoder", text, legend=legend, color=color, exportable=True, **reads))


_CHA_TEXT = "GL prediction + a C-h decoder of the residual (zero-initialised output: starts as GL)"
_CH_TEXT = "our redesign of the paper's C-h: C plus our supervised-contrastive encoder's representation h of the input leads"
C = _decoder(
    "C",
    "C",
    "discriminative deep",
    "our redesign of the paper's C: strided per-lead 1-D CNN decoder of the z-scored input leads",
    "C (signal)",
    "tab:blue",
    corruptions=("none", "noise"),
)
CH = _decoder("Ch", "C-h", "discriminative deep", _CH_TEXT, "C-h (signal + h)", "tab:red", uses_h=True, compare_to="C")
CHA = _decoder("ChA", "ChA", "anchored deep", _CHA_TEXT, "ChA (GL + C-h residual)", "tab:purple", uses_h=True, raw_inputs=True, anchor="GL")


def predict(method: Method, artifacts, data) -> Prediction:
    """Predictions of one decoder method: ``artifacts`` lists its checkpoints in the order of ``data.targets``.

    Returns the segment and record predictions, the parameter count of one lead's decoder and the
    per-lead train-mean waveform stored in the checkpoints (the ``train_mean`` reference predictor)."""
    from ecgrecon.data.datasets import ArtifactError
    from ecgrecon.learn.models import predict as run_model
    from ecgrecon.learn.train_decoder import load_decoder

    if len(artifacts) != len(data.targets):
        raise ArtifactError(f"{method.name}: {len(artifacts)} checkpoints for {len(data.targets)} target leads")
    pred = np.zeros((len(data.raw_in), len(data.targets), data.raw_in.shape[-1]), np.float32)
    rpred = None if data.r_raw is None else np.zeros((len(data.r_raw), len(data.targets), data.r_raw.shape[-1]), np.float32)
    x, rx = (data.raw_in, data.r_raw) if method.raw_inputs else (data.x, data.rx)
    h, rh = data.h_of(method)
    train_mean, n_params = {}, 0
    for j, (lead, path) in enumerate(zip(data.targets, artifacts)):
        model, ckpt = load_decoder(path, data.device)
        want = method.input_leads(data.inputs, lead)
        if ckpt["inputs"] != want or ckpt["lead"] != lead:
            raise ArtifactError(f"{path}: checkpoint is for inputs {ckpt['inputs']} -> {ckpt['lead']}, expected {want} -> {lead}")
        cols = [list(data.inputs).index(i) for i in want]
        sel = slice(None) if len(cols) == len(data.inputs) else cols
        pred[:, j] = run_model(model, x[:, sel], h, data.device)
        if rpred is not None:
            rpred[:, j] = run_model(model, rx[:, sel], rh, data.device)
        n_params = int(ckpt["n_params"])
        train_mean[lead] = ckpt["train_target_mean"].numpy()
    return Prediction(segments=pred, records=rpred, n_params=n_params, train_mean=train_mean)
