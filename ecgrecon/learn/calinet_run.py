"""CaLiNet-E in the pipeline (rule ``train_calinet``): train on a fold's train / val records with PCM's choice.

The ``calinet`` config section holds the :class:`ecgrecon.learn.calinet.Settings` fields (besides the
robustness table's ``robust_noise_db``, read by :mod:`ecgrecon.evaluation.calinet_report`); the PCM
ridge penalty ``alpha`` and weighting ``rule`` are not configured but taken from PCM's validation
choice (``pcm.json`` of rule ``calibrate_pcm``), so that the untrained model is PCM's calibrated map
on the same scale. Writes the checkpoint (:func:`ecgrecon.learn.calinet.train_calinet`) and a per-epoch
log (epoch 0: the untrained model, = the calibrated linear map; ``seconds``: wall time of the epoch).
"""

from __future__ import annotations

import json

import pandas as pd

from ecgrecon.io.atomic import write_csv
from ecgrecon.learn.calinet import Settings, load_cohort, train_calinet
from ecgrecon.learn.linear import load as load_gl

EVAL_ONLY = ("robust_noise_db",)
"""Keys of the ``calinet`` config section that are not training settings (the robustness evaluation's)."""


def settings_of(cfg: dict, pcm_summary: dict) -> Settings:
    """Settings from the ``calinet`` config section and PCM's chosen alpha and rule."""
    train_cfg = {k: v for k, v in cfg.items() if k not in EVAL_ONLY}
    return Settings.of({**train_cfg, "alpha": float(pcm_summary["alpha"]), "rule": dict(pcm_summary["rule"])})


def train_from_files(
    clean_h5, folds_json, gl_path, pcm_json, out_model, out_log, cfg: dict, *, fold: str, seed: int, device: str, log=print
):
    """Train CaLiNet-E on ``fold``'s train records (early stop on val); returns the checkpoint dict."""
    gl = load_gl(gl_path)
    pcm = json.loads(open(pcm_json).read())
    if pcm["fold"] != fold:
        raise ValueError(f"{pcm_json}: PCM ran on fold {pcm['fold']!r}, CaLiNet-E trains on {fold!r}")
    settings = settings_of(cfg, pcm)
    train = load_cohort(clean_h5, folds_json, fold, "train", gl.inputs, gl.targets)
    val = load_cohort(clean_h5, folds_json, fold, "val", gl.inputs, gl.targets)
    log(f"CaLiNet-E {fold}: PCM's alpha {settings.alpha:g}, rule {settings.rule}, rho {settings.rho}")
    _, ckpt = train_calinet(train, val, gl, settings, seed=seed, out_path=out_model, device=device, log=log)
    hist = pd.DataFrame(ckpt["history"])
    hist.insert(0, "n_train_records", len(train.ecg_id))
    hist.insert(1, "n_params", ckpt["n_params"])
    write_csv(out_log, hist)
    return ckpt
