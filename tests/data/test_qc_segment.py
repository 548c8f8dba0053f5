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
    stats = {"percentiles": [0.1, 99.9], "window": W, "n_windows": 10, "seed": 0, "leads": list(LEADS12), "statistic": "ptp", **bounds}
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


def test_segment_refuses_bounds_of_another_statistic(known):
    d, _ = known
    with pytest.raises(ValueError, match="qc.json: bounds were computed for statistic ptp, segmenting uses qc.statistic max_abs"):
        segment_dataset(d / "clean.h5", d / "qc.json", d / "seg.h5", d / "report.csv", W, HOP, log=lambda m: None, statistic="max_abs")
    stats = json.loads((d / "qc.json").read_text())
    stats["max_abs"] = stats.pop("ptp")  # relabelled bounds are still bounds of ptp
    (d / "relabelled.json").write_text(json.dumps(stats))
    with pytest.raises(ValueError, match="relabelled.json: bounds were computed for statistic ptp"):
        segment_dataset(
            d / "clean.h5", d / "relabelled.json", d / "seg.h5", d / "report.csv", W, HOP, log=lambda m: None, statistic="max_abs"
        )
    del stats["statistic"]
    (d / "old.json").write_text(json.dumps(stats))
    with pytest.raises(ValueError, match="old.json: bounds were computed for statistic none .*before qc.statistic"):
        segment_dataset(d / "clean.h5", d / "old.json", d / "seg.h5", d / "report.csv", W, HOP, log=lambda m: None)
    with pytest.raises(ValueError, match="max_bad_leads must be an integer in 0..11, got 12"):
        segment_dataset(d / "clean.h5", d / "qc.json", d / "seg.h5", d / "report.csv", W, HOP, log=lambda m: None, max_bad_leads=12)
    assert not (d / "seg.h5").exists() and not (d / "report.csv").exists()


@pytest.mark.parametrize("starts", [[0, 100, 344], [0, 100, 343]])
def test_window_stats_max_abs_is_the_largest_absolute_sample(starts):
    rng = np.random.default_rng(2)
    sig = (rng.standard_normal((3, 600, 12)) + rng.choice([-3.0, 3.0], (1, 1, 12))).astype(np.float32)
    starts = np.array(starts)
    amp, rms = window_stats(sig, starts, W, statistic="max_abs")
    ptp, rms_ptp = window_stats(sig, starts, W)
    np.testing.assert_array_equal(rms, rms_ptp)
    for r in range(3):
        for i, s in enumerate(starts):
            np.testing.assert_array_equal(amp[r, i], np.abs(sig[r, s : s + W]).max(0))
    assert not np.allclose(amp, ptp)
    a1, _ = window_stats(sig, starts, W, rows=np.array([2, 0, 1]), statistic="max_abs")
    np.testing.assert_array_equal(a1, amp[[2, 0, 1], [0, 1, 2]])


def test_qc_stats_max_abs_bounds_are_percentiles_of_max_abs(tmp_path):
    """Every window of record r, lead j has max |x| = |offset_r| + amp_j and peak-to-peak 2 amp_j
    (a 1 Hz sine at 100 Hz, on an offset whose sign flips for the last 6 leads)."""
    t = np.arange(1000) / 100.0
    amp = 0.5 + 0.05 * np.arange(12)
    sign = np.where(np.arange(12) < 6, 1.0, -1.0)
    offsets = np.array([0.2, 0.4, 0.6, 0.8, 1.0])
    sig = np.stack([off * sign + np.sin(2 * np.pi * t)[:, None] * amp for off in offsets])
    _write_clean(tmp_path / "clean.h5", sig, np.arange(1, 6))
    stats = compute_qc_stats(
        tmp_path / "clean.h5", tmp_path / "qc.json", tmp_path / "qc.png", [0, 100], W, 500, seed=1, log=lambda m: None, statistic="max_abs"
    )
    assert json.loads((tmp_path / "qc.json").read_text()) == stats
    assert stats["statistic"] == "max_abs" and "ptp" not in stats
    np.testing.assert_allclose(stats["max_abs"]["lo"], 0.2 + amp, rtol=1e-6)
    np.testing.assert_allclose(stats["max_abs"]["hi"], 1.0 + amp, rtol=1e-6)
    ptp = compute_qc_stats(tmp_path / "clean.h5", tmp_path / "p.json", tmp_path / "p.png", [0, 100], W, 500, seed=1, log=lambda m: None)
    assert ptp["statistic"] == "ptp" and "max_abs" not in ptp
    np.testing.assert_allclose(ptp["ptp"]["hi"], 2 * amp, rtol=1e-6)
    np.testing.assert_array_equal(stats["rms"]["lo"], ptp["rms"]["lo"])
    # pass 2 on these bounds: every window is inside them
    summary = segment_dataset(
        tmp_path / "clean.h5",
        tmp_path / "qc.json",
        tmp_path / "seg.h5",
        tmp_path / "r.csv",
        W,
        HOP,
        log=lambda m: None,
        statistic="max_abs",
    )
    assert summary["n_kept"] == summary["n_windows"] == 5 * 12
    rep = pd.read_csv(tmp_path / "r.csv")
    assert set(rep.loc[rep["lead"] == "I", "reason"]) == {"max_abs_low", "max_abs_high", "rms_low", "rms_high"}


