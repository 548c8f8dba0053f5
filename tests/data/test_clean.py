"""Stage clean: real PTB-XL subset, labels, every kind of bad input, quarantine limit, rates."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.ndimage as ndi
import scipy.signal as ss
import wfdb

from ecgrecon import LEADS12
from ecgrecon.data import clean
from ecgrecon.data.clean import QuarantineLimitError, clean_dataset, process_batch
from ecgrecon.io.h5io import read_table
from ecgrecon.signal.filters import clean_batch
from ptbxl_fixture import CLEAN_CFG, LABELS_CFG, SHARED_PTBXL, make_cohort, rel_name, synth_signal, write_record, write_tables


def _cfg(**kw) -> dict:
    return {**CLEAN_CFG, **kw}


def _run(raw, out, cfg=None, **kw):
    logs: list[str] = []
    summary = clean_dataset(
        raw, out / "clean.h5", out / "quarantine.csv", cfg or _cfg(max_quarantine_fraction=1.0), LABELS_CFG, log=logs.append, **kw
    )
    return summary, logs


def _load(out):
    with h5py.File(out / "clean.h5", "r") as h5:
        return h5["signals"][...], read_table(h5["meta"]), dict(h5.attrs)


def _naive_clean(path) -> np.ndarray:
    """Independent per-record reference: wfdb.rdsamp + sosfiltfilt + 61-sample median per lead."""
    sig, fields = wfdb.rdsamp(str(path))
    sig = sig[:, [fields["sig_name"].index(lead) for lead in LEADS12]]
    sos = ss.butter(2, [0.5, 45.0], btype="bandpass", fs=100.0, output="sos")
    out = np.empty_like(sig)
    for j in range(12):
        f = ss.sosfiltfilt(sos, sig[:, j])
        out[:, j] = f - ndi.median_filter(f, size=61, mode="nearest")
    return out


def _authors_clean(path) -> np.ndarray:
    """Independent reference written like Youssef & Singla's code: order-4 (b, a) band-pass with filtfilt,
    then ``x - medfilt(x, 61)`` per lead (zero-padded edges)."""
    sig, fields = wfdb.rdsamp(str(path))
    sig = sig[:, [fields["sig_name"].index(lead) for lead in LEADS12]]
    nyq = fields["fs"] / 2
    b, a = ss.butter(4, [0.5 / nyq, 45.0 / nyq], btype="band")
    f = ss.filtfilt(b, a, sig, axis=0, padlen=3 * max(len(a), len(b)))
    return np.stack([f[:, j] - ss.medfilt(f[:, j], 61) for j in range(12)], axis=1)


AUTHORS = {"filter_order": 4, "filter_form": "ba", "median_edges": "zero"}


def test_authors_cleaning_equals_their_code_and_differs_from_ours_at_the_edges(tmp_path):
    raw = tmp_path / "raw"
    rows = make_cohort(raw, 3, seed=5)
    _run(raw, tmp_path / "theirs", _cfg(max_quarantine_fraction=1.0, **AUTHORS))
    _run(raw, tmp_path / "order4", _cfg(max_quarantine_fraction=1.0, filter_order=4))
    theirs, meta, _ = _load(tmp_path / "theirs")
    order4, _, _ = _load(tmp_path / "order4")
    for k, row in enumerate(rows):
        np.testing.assert_allclose(theirs[k], _authors_clean(raw / row["filename_lr"]), rtol=0, atol=1e-5)
    # same order, our forms: the band-pass forms agree, the median edges do not (first / last 0.3 s)
    np.testing.assert_allclose(theirs[:, 30:-30], order4[:, 30:-30], rtol=0, atol=1e-5)
    assert np.abs(theirs[:, :30] - order4[:, :30]).max() > 0.01 and np.abs(theirs[:, -30:] - order4[:, -30:]).max() > 0.01


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    out = tmp_path_factory.mktemp("real_clean")
    summary, logs = _run(SHARED_PTBXL, out, _cfg(max_quarantine_fraction=0.5))
    return out, summary, logs


def test_real_ptbxl_counts_and_quarantine(real):
    out, summary, logs = real
    assert (summary["n_input"], summary["n_kept"], summary["n_quarantined"]) == (63, 34, 29)
    assert summary["n_kept"] + summary["n_quarantined"] == summary["n_input"]
    q = pd.read_csv(out / "quarantine.csv")
    assert list(q.columns) == ["record", "stage", "reason"]
    assert len(q) == 29 and set(q["reason"]) == {"no metadata row"}
    db = pd.read_csv(SHARED_PTBXL / "ptbxl_database.csv")
    assert not set(q["record"]) & set(db["filename_lr"])
    assert sum("no metadata row" in line for line in logs) == 29
    assert any("notch 50 Hz skipped" in line for line in logs)


def test_real_ptbxl_signals_and_metadata(real):
    out, _, _ = real
    sig, meta, attrs = _load(out)
    assert sig.shape == (34, 1000, 12) and sig.dtype == np.float32
    assert attrs["fs"] == 100.0 and list(attrs["leads"]) == list(LEADS12)
    assert meta["ecg_id"].tolist() == sorted(meta["ecg_id"]) and meta["ecg_id"].dtype == np.int64
    row = meta.set_index("ecg_id").loc[1025]
    assert json.loads(row["labels"]) == ["ASMI", "ISC_", "IVCD", "LVH"]  # ASMI at exactly 80 counts
    assert json.loads(row["superclass"]) == ["CD", "HYP", "MI", "STTC"]
    assert json.loads(row["subclass"]) == ["AMI", "ISC_", "IVCD", "LVH"]
    assert json.loads(row["scp_codes"])["QWAVE"] == 0.0
    row = meta.set_index("ecg_id").loc[1017]  # PVC / DIG: only DIG is diagnostic; AFIB at 0 is no label
    assert json.loads(row["labels"]) == ["DIG", "IRBBB", "PVC"]
    assert json.loads(row["superclass"]) == ["CD", "STTC"]
    assert row["patient_id"] == 6304 and row["strat_fold"] == 6
    for k in (0, 20):
        ref = _naive_clean(SHARED_PTBXL / meta["filename"][k])
        np.testing.assert_allclose(sig[k], ref, atol=2e-4)


def test_real_ptbxl_quarantine_limit(tmp_path):
    with pytest.raises(QuarantineLimitError) as info:
        _run(SHARED_PTBXL, tmp_path, _cfg())  # default limit 0.05 < 29/63
    msg = str(info.value)
    assert "29 of 63" in msg and "46.0%" in msg and "0.05" in msg and "no metadata row" in msg
    assert not (tmp_path / "clean.h5").exists()
    assert len(pd.read_csv(tmp_path / "quarantine.csv")) == 29


BAD = {  # ecg_id -> (expected stage, reason fragment)
    13: ("clean.read", "truncated .dat"),
    14: ("clean.read", "expected 12 signals, header has 11"),
    15: ("clean.read", "unknown lead name"),
    16: ("clean.signal", "NaN samples in lead(s) V1"),
    17: ("clean.signal", "flat lead(s) V3"),
    18: ("clean.read", "wrong sampling rate"),
    20: ("clean.read", "missing file"),
    21: ("clean.read", "path outside data root"),
    22: ("clean.signal", "too short"),
    23: ("clean.metadata", "unparsable scp_codes"),
    24: ("clean.read", "path outside data root"),
    25: ("clean.metadata", "invalid patient_id"),
}


@pytest.fixture(scope="module")
def messy(tmp_path_factory):
    """12 good records + one of each kind of bad input (ecg_ids 13-25, 19 = file without row)."""
    root = tmp_path_factory.mktemp("messy")
    rows = make_cohort(root, 12, seed=5)

    def sig(i, n=1000):
        return synth_signal(n, 100.0, seed=900 + i)

    write_record(root / rel_name(13), sig(13), 100)
    dat = root / (rel_name(13) + ".dat")
    dat.write_bytes(dat.read_bytes()[:7001])
    write_record(root / rel_name(14), sig(14)[:, :11], 100, names=LEADS12[:11])
    write_record(root / rel_name(15), sig(15), 100, names=LEADS12[:11] + ("V7",))
    s = sig(16)
    s[400:420, 6] = np.nan
    write_record(root / rel_name(16), s, 100)
    s = sig(17)
    s[:, 8] = 0.2
    write_record(root / rel_name(17), s, 100)
    write_record(root / rel_name(18), synth_signal(2500, 250.0, seed=18), 250)
    write_record(root / rel_name(19), sig(19), 100)  # on disk, no metadata row
    write_record(root / rel_name(22), sig(22, 500), 100)  # 5 s
    write_record(root / rel_name(23), sig(23), 100)
    write_record(root / rel_name(25), sig(25), 100)
    base = {"patient_id": 77, "strat_fold": 3, "scp_codes": "{'NORM': 100.0}", "filename_hr": ""}
    extra = {i: rel_name(i) for i in (13, 14, 15, 16, 17, 18, 20, 22, 23, 25)}
    extra.update({21: "../../etc/x", 24: "/etc/passwd"})
    for i, fn in sorted(extra.items()):
        rows.append(
            {
                **base,
                "ecg_id": i,
                "filename_lr": fn,
                **({"scp_codes": "{'NORM': 10"} if i == 23 else {}),
                **({"patient_id": ""} if i == 25 else {}),
            }
        )
    write_tables(root, rows)
    return root


def test_bad_inputs_are_quarantined_with_reasons(messy, tmp_path):
    summary, logs = _run(messy, tmp_path)
    assert (summary["n_input"], summary["n_kept"], summary["n_quarantined"]) == (25, 12, 13)
    q = pd.read_csv(tmp_path / "quarantine.csv", keep_default_na=False)
    by_record = {r.record: (r.stage, r.reason) for r in q.itertuples()}
    assert len(by_record) == len(q) == 13
    assert by_record[rel_name(19)] == ("clean.metadata", "no metadata row")
    assert by_record[rel_name(20)] == ("clean.read", "missing file")
    for i, (stage, fragment) in BAD.items():
        record = {21: "../../etc/x", 24: "/etc/passwd"}.get(i, rel_name(i))
        assert by_record[record][0] == stage and fragment in by_record[record][1], (i, by_record[record])
        assert any(record in line and fragment in line for line in logs), (i, fragment)
    _, meta, _ = _load(tmp_path)
    assert meta["ecg_id"].tolist() == list(range(1, 13))


def test_labels_from_scp_statements(messy, tmp_path):
    _run(messy, tmp_path)
    _, meta, _ = _load(tmp_path)
    got = {int(r.ecg_id): (json.loads(r.labels), json.loads(r.superclass), json.loads(r.subclass)) for r in meta.itertuples()}
    assert got[1] == (["NORM"], ["NORM"], ["NORM"])
    assert got[2] == (["IMI"], ["MI"], ["IMI"])  # LVH at 50 is no label
    assert got[3] == (["AFIB", "ASMI", "CRBBB"], ["CD", "MI"], ["AMI", "CRBBB"])  # AFIB: no class
    assert got[4] == (["LVH", "PVC"], ["HYP"], ["LVH"])


def test_limit_error_names_counts(messy, tmp_path):
    with pytest.raises(QuarantineLimitError, match=r"13 of 25 records quarantined \(52\.0%\).*0\.3"):
        _run(messy, tmp_path, _cfg(max_quarantine_fraction=0.3))
    assert not (tmp_path / "clean.h5").exists()


def test_workers_and_batches_give_identical_output(tmp_path, monkeypatch):
    raw = tmp_path / "raw"
    make_cohort(raw, 10, seed=11)
    monkeypatch.setattr(clean, "BATCH_SIZE", 3)
    _run(raw, tmp_path / "a", threads=1)
    _run(raw, tmp_path / "b", threads=2)
    (sa, ma, _), (sb, mb, _) = _load(tmp_path / "a"), _load(tmp_path / "b")
    np.testing.assert_array_equal(sa, sb)
    pd.testing.assert_frame_equal(ma, mb)
    assert ma["ecg_id"].tolist() == list(range(1, 11))


def test_records500_are_notched_and_resampled(tmp_path):
    raw = tmp_path / "raw"
    make_cohort(raw, 3, seed=2, fs=500, rate_dir="records500")
    summary, logs = _run(raw, tmp_path, records_subdir="records500")
    assert summary["n_kept"] == 3 and summary["notes"] == []
    sig, meta, _ = _load(tmp_path)
    assert sig.shape == (3, 1000, 12)
    for k in range(3):  # same signal without the 0.1 mV mains, cleaned in memory
        clean_ref, _ = clean_batch(synth_signal(5000, 500.0, seed=2 * 100003 + k)[None], 500.0, CLEAN_CFG)
        diff = np.abs(sig[k] - clean_ref[0])
        assert diff[60:-60].max() < 0.005  # mains gone (quantisation 0.001 mV remains)
        assert diff.max() < 0.03  # the notch rings only in the first/last 0.6 s


def test_unresamplable_rate_is_quarantined(tmp_path):
    rel = "misc/00001"
    write_record(tmp_path / rel, synth_signal(2573, 257.3, seed=1), 257.3)
    res = process_batch(tmp_path.resolve(), [(rel, {"ecg_id": 1})], CLEAN_CFG)
    assert res.meta == [] and len(res.signals) == 0
    (q,) = res.quarantine
    assert q["record"] == rel and q["reason"].startswith("cannot resample") and "257.3 Hz" in q["reason"]


def test_unusable_metadata_files_name_the_file(tmp_path):
    raw = tmp_path / "raw"
    make_cohort(raw, 2, seed=1)
    db = pd.read_csv(raw / "ptbxl_database.csv")
    db.drop(columns=["strat_fold"]).to_csv(raw / "ptbxl_database.csv", index=False)
    with pytest.raises(ValueError, match=r"ptbxl_database\.csv: missing column\(s\) \['strat_fold'\]"):
        _run(raw, tmp_path)
    (raw / "scp_statements.csv").unlink()
    with pytest.raises(ValueError, match=r"scp_statements\.csv: missing metadata file"):
        _run(raw, tmp_path)
    with pytest.raises(FileNotFoundError, match="nowhere: raw data folder not found"):
        _run(tmp_path / "nowhere", tmp_path)


def test_records_file_union_with_metadata_rows(tmp_path):
    raw = tmp_path / "raw"
    make_cohort(raw, 4, seed=3)
    listed = [rel_name(1), rel_name(2), rel_name(3), rel_name(99), "records500/00000/00001_hr"]
    (raw / "RECORDS").write_text("\n".join(listed) + "\n")
    summary, _ = _run(raw, tmp_path / "out")
    assert (summary["n_input"], summary["n_kept"], summary["n_quarantined"]) == (5, 4, 1)
    q = pd.read_csv(tmp_path / "out" / "quarantine.csv")
    assert q.values.tolist() == [[rel_name(99), "clean.metadata", "no metadata row"]]
    empty = tmp_path / "empty"
    write_tables(empty, [])
    with pytest.raises(ValueError, match="empty: no records found"):
        _run(empty, tmp_path / "out2")
