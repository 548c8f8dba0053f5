"""Per-patient calibrated methods (kind ``calibrated``): PCM, a ridge map fitted per test record on a
2-s calibration segment of its true 12-lead ECG, with a cross-fit quality score and soft fallback to
GL (:mod:`ecgrecon.learn.calibration`, rule ``calibrate_pcm``); CaLiNet-E (``calinet``), PCM's
quality-weighted map plus a FiLM-conditioned U-Net residual (:mod:`ecgrecon.learn.calinet`, rules
``train_calinet`` / ``evaluate_calinet``, on PCM's test windows). They see part of each test record, so
they are reported in their own tables (``pcm_metrics``, ``calinet/metrics``), never beside the
population methods."""

from __future__ import annotations

from ecgrecon.methods.registry import Method, register

_PCM_TEXT = "per-patient ridge from a 2-s 12-lead calibration, quality-weighted fallback to GL"
_PCM_STYLE = {"legend": "PCM (per-patient ridge)", "color": "tab:orange"}
PCM = register(Method("PCM", "PCM", "per-patient calibrated", "calibrated", _PCM_TEXT, calibration=True, anchor="GL", **_PCM_STYLE))

_CALINET_TEXT = "PCM's quality-weighted map plus a FiLM-conditioned 1-D U-Net residual (zero-initialised: starts as the map)"
CALINET = register(
    Method(
        "calinet",
        "CaLiNet-E",
        "per-patient calibrated + deep residual",
        "calibrated",
        _CALINET_TEXT,
        calibration=True,
        anchor="GL",
        legend="CaLiNet-E (PCM + U-Net residual)",
        color="tab:purple",
        fitted_by="`train_calinet`",
    )
)
