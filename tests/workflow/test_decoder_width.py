"""bench/decoder_width.py: the width sweep retrains the DAG's decoders and reads fold-9 validation only."""

import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
import decoder_width  # noqa: E402


def test_parse_widths():
    assert decoder_width.parse_widths("128:32,64:16") == [(128, 32), (64, 16)]
    with pytest.raises(ValueError):
        decoder_width.parse_widths("64")


def test_summary_over_seeds_and_precisions():
    """Means over leads and seeds, the spread of the per-seed means, job seconds per seed, ratios to the first
    candidate of the same variant."""
    rows = [
        {
            "hidden": 64,
            "out_channels": 16,
            "precision": p,
            "seed": seed,
            "variant": "C",
            "lead": lead,
            "params": 10,
            "best_val_rmse_mv": v,
            "s_per_epoch": 1.0,
            "epochs_run": 12,
            "job_s": t,
        }
        for p, seed, lead, v, t in [
            ("fp32", 1, "V1", 0.10, 10.0),
            ("fp32", 1, "V3", 0.20, 10.0),
            ("fp32", 2, "V1", 0.12, 12.0),
            ("fp32", 2, "V3", 0.22, 12.0),
            ("bf16", 1, "V1", 0.11, 6.0),
            ("bf16", 1, "V3", 0.21, 6.0),
            ("bf16", 2, "V1", 0.11, 5.0),
            ("bf16", 2, "V3", 0.21, 5.0),
        ]
    ]
    summary = decoder_width.summarise_runs(pd.DataFrame(rows), n_seeds=2).set_index("precision")
    assert summary.loc["fp32", "val_rmse_mv"] == pytest.approx(0.16)
    assert summary.loc["fp32", "val_rmse_seed_sd"] == pytest.approx(0.02 / 2**0.5)  # per-seed means 0.15, 0.17
    assert summary.loc["bf16", "val_rmse_seed_sd"] == pytest.approx(0.0)
    assert summary.loc["fp32", "job_s"] == pytest.approx(22.0) and summary.loc["bf16", "job_s"] == pytest.approx(11.0)
    assert summary.loc["bf16", "val_rmse_vs_first"] == pytest.approx(0.16 / 0.16)
    assert summary.loc["bf16", "job_s_vs_first"] == pytest.approx(0.5)


def test_sweep_reproduces_the_dag_decoders_at_the_dag_width(tiny_learning_run, tmp_path):
    """At the run's own width the sweep retrains exactly the DAG's decoders (same seed, same data): its best
    validation RMSE equals the one in the DAG's curves; a narrower width is trained and timed beside it."""
    work = tiny_learning_run
    rc = decoder_width.main(
        [
            "--run",
            str(work / "results"),
            "--config",
            str(ROOT / "config.yaml"),
            "--config",
            str(work / "tiny.yaml"),
            "--widths",
            "8:4,4:4",
            "--threads",
            "1",
            "--out",
            str(tmp_path),
        ]
    )
    assert rc == 0
    runs = pd.read_csv(tmp_path / "decoder_width_runs.csv")
    assert set(map(tuple, runs[["hidden", "variant"]].values)) == {(w, v) for w in (8, 4) for v in ("C", "Ch", "ChA")}
    for r in runs[runs["hidden"] == 8].itertuples():
        curve = pd.read_csv(work / f"results/paper/decoders/{r.variant}/official/{r.lead}_val.csv")
        dag_best = curve.loc[curve["val_loss"].idxmin(), "val_rmse_mv"]
        assert r.best_val_rmse_mv == pytest.approx(dag_best, rel=1e-3), r.variant
    summary = pd.read_csv(tmp_path / "decoder_width.csv")
    assert (summary[summary["hidden"] == 8]["val_rmse_vs_first"] == 1.0).all()
    assert (summary["params"][summary["hidden"] == 4].to_numpy() < summary["params"][summary["hidden"] == 8].to_numpy()).all()
    assert (summary["latency_ms_batch1024"] > 0).all()
    assert "Test fold not read" in (tmp_path / "decoder_width.md").read_text()
    assert (tmp_path / "decoder_width.png").stat().st_size > 5000
