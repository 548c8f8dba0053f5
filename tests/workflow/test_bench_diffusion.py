"""Smoke test of bench/bench_diffusion.py on a tiny run built here: rows exist and timings are positive (never compared)."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from ecgrecon.learn import linear
from ecgrecon.learn.diffusion.prior import PRIOR_LEADS, PriorSettings, load_prior_windows, train_prior
from ecgrecon.learn.reps import extract_reps
from ecgrecon.learn.train_decoder import train_decoder
from ecgrecon.learn.train_encoder import train_encoder
from learning_cohort import one_torch_thread, write_cohort  # noqa: F401 (autouse fixture)

ROOT = Path(__file__).resolve().parents[2]
TASK = {"inputs": ["I", "II", "V2"], "targets": ["V4"], "derived": [], "corruption": "none", "methods": ["GL", "Ch"]}
PRIOR = {"T": 50, "channels": (8, 16), "time_dim": 16, "heads": 2, "batch_size": 16, "max_steps": 4, "eval_every": 2, "ema": 0.9}
QUIET = {"log": lambda s: None}


def _bench():
    spec = importlib.util.spec_from_file_location("bench_diffusion", ROOT / "bench" / "bench_diffusion.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _tiny_run(run: Path, with_decoders: bool) -> None:
    """results/ of a run: segments, folds, GL, a prior trained for a few steps, optionally C-h with its encoder."""
    seg_dir = run / "results" / "segments"
    segments, folds = write_cohort(seg_dir, n_records=30, seed=2)
    (run / "results" / "folds").mkdir(parents=True)
    folds = Path(shutil.move(folds, run / "results" / "folds" / "folds.json"))
    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    (run / "config.yaml").write_text(yaml.safe_dump({"tasks": {"paper": TASK}, "method_plugins": []}))
    gl = linear.fit_from_segments(segments, folds, "official", TASK["inputs"], TASK["targets"], **QUIET)
    gl.save(run / "results/paper/linear/official/GL.json")
    train, val = (load_prior_windows(segments, folds, "official", s).x for s in ("train", "val"))
    train_prior(train, val, PriorSettings(**PRIOR), seed=0, out_path=run / "results/prior/model.pt", device="cpu", **QUIET)
    if not with_decoders:
        return
    enc_dir = run / "results/encoders/I-II-V2"
    enc_cfg = {**cfg["encoder"], "width": 4, "embed_dim": 16, "proj_dim": 8, "max_epochs": 1, "batch_size": 32}
    train_encoder(
        segments, folds, enc_dir / "encoder.pt", enc_dir / "log.csv", enc_dir / "curve.png",
        inputs=TASK["inputs"], level="superclass", cfg=enc_cfg, seed=0, device="cpu", **QUIET,
    )  # fmt: skip
    extract_reps(segments, folds, enc_dir / "encoder.pt", enc_dir / "reps.h5", device="cpu", **QUIET)
    dec_cfg = {**cfg["decoder"], "proj": 8, "hidden": 8, "out_channels": 4, "max_epochs": 1, "batch_size": 64}
    out = run / "results/paper/decoders/Ch/official"
    train_decoder(
        segments, folds, enc_dir / "reps.h5", out / "V4.pt", out / "V4_val.csv",
        variant="Ch", fold="official", lead="V4", inputs=TASK["inputs"], cfg=dec_cfg, seed=0, device="cpu", **QUIET,
    )  # fmt: skip


@pytest.mark.parametrize("with_decoders", [True, False])
def test_bench_diffusion_writes_rows_for_every_method(tmp_path, capsys, with_decoders):
    run = tmp_path / "run"
    _tiny_run(run, with_decoders)
    out = tmp_path / "bench"
    args = ["--run", str(run), "--windows", "3", "--K", "2", "--steps", "3", "--repeats", "1", "--threads", "1", "--device", "cpu"]
    df = _bench().main([*args, "--out", str(out)])
    expected = ["GL", *(["C-h"] if with_decoders else []), "ddnm", "dps", "mgps"]
    assert list(df["method"]) == expected
    assert (df["seconds"] > 0).all() and (df["windows_per_s"] > 0).all() and (df["time_vs_GL"] > 0).all()
    samplers = df[df["kind"] == "sampler"]
    assert (samplers["nfe_per_sample"] >= 3).all() and (samplers["samples_per_s"] > 0).all()
    assert samplers.set_index("method").loc["ddnm", "nvjp_per_sample"] == 0
    assert (samplers.set_index("method").loc[["dps", "mgps"], "nvjp_per_sample"] > 0).all()
    csv = pd.read_csv(out / "diffusion_speed.csv")
    assert list(csv["method"]) == expected and (csv["cpu_count"] > 0).all() and (csv["torch_threads"] == 1).all()
    md = (out / "diffusion_speed.md").read_text()
    assert all(f"| {m} |" in md for m in expected) and f"of the prior's {len(PRIOR_LEADS)}" in md
    if not with_decoders:
        assert "C-h: skipped" in capsys.readouterr().out