@pytest.fixture
def bad_leads_file(known):
    """The 6 known records with the V3 spike of record 3 removed and a 9 mV spike at samples 600-604
    in 3 leads of record 2 and in 4 leads of record 4."""
    d, sig = known
    sig = sig.copy()
    sig[2] = np.sin(2 * np.pi * 1.2 * np.arange(1000) / 100.0)[:, None] * (0.5 + 0.05 * np.arange(12))  # as built, no spike
    sig[1, 600:605, [LEADS12.index(x) for x in ("I", "V1", "V5")]] = 9.0
    sig[3, 600:605, [LEADS12.index(x) for x in ("II", "V2", "V4", "V6")]] = 9.0
    _write_clean(d / "clean.h5", sig, np.arange(1, 7))
    return d, sig


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
    assert set(stats) == {"percentiles", "window", "n_windows", "seed", "leads", "statistic", "ptp", "rms"}
    assert stats["statistic"] == "ptp"
    assert stats["leads"] == list(LEADS12) and stats["window"] == W and stats["seed"] == 42
    for key in ("ptp", "rms"):
        lo, hi = np.array(stats[key]["lo"]), np.array(stats[key]["hi"])
        assert lo.shape == hi.shape == (12,) and (0 < lo).all() and (lo < hi).all()
    again = compute_qc_stats(d / "clean.h5", tmp_path / "a.json", tmp_path / "a.png", [0.1, 99.9], W, 4000, seed=42, log=lambda m: None)
    other = compute_qc_stats(d / "clean.h5", tmp_path / "b.json", tmp_path / "b.png", [0.1, 99.9], W, 4000, seed=7, log=lambda m: None)
    assert again == stats
    assert other["ptp"] != stats["ptp"]


HIT = [s for s in range(0, 745, 64) if s <= 604 and s + W > 600]  # windows touching samples 600-604


def _missing_starts(meta, ecg_id):
    return sorted(set(range(0, 745, 64)) - set(meta.loc[meta["ecg_id"] == ecg_id, "start"]))


def _segment(d, max_bad_leads):
    out = d / f"m{max_bad_leads}"
    out.mkdir()
    summary = segment_dataset(
        d / "clean.h5", d / "qc.json", out / "seg.h5", out / "report.csv", W, HOP, log=lambda m: None, max_bad_leads=max_bad_leads
    )
    with h5py.File(out / "seg.h5", "r") as h5:
        meta, rmeta = read_table(h5["meta"]), read_table(h5["records/meta"])
    return summary, meta, rmeta, pd.read_csv(out / "report.csv")


def test_window_with_3_bad_leads_is_kept_under_max_bad_leads_3_and_rejected_under_0(bad_leads_file):
    d, _ = bad_leads_file
    s0, meta0, rmeta0, rep0 = _segment(d, 0)
    s3, meta3, rmeta3, rep3 = _segment(d, 3)
    # ecg_id 2: 3 bad leads; ecg_id 4: 4 bad leads
    assert _missing_starts(meta0, 2) == HIT and _missing_starts(meta0, 4) == HIT  # max_bad_leads 0: any bad lead rejects
    assert _missing_starts(meta3, 2) == [] and _missing_starts(meta3, 4) == HIT  # max_bad_leads 3: only more than 3 do
    assert s0["n_kept"] == 72 - 2 * len(HIT) and s3["n_kept"] == 72 - len(HIT)
    assert sorted(set(rmeta0["ecg_id"])) == [1, 3, 5, 6] and sorted(set(rmeta3["ecg_id"])) == [1, 2, 3, 5, 6]
    # the per-lead counts are out-of-bounds counts, the same under either rule; the totals follow the rule
    for rep in (rep0, rep3):
        c = rep.set_index(["level", "lead", "reason"])["count"]
        for lead in ("I", "V1", "V5", "II", "V2", "V4", "V6"):
            assert c[("window", lead, "ptp_high")] == len(HIT) and c[("record", lead, "ptp_high")] == 1
        assert c[("window", "V3", "ptp_high")] == 0
        assert c[("window", "all", "kept")] + c[("window", "all", "rejected")] == c[("window", "all", "total")] == 72
    c0, c3 = (r.set_index(["level", "lead", "reason"])["count"] for r in (rep0, rep3))
    assert c0[("window", "all", "kept_with_bad_leads")] == 0 and c3[("window", "all", "kept_with_bad_leads")] == len(HIT)
    assert c0[("record", "all", "eval_kept_with_bad_leads")] == 0 and c3[("record", "all", "eval_kept_with_bad_leads")] == 1
    assert (c0[("record", "all", "eval_excluded")], c3[("record", "all", "eval_excluded")]) == (2, 1)
    counted = rep3.set_index(["level", "lead", "reason"])["counted"]
    assert (
        "kept or rejected" in counted[("window", "I", "ptp_high")] and "more than 3 of the 12 leads" in counted[("window", "all", "kept")]
    )
    assert "more than 0 of the 12 leads" in rep0.set_index(["level", "lead", "reason"])["counted"][("window", "all", "rejected")]


def test_window_with_4_bad_leads_is_rejected_under_max_bad_leads_3_and_kept_ones_hold_their_bad_leads(bad_leads_file):
    d, _ = bad_leads_file
    _, meta, _, _ = _segment(d, 3)
    assert _missing_starts(meta, 4) == HIT
    with h5py.File(d / "m3/seg.h5", "r") as h5:  # the kept 3-bad-lead windows hold the spikes, unchanged
        x = h5["x"][...]
    rows = meta.index[(meta["ecg_id"] == 2) & meta["start"].isin(HIT)]
    assert len(rows) == len(HIT) and all((x[i, LEADS12.index("V1")] == 9.0).sum() == 5 for i in rows)
