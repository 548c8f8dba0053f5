"""Realism of the diffusion prior (ecgrecon.evaluation.prior_realism): measures, distances, report, driver."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ecgrecon import LEADS12
from ecgrecon.evaluation import prior_realism as pr
from ecgrecon.learn.diffusion.prior import PriorSettings, load_prior_windows, train_prior
from learning_cohort import TINY_PRIOR, one_torch_thread, write_cohort  # noqa: F401 (autouse fixture)

TINY = {**TINY_PRIOR, "max_steps": 10, "eval_every": 5}


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """segments.h5 + folds.json of 40 synthetic records (Gaussian P-QRS-T beats at 55-100 beats/min)."""
    return write_cohort(tmp_path_factory.mktemp("cohort"), n_records=40, seed=1)


@pytest.fixture(scope="module")
def windows(cohort):
    return load_prior_windows(*cohort, "official", "train")


def test_window_measures_follow_record_features_and_mark_undefined(windows):
    x = windows.x[:6]
    m = pr.window_measures(x, windows.fs)
    assert list(m.columns) == pr.measure_columns() and len(m) == 6
    assert m.notna().all().all()  # beats every 0.6-1.1 s: rate and QRS are defined in each 2.56-s window
    assert (m[[f"ptp_{k}" for k in LEADS12]].to_numpy() > 0).all()
    assert m["hr"].between(45, 110).all() and m["qrs_ms"].between(20, 200).all()
    flat = np.zeros((2, 8, windows.window), np.float32)
    bad = x[:1].copy()
    bad[0, 3, 10] = np.nan
    m2 = pr.window_measures(np.concatenate([flat, bad]), windows.fs)
    assert m2[["hr", "qrs_ms"]].isna().all().all()  # no R peak in a flat line; a non-finite window: all NaN
    assert m2.iloc[2].isna().all()
    with pytest.raises(ValueError, match="8, W"):
        pr.window_measures(np.zeros((2, 12, 256)), 100.0)


def test_a_set_against_itself_and_against_itself_at_twice_the_amplitude(windows):
    x = windows.x[:48]
    same = pr.prior_realism(x, x, windows.fs)
    assert list(same["measure"]) == pr.measure_columns()
    assert np.allclose(same["wasserstein"], 0) and np.allclose(same["ks"], 0) and np.allclose(same["w_iqr"], 0)
    assert np.allclose(same["ref_median"], same["samp_median"]) and (same["ref_defined"] == 1).all()
    double = pr.prior_realism(2 * x, x, windows.fs).set_index("measure")
    ptp = double.loc[[f"ptp_{k}" for k in LEADS12]]
    assert (ptp["w_iqr"] > 1).all() and (ptp["ks"] > 0.5).all()  # amplitude distributions far apart
    np.testing.assert_allclose(ptp["samp_median"], 2 * ptp["ref_median"], rtol=1e-9)
    for col in ("hr", "qrs_ms"):  # the detectors are relative to the signal's own scale: rate and QRS unchanged
        assert double.loc[col, "wasserstein"] < 1e-9 and double.loc[col, "ks"] < 1e-9
    md = pr.realism_markdown(double.reset_index(), {"samples": 48})
    assert "| hr | beats/min |" in md and "samples 48." in md and md.count("\n| ") == 1 + len(pr.measure_columns())  # header + rows


def test_driver_samples_a_tiny_prior_and_writes_csv_md_png(cohort, windows, tmp_path):
    val = load_prior_windows(*cohort, "official", "val")
    prior_pt = tmp_path / "prior" / "model.pt"
    train_prior(windows.x, val.x, PriorSettings(**TINY), seed=0, out_path=prior_pt, device="cpu", log=lambda s: None)
    out = {"csv": tmp_path / "r" / "realism.csv", "md": tmp_path / "r" / "realism.md", "png": tmp_path / "r" / "realism.png"}
    lines = []
    table = pr.prior_realism_from_files(prior_pt, *cohort, out, n=12, steps=5, seed=3, log=lines.append)
    assert all(p.is_file() and p.stat().st_size > 0 for p in out.values())
    assert out["png"].read_bytes()[:4] == b"\x89PNG"
    csv = pd.read_csv(out["csv"])
    assert list(csv["measure"]) == pr.measure_columns() and (csv["ref_n"] == 12).all() and (csv["samp_n"] == 12).all()
    assert len(table) == len(csv) and csv["ref_defined"].min() == 1.0
    assert "Diffusion prior" in out["md"].read_text() and any("12 samples" in s for s in lines)
    again = pr.prior_realism_from_files(prior_pt, *cohort, out, n=12, steps=5, seed=3, log=lambda s: None)
    pd.testing.assert_frame_equal(table, again)  # seeded: the same samples and the same reference windows
    pr.realism_figure(table, tmp_path / "from_table.png")  # the table alone: box plots from its percentiles
    assert (tmp_path / "from_table.png").stat().st_size > 0
