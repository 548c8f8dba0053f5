"""QC pass 1 (seeded bounds) and pass 2 (segments, record-level windows, report)."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pandas as pd
import pytest

from ecgrecon import LEADS12
from ecgrecon.data.clean import clean_dataset
from ecgrecon.data.qc import compute_qc_stats, window_stats
from ecgrecon.data.segment import hop_starts, record_windows, segment_dataset
from ecgrecon.io.atomic import atomic_path
from ecgrecon.io.h5io import read_table, write_table
from ptbxl_fixture import CLEAN_CFG, LABELS_CFG, SHARED_PTBXL

W, HOP = 256, 64


@pytest.mark.parametrize("starts", [[0, 100, 344], [0, 100, 343]])  # block size 4 / 1
def test_window_stats_against_loops(starts):
    rng = np.random.default_rng(0)
    sig = rng.standard_normal((3, 600, 12)).astype(np.float32)
    starts = np.array(starts)
    ptp, rms = window_stats(sig, starts, W)
    assert ptp.shape == rms.shape == (3, 3, 12)
    for r in range(3):
        for i, s in enumerate(starts):
            w = sig[r, s : s + W].astype(np.float64)
            np.testing.assert_allclose(ptp[r, i], w.max(0) - w.min(0), rtol=1e-6)
            np.testing.assert_allclose(rms[r, i], np.sqrt((w**2).mean(0)), rtol=1e-5)
    p1, r1 = window_stats(sig, starts, W, rows=np.array([2, 0, 1]))
    np.testing.assert_array_equal(p1, ptp[[2, 0, 1], [0, 1, 2]])
    np.testing.assert_array_equal(r1, rms[[2, 0, 1], [0, 1, 2]])


@pytest.mark.parametrize("n", [1000, 1024, 300, 256])
def test_record_windows_reassemble_exactly(n):
    starts, keep_from = record_windows(n, W)
    x = np.arange(n, dtype=float)
    out = np.full(n, np.nan)
    for s, k in zip(starts, keep_from):
        win = x[s : s + W]
        out[s + k : s + W] = win[k:]
    np.testing.assert_array_equal(out, x)
    assert all(k == 0 for k in keep_from[:-1]) and starts[0] == 0 and starts[-1] == n - W
    if n == 1000:
        assert starts.tolist() == [0, 256, 512, 744] and keep_from.tolist() == [0, 0, 0, 24]
    if n == 1024:
        assert keep_from.tolist() == [0, 0, 0, 0]
    assert hop_starts(1000, W, HOP).tolist() == list(range(0, 745, 64))


def _write_clean(path, sig, ids):
    """A hand-made cleaned file (the clean stage's contract) for known-answer tests."""
    meta = pd.DataFrame(
        {
            "ecg_id": ids,
            "patient_id": ids + 100,
            "strat_fold": ids % 10 + 1,
            "scp_codes": ['{"NORM": 100.0}'] * len(ids),
            "labels": ['["NORM"]'] * len(ids),
            "superclass": ['["NORM"]'] * len(ids),
            "subclass": ['["NORM"]'] * len(ids),
            "filename": [f"r{i}" for i in ids],
        }
    )
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as h5:
        h5.create_dataset("signals", data=sig.astype(np.float32))
        h5.attrs["fs"] = 100.0
        h5.attrs["leads"] = list(LEADS12)
        write_table(h5, "meta", meta)


@pytest.fixture
def known(tmp_path):
    """6 records of 1 mV-ish sinusoids; record 2 has a 9 mV spike in V3 at samples 600-604."""
    t = np.arange(1000) / 100.0
    amp = 0.5 + 0.05 * np.arange(12)
    sig = np.stack([np.sin(2 * np.pi * (1 + 0.1 * r) * t)[:, None] * amp for r in range(6)])
    sig[2, 600:605, LEADS12.index("V3")] = 9.0
    _write_clean(tmp_path / "clean.h5", sig, np.arange(1, 7))
    bounds = {
        "ptp": {"lo": (1.9 * amp).tolist(), "hi": (2.1 * amp).tolist()},
        "rms": {"lo": (0.6 * amp).tolist(), "hi": (0.8 * amp).tolist()},
    }
    stats = {"percentiles": [0.1, 99.9], "window": W, "n_windows": 10, "seed": 0, "leads": list(LEADS12), **bounds}
    (tmp_path / "qc.json").write_text(json.dumps(stats))
    return tmp_path, sig


def test_segment_known_answer(known):
    d, sig = known
    summary = segment_dataset(d / "clean.h5", d / "qc.json", d / "seg.h5", d / "report.csv", W, HOP, log=lambda m: None)
    hit = [s for s in range(0, 745, 64) if s <= 604 and s + W > 600]  # windows touching the spike
    assert summary["n_windows"] == 72 and summary["n_kept"] == 72 - len(hit)
    with h5py.File(d / "seg.h5", "r") as h5:
        x, meta = h5["x"], read_table(h5["meta"])
        assert x.shape == (72 - len(hit), 12, W) and x.chunks is None and x.compression is None
        assert h5.attrs["window"] == W and h5.attrs["hop"] == HOP and list(h5.attrs["leads"]) == list(LEADS12)
        assert meta["seg_id"].tolist() == list(range(len(meta)))
        rec2 = meta[meta["ecg_id"] == 3]
        assert sorted(set(range(0, 745, 64)) - set(rec2["start"])) == hit
        for i in (0, 17, len(meta) - 1):
            r, s = int(meta["ecg_id"][i]) - 1, int(meta["start"][i])
            np.testing.assert_array_equal(x[i], sig[r, s : s + W].T.astype(np.float32))
            assert meta["patient_id"][i] == r + 101 and json.loads(meta["labels"][i]) == ["NORM"]
        rx, rmeta = h5["records/x"], read_table(h5["records/meta"])
        assert rx.chunks is None and sorted(set(rmeta["ecg_id"])) == [1, 2, 4, 5, 6]
        assert rmeta["start"].tolist()[:4] == [0, 256, 512, 744] and rmeta["n_keep_from"].tolist()[:4] == [0, 0, 0, 24]
        for i in (0, 7, len(rmeta) - 1):
            r, s = int(rmeta["ecg_id"][i]) - 1, int(rmeta["start"][i])
            np.testing.assert_array_equal(rx[i], sig[r, s : s + W].T.astype(np.float32))
    rep = pd.read_csv(d / "report.csv").set_index(["level", "lead", "reason"])["count"]
    assert rep[("window", "V3", "ptp_high")] == len(hit) and rep[("window", "V3", "rms_high")] >= 1
    assert rep[("window", "V2", "ptp_high")] == 0
    assert rep[("window", "all", "kept")] + rep[("window", "all", "rejected")] == rep[("window", "all", "total")] == 72
    assert rep[("record", "all", "eval_excluded")] == 1 and rep[("record", "V3", "ptp_high")] == 1


def test_segment_refuses_mismatched_or_broken_bounds(known):
    d, _ = known
    with pytest.raises(ValueError, match="qc.json.*window 256.*window 128"):
        segment_dataset(d / "clean.h5", d / "qc.json", d / "seg.h5", d / "report.csv", 128, HOP, log=lambda m: None)
    stats = json.loads((d / "qc.json").read_text())
    stats["rms"]["hi"] = stats["rms"]["hi"][:11]
    (d / "bad.json").write_text(json.dumps(stats))
    with pytest.raises(ValueError, match="bad.json: bounds must be given for the leads"):
        segment_dataset(d / "clean.h5", d / "bad.json", d / "seg.h5", d / "report.csv", W, HOP, log=lambda m: None)
    (d / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="bad.json: not a valid QC stats file"):
        segment_dataset(d / "clean.h5", d / "bad.json", d / "seg.h5", d / "report.csv", W, HOP, log=lambda m: None)
    assert not (d / "seg.h5").exists() and not (d / "report.csv").exists()


@pytest.fixture(scope="module")
def real_chain(tmp_path_factory):
    """clean -> qc_stats -> segment on the real PTB-XL subset."""
    d = tmp_path_factory.mktemp("chain")
    cs = clean_dataset(
        SHARED_PTBXL, d / "clean.h5", d / "q.csv", {**CLEAN_CFG, "max_quarantine_fraction": 0.5}, LABELS_CFG, log=lambda m: None
    )
    qs = compute_qc_stats(d / "clean.h5", d / "qc.json", d / "qc.png", [0.1, 99.9], W, 4000, seed=42, log=lambda m: None)
    ss = segment_dataset(d / "clean.h5", d / "qc.json", d / "seg.h5", d / "report.csv", W, HOP, log=lambda m: None)
    return d, cs, qs, ss


def test_real_chain_counts(real_chain):
    d, cs, qs, ss = real_chain
    assert cs["n_kept"] + cs["n_quarantined"] == 63 and cs["n_kept"] == 34
    assert ss["n_records"] == 34 and ss["n_windows"] == 34 * 12
    assert ss["n_kept"] + ss["n_rejected"] == ss["n_windows"] and 0.8 * 408 < ss["n_kept"] < 408
    rep = pd.read_csv(d / "report.csv").set_index(["level", "lead", "reason"])["count"]
    with h5py.File(d / "seg.h5", "r") as h5, h5py.File(d / "clean.h5", "r") as c:
        meta, sig = read_table(h5["meta"]), c["signals"][...]
        cmeta = read_table(c["meta"])
        assert len(meta) == h5["x"].shape[0] == rep[("window", "all", "kept")] == ss["n_kept"]
        assert len(read_table(h5["records/meta"])) == h5["records/x"].shape[0] == 4 * ss["n_eval_records"]
        row = {e: i for i, e in enumerate(cmeta["ecg_id"])}
        for i in range(0, len(meta), 97):
            r, s = row[int(meta["ecg_id"][i])], int(meta["start"][i])
            np.testing.assert_array_equal(h5["x"][i], sig[r, s : s + W].T)
            assert meta["patient_id"][i] == cmeta["patient_id"][r] and meta["strat_fold"][i] == cmeta["strat_fold"][r]
        ptp = np.ptp(h5["x"][...], axis=2)  # every kept window is inside the bounds
        assert (ptp >= np.array(qs["ptp"]["lo"]) - 1e-6).all() and (ptp <= np.array(qs["ptp"]["hi"]) + 1e-6).all()
    assert (d / "qc.png").stat().st_size > 10_000


def test_qc_stats_contract_and_seed(real_chain, tmp_path):
    d, _, qs, _ = real_chain
    stats = json.loads((d / "qc.json").read_text())
    assert stats == qs
    assert set(stats) == {"percentiles", "window", "n_windows", "seed", "leads", "ptp", "rms"}
    assert stats["leads"] == list(LEADS12) and stats["window"] == W and stats["seed"] == 42
    for key in ("ptp", "rms"):
        lo, hi = np.array(stats[key]["lo"]), np.array(stats[key]["hi"])
        assert lo.shape == hi.shape == (12,) and (0 < lo).all() and (lo < hi).all()
    again = compute_qc_stats(d / "clean.h5", tmp_path / "a.json", tmp_path / "a.png", [0.1, 99.9], W, 4000, seed=42, log=lambda m: None)
    other = compute_qc_stats(d / "clean.h5", tmp_path / "b.json", tmp_path / "b.png", [0.1, 99.9], W, 4000, seed=7, log=lambda m: None)
    assert again == stats
    assert other["ptp"] != stats["ptp"]
