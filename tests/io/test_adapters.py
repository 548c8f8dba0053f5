"""Dataset adapters: LUDB and CinC 2021 on the real shared folders, PTB DB on a wfdb-written
fixture; labels, patient-wise hash folds, resampling to 100 Hz and a bad-input case for each."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.io
import scipy.ndimage as ndi
import scipy.signal as ss
import wfdb

from ecgrecon import LEADS12
from ecgrecon.data.clean import clean_dataset
from ecgrecon.data.folds import make_folds
from ecgrecon.io.adapters import get_adapter
from ecgrecon.io.adapters.snomed_ct import SNOMED
from ecgrecon.io.h5io import read_table
from ptbxl_fixture import CLEAN_CFG, LABELS_CFG, synth_signal
from snakemake_helpers import ROOT, scheduled_rules, snakemake

SHARED = ROOT.parent / "shared" / "data"
LUDB, CINC = SHARED / "ludb", SHARED / "cinc2021"
SPLIT = {"train_folds": [1, 2, 3, 4, 5, 6, 7, 8], "val_folds": [9], "test_folds": [10], "cv_k": 3}


def _clean(raw, out: Path, kind: str, **kw):
    logs: list[str] = []
    summary = clean_dataset(
        raw, out / "clean.h5", out / "q.csv", {**CLEAN_CFG, "max_quarantine_fraction": 1.0}, LABELS_CFG, kind=kind, log=logs.append, **kw
    )
    with h5py.File(out / "clean.h5", "r") as h5:
        sig, meta, fs = h5["signals"][...], read_table(h5["meta"]).set_index("ecg_id", drop=False), h5.attrs["fs"]
    q = pd.read_csv(out / "q.csv", keep_default_na=False)
    return summary, sig, meta, fs, {r.record: (r.stage, r.reason) for r in q.itertuples()}, logs


def _fold(patient_id: int) -> int:
    """Independent re-statement of the documented hash fold."""
    return int(hashlib.sha256(str(patient_id).encode()).hexdigest()[:16], 16) % 10 + 1


def _naive_clean(sig: np.ndarray, fs: float) -> np.ndarray:
    """Reference chain in float64 with plain scipy: notch 50, band-pass, resample to 100 Hz, median."""
    b, a = ss.iirnotch(50.0, 30.0, fs=fs)
    x = ss.sosfiltfilt(ss.tf2sos(b, a), sig, axis=0)
    x = ss.sosfiltfilt(ss.butter(2, [0.5, 45.0], btype="bandpass", fs=fs, output="sos"), x, axis=0)
    x = ss.resample_poly(x, 1, int(fs // 100), axis=0)
    return x - ndi.median_filter(x, size=(61, 1), mode="nearest")


def _js(meta, ecg_id, col):
    return json.loads(meta.loc[ecg_id, col])


@pytest.fixture(scope="module")
def ludb(tmp_path_factory):
    return _clean(LUDB, tmp_path_factory.mktemp("ludb"), "ludb")


def test_ludb_all_records_labels_and_patient_folds(ludb):
    summary, sig, meta, fs, quarantine, _ = ludb
    assert (summary["n_input"], summary["n_kept"], quarantine) == (160, 160, {})
    assert sig.shape == (160, 1000, 12) and fs == 100.0
    assert meta["ecg_id"].tolist() == list(range(1, 161)) and (meta["patient_id"] == meta["ecg_id"]).all()
    assert meta["strat_fold"].tolist() == [_fold(p) for p in meta["patient_id"]]
    assert set(meta["strat_fold"]) == set(range(1, 11))
    assert summary["superclass_counts"] == {"CD": 62, "HYP": 120, "MI": 22, "NORM": 13, "STTC": 77, "none": 7}
    assert summary["unmapped_statements"] == {}
    assert _js(meta, 1, "labels") == ["LAD", "LVH", "NST_", "SBRAD"]  # from ludb.csv, multi-line cells
    assert _js(meta, 1, "superclass") == ["HYP", "STTC"]
    assert _js(meta, 7, "superclass") == ["HYP", "MI"] and _js(meta, 7, "subclass")[:2] == ["AMI", "LAO/LAE"]
    assert _js(meta, 8, "labels") == ["AFIB", "ISC_", "PACE"] and _js(meta, 8, "superclass") == ["STTC"]
    assert _js(meta, 56, "superclass") == ["NORM"]  # sinus rhythm + normal axis only
    folds = make_folds(meta.reset_index(drop=True), SPLIT, seed=1)  # raises LeakageError on a shared patient
    assert sorted(folds["official"]["test"]) == sorted(meta.index[meta["strat_fold"] == 10])
    ref = wfdb.rdsamp(str(LUDB / "data" / "1"))
    cols = [[n.upper() for n in ref[1]["sig_name"]].index(lead) for lead in LEADS12]
    np.testing.assert_allclose(sig[0], _naive_clean(ref[0][:, cols], 500.0), atol=1e-3)


def _ludb_copy(root: Path, ids) -> None:
    (root / "data").mkdir(parents=True)
    for i in ids:
        for ext in (".hea", ".dat"):
            shutil.copy(LUDB / "data" / f"{i}{ext}", root / "data" / f"{i}{ext}")


def test_ludb_header_fallback_and_bad_inputs(tmp_path):
    raw = tmp_path / "raw"
    _ludb_copy(raw, (1, 7, 8, 56))
    (raw / "ludb.csv").write_text(
        "ID,Sex,Age,Rhythms,Hypertrophies\n"
        '1,"F\n","51\n",Sinus rhythm,"Left atrial overload\nRight ventricular hypertrophy"\n'
        "99,M,40,Sinus rhythm,\nx1,M,40,Sinus rhythm,\n"
    )
    dat = raw / "data" / "56.dat"
    dat.write_bytes(dat.read_bytes()[:50000])
    summary, _, meta, _, quarantine, logs = _clean(raw, tmp_path / "out", "ludb")
    assert (summary["n_input"], summary["n_kept"]) == (6, 3)
    assert _js(meta, 1, "labels") == ["LAO/LAE", "RVH", "SR"]  # this ludb.csv row wins over the header
    real = dict(get_adapter("ludb").candidates(LUDB.resolve(), None, 80).records)
    for i in (7, 8):  # no row: the header's diagnoses
        assert meta.loc[i, "labels"] == real[f"data/{i}"]["labels"]
    assert quarantine["data/99"] == ("clean.read", "missing file")
    assert quarantine["ludb.csv row 4"] == ("clean.metadata", "invalid ID 'x1' in ludb.csv")
    stage, reason = quarantine["data/56"]
    assert stage == "clean.read" and reason.startswith("truncated .dat: expected 120000 bytes, found 50000")
    assert any(str(dat) in line and "truncated" in line for line in logs)


@pytest.fixture(scope="module")
def cinc(tmp_path_factory):
    return _clean(CINC, tmp_path_factory.mktemp("cinc"), "cinc2021")


def test_cinc_snomed_mapping_and_quarantine(cinc):
    summary, sig, meta, fs, quarantine, logs = cinc
    assert (summary["n_input"], summary["n_kept"], summary["n_quarantined"]) == (100, 97, 3)
    assert quarantine == {
        "training/JS11438": ("clean.signal", "flat lead(s) V1, V2, V3, V4, V5, V6"),
        "test/JS20004": ("clean.signal", "flat lead(s) V2, V4, V6"),
        "test/JS20008": ("clean.signal", "flat lead(s) V2, V4, V6"),
    }
    assert sig.shape == (97, 1000, 12) and fs == 100.0
    assert (meta["patient_id"] == meta["ecg_id"]).all()
    assert meta["strat_fold"].tolist() == [_fold(p) for p in meta["patient_id"]]
    codes = {
        c.strip()
        for hea in CINC.rglob("*.hea")
        for line in hea.read_text().splitlines()
        if line.startswith("#Dx")
        for c in line.split(":", 1)[1].split(",")
        if c.strip()
    }
    assert len(codes) == 38 and codes - set(SNOMED) == {"251238007"}  # every other code is in the table
    assert summary["unmapped_statements"] == {"251238007": 1}
    assert any("outside the cinc2021 label table" in line and "251238007" in line for line in logs)
    expect = {
        10000689: (["AFIB"], []),  # A0689: 164889003 AF, a rhythm
        10001041: (["AFIB", "CLBBB"], ["CD"]),  # + 164909002 LBBB
        70037196: (["SR"], ["NORM"]),  # 426783006 sinus rhythm alone
        70022627: (["LAD", "SBRAD"], []),  # sinus + axis deviation: not NORM
        70026689: (["SBRAD", "TAB_"], ["STTC"]),  # 164934002 T-wave abnormal
        60009657: (["AFIB", "ISCLA", "LVH", "TAB_"], ["HYP", "STTC"]),
    }
    for ecg_id, (labels, sup) in expect.items():
        assert (_js(meta, ecg_id, "labels"), _js(meta, ecg_id, "superclass")) == (labels, sup), ecg_id


@pytest.mark.parametrize("name, n_source", [("training/E00271", 5000), ("training/A5215", 10000)])
def test_cinc_mat_header_quirk_and_500_to_100_hz(cinc, name, n_source):
    _, sig, meta, _, _, _ = cinc
    hea = (CINC / f"{name}.hea").read_text().split()
    assert hea[3] == str(n_source) and (hea[0] == "E00271.mat") == name.endswith("E00271")
    row = meta.index.get_loc(meta.index[meta["filename"] == name][0])
    val = scipy.io.loadmat(CINC / f"{name}.mat")["val"]
    assert val.shape == (12, n_source)
    source = val.T[:5000] / 1000.0  # first 10 s; gain 1000/mV, baseline 0
    np.testing.assert_allclose(sig[row], _naive_clean(source, 500.0), atol=1e-3)


def test_cinc_bad_inputs(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    for name in ("A0689", "E00271", "E07938", "A1041"):
        for ext in (".hea", ".mat"):
            shutil.copy(CINC / "training" / f"{name}{ext}", raw / f"{name}{ext}")
    hea = raw / "E00271.hea"
    hea.write_text(hea.read_text().replace("E00271.mat 12 500", "X99999 12 500", 1))
    mat = raw / "E07938.mat"
    mat.write_bytes(mat.read_bytes()[:60000])
    hea = raw / "A1041.hea"
    hea.write_text("\n".join(ln for ln in hea.read_text().splitlines() if not ln.startswith("#Dx")) + "\n")
    shutil.copy(raw / "A0689.hea", raw / "ZZ12.hea")
    (raw / "Q0001.mat").write_bytes(b"")
    summary, _, meta, _, quarantine, _ = _clean(raw, tmp_path / "out", "cinc2021")
    assert (summary["n_input"], summary["n_kept"], meta.index.tolist()) == (6, 1, [10000689])
    assert quarantine["E00271"] == ("clean.read", "header names record 'X99999', the file is 'E00271'")
    assert quarantine["E07938"][0] == "clean.read" and quarantine["E07938"][1].startswith("unreadable .mat")
    assert quarantine["A1041"] == ("clean.metadata", "no '# Dx:' line in the header")
    assert quarantine["ZZ12"][0] == "clean.metadata" and "is not <source prefix><number>" in quarantine["ZZ12"][1]
    assert quarantine["Q0001.mat"] == ("clean.metadata", "signal file without .hea header")


PTBDB_NAMES = "i ii iii avr avl avf v1 v2 v3 v4 v5 v6 vx vy vz".split()


def _ptbdb_record(
    root: Path, rel: str, seconds: float, reason: str | None, seed: int, names=PTBDB_NAMES, split_xyz: bool = True
) -> np.ndarray:
    """A PTB DB-style record (1000 Hz, gain 2000, Frank leads in .xyz) written by wfdb."""
    base = root / rel
    base.parent.mkdir(parents=True, exist_ok=True)
    n, k = int(seconds * 1000), len(names)
    sig = np.concatenate([synth_signal(n, 1000.0, seed, mains_hz=50.0), synth_signal(n, 1000.0, seed + 1)], 1)[:, :k]
    comments = ["age: 81", "sex: female", "ECG date: 01/10/1990", "Diagnose:"]
    if reason:
        comments += [f"Reason for admission: {reason}", "Acute infarction (localization): infero-latera"]
    files = [f"{base.name}.{'xyz' if split_xyz and nm in ('vx', 'vy', 'vz') else 'dat'}" for nm in names]
    rec = wfdb.Record(
        record_name=base.name,
        n_sig=k,
        fs=1000,
        sig_len=n,
        p_signal=sig,
        file_name=files,
        fmt=["16"] * k,
        adc_gain=[2000.0] * k,
        baseline=[0] * k,
        units=["mV"] * k,
        sig_name=list(names),
        comments=comments,
    )
    rec.set_d_features(do_adc=True)
    rec.set_defaults()
    rec.wrsamp(write_dir=str(base.parent))
    return sig


def test_ptbdb_fixture_15_signals_to_12_leads(tmp_path):
    raw = tmp_path / "ptbdb"
    s10 = _ptbdb_record(raw, "patient001/s0010_re", 12.0, "Myocardial infarction", 1)
    _ptbdb_record(raw, "patient001/s0014lre", 11.0, "Myocardial infarction", 3)
    _ptbdb_record(raw, "patient002/s0015lre", 10.5, "Healthy control", 5)
    s20 = _ptbdb_record(raw, "patient003/s0020are", 10.0, "Bundle branch block", 7, split_xyz=False)
    _ptbdb_record(raw, "patient004/s0030_re", 12.0, "Healthy control", 9, names=PTBDB_NAMES[:11] + PTBDB_NAMES[12:])
    _ptbdb_record(raw, "patientX/s0040_re", 12.0, "Healthy control", 11)
    _ptbdb_record(raw, "patient005/s0050_re", 12.0, None, 13)
    _ptbdb_record(raw, "patient006/s0060_re", 8.0, "Healthy control", 15)
    assert (raw / "patient001" / "s0010_re.xyz").stat().st_size == 12000 * 3 * 2  # Frank leads apart
    summary, sig, meta, fs, quarantine, _ = _clean(raw, tmp_path / "out", "ptbdb", threads=2)
    assert (summary["n_input"], summary["n_kept"]) == (8, 4) and sig.shape == (4, 1000, 12) and fs == 100.0
    assert meta.index.tolist() == [10010, 10014, 20015, 30020]
    assert meta["patient_id"].tolist() == [1, 1, 2, 3]
    assert meta["strat_fold"].tolist() == [_fold(p) for p in (1, 1, 2, 3)]
    assert [_js(meta, e, "superclass") for e in meta.index] == [["MI"], ["MI"], ["NORM"], ["CD"]]
    assert _js(meta, 10010, "labels") == ["IMI"] and _js(meta, 10010, "subclass") == ["IMI"]
    assert quarantine["patient004/s0030_re"][0] == "clean.read"
    assert "expected 12 standard leads besides ['VX', 'VY', 'VZ'], header has 11" in quarantine["patient004/s0030_re"][1]
    assert quarantine["patientX/s0040_re"] == ("clean.metadata", "cannot take a patient id from folder 'patientX' (expected patientNNN)")
    assert quarantine["patient005/s0050_re"] == ("clean.metadata", "no '# Reason for admission:' comment in the header")
    assert quarantine["patient006/s0060_re"] == ("clean.signal", "too short: 8 s < 10 s")
    for row, source in ((0, s10), (3, s20)):  # first 10 s of the 12 standard leads, quantised like the file
        digital = np.round(source[:10000, :12] * 2000.0) / 2000.0
        np.testing.assert_allclose(sig[row], _naive_clean(digital, 1000.0), atol=1e-3)


def test_unknown_kind_names_the_choices(tmp_path):
    choices = r"\['ptbxl', 'ptbdb', 'ludb', 'cinc2021'\]"
    with pytest.raises(ValueError, match=rf"unknown dataset kind 'mitdb': expected one of {choices}"):
        _clean(LUDB, tmp_path, "mitdb")


def test_snakemake_extra_datasets_pick_their_adapter(tmp_path):
    cfg = ROOT / "config" / "real_shared.yaml"
    jobs = scheduled_rules(tmp_path, cfg, "-n", "results/clean/ludb.h5", "results/clean/cinc2021.h5")
    assert jobs == {"clean": 2}
    proc = snakemake(tmp_path, "-n", "results/clean/mitdb.h5", configfile=cfg, check=False)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "unknown dataset 'mitdb'" in out and "declared: ['cinc2021', 'ludb']" in out
