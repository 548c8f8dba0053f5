"""The synthetic cohort generator (ecgrecon.synth): files, determinism, physiology, premise."""

import ast
import json
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import wfdb

from ecgrecon import LEADS12
from ecgrecon.io.h5io import read_table
from ecgrecon.io.metadata import load_database, load_statements
from ecgrecon.io.wfdbio import read_record
from ecgrecon.signal.filters import bandpass
from ecgrecon.signal.measures import record_features
from ecgrecon.synth import simulate_cohort, write_cohort
from ecgrecon.synth.premise import linear_map_scores
from ecgrecon.synth.wfdb_writer import write_record

REAL_COLUMNS = Path(__file__).resolve().parents[3] / "shared" / "data" / "ptb-xl"
LIMB = {lead: LEADS12.index(lead) for lead in ("I", "II", "III", "AVR", "AVL", "AVF")}


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _signals(root: Path, db: pd.DataFrame) -> np.ndarray:
    return np.stack([np.fromfile(root / f"{p}.dat", dtype="<i2").reshape(1000, 12) / 1000.0 for p in db["filename_lr"]])


def _truth(root: Path) -> pd.DataFrame:
    with h5py.File(root / "ground_truth.h5") as f:
        return read_table(f["records"])


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """60 records with 500 Hz twins and 5 % deliberately bad records."""
    out = tmp_path_factory.mktemp("synth") / "small"
    messages = []
    summary = write_cohort(out, 60, seed=11, write_hr=True, bad_per_thousand=50, threads=1, progress=messages.append)
    return out, summary, messages


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """A 400-record cohort for statistics, with its measured features."""
    out = tmp_path_factory.mktemp("synth") / "cohort"
    summary = write_cohort(out, 400, seed=5, threads=1, progress=lambda s: None)
    db = pd.read_csv(out / "ptbxl_database.csv")
    truth = _truth(out)
    sig = _signals(out, db)
    feats = [record_features(s, 100.0) for s in sig]
    return out, summary, db, truth, sig, feats


def test_layout_matches_ptbxl(small):
    out, summary, messages = small
    db = pd.read_csv(out / "ptbxl_database.csv")
    real = pd.read_csv(REAL_COLUMNS / "ptbxl_database.csv", nrows=1)
    assert list(db.columns) == list(real.columns)
    assert db["ecg_id"].tolist() == list(range(1, 61))
    assert db["patient_id"].dtype == float and (db["patient_id"] % 1 == 0).all()
    assert db["filename_lr"].iloc[0] == "records100/00000/00001_lr"
    assert db["filename_hr"].iloc[0] == "records500/00000/00001_hr"
    assert set(db["strat_fold"]) <= set(range(1, 11))
    assert (db.groupby("patient_id")["strat_fold"].nunique() == 1).all()
    per_patient = db.groupby("patient_id").size()
    assert per_patient.between(1, 3).all() and summary["patients"] == len(per_patient)
    for text in db["scp_codes"]:
        codes = ast.literal_eval(text)
        assert isinstance(codes, dict) and all(isinstance(v, float) for v in codes.values())
    listed = (out / "RECORDS").read_text().split()
    assert listed == db["filename_lr"].tolist() + db["filename_hr"].tolist()
    real_st = pd.read_csv(REAL_COLUMNS / "scp_statements.csv", index_col=0, nrows=1)
    st = pd.read_csv(out / "scp_statements.csv", index_col=0)
    assert list(st.columns) == list(real_st.columns)
    used = {c for text in db["scp_codes"] for c in ast.literal_eval(text)}
    assert used == set(st.index)
    assert messages and messages[-1].startswith("synth: 60/60")


def test_project_readers_accept_the_cohort(small):
    out, _, _ = small
    db = load_database(out, "records100")
    statements = load_statements(out)
    assert statements.superclass["CLBBB"] == "CD" and statements.superclass["NORM"] == "NORM"
    root = out.resolve()
    for rel in db["filename"].iloc[:5]:
        rec = read_record(root, rel)
        assert rec.fs == 100 and rec.signal.shape == (1000, 12)
    hr = read_record(root, "records500/00000/00001_hr")
    assert hr.fs == 500 and hr.signal.shape == (5000, 12)


def test_wfdb_reads_every_record_and_checksums_match(small):
    out, _, _ = small
    db = pd.read_csv(out / "ptbxl_database.csv")
    for rel in list(db["filename_lr"]) + list(db["filename_hr"]):
        rec = wfdb.rdrecord(str(out / rel), physical=False)
        assert rec.sig_name == list(LEADS12) and rec.units == ["mV"] * 12
        assert rec.adc_gain == [1000.0] * 12 and rec.fmt == ["16"] * 12
        assert rec.sig_len == (1000 if rel.endswith("_lr") else 5000)
        sums = rec.d_signal.astype(np.int64).sum(axis=0) % 65536
        assert list(sums) == rec.checksum
        assert list(rec.d_signal[0]) == rec.init_value
    sig, fields = wfdb.rdsamp(str(out / db["filename_lr"].iloc[0]))
    assert fields["fs"] == 100 and np.abs(sig).max() < 30


def test_same_seed_same_bytes_any_threads_and_other_seed_differs(small, tmp_path):
    out, _, _ = small
    again = tmp_path / "again"
    write_cohort(again, 60, seed=11, write_hr=True, bad_per_thousand=50, threads=2, progress=lambda s: None)
    assert _files(again) == _files(out)
    other = tmp_path / "other"
    write_cohort(other, 60, seed=12, write_hr=False, bad_per_thousand=50, threads=1, progress=lambda s: None)
    a, b = _files(out), _files(other)
    assert a["ptbxl_database.csv"] != b["ptbxl_database.csv"]
    assert a["records100/00000/00001_lr.dat"] != b["records100/00000/00001_lr.dat"]


def test_limb_lead_relations_before_noise_and_in_files(small):
    sim = simulate_cohort(60, seed=11, ecg_ids=range(1, 9), bad_per_thousand=0, want_hr=True)
    for key in ("clean_hr", "clean_lr"):
        x = sim[key]
        i, ii = x[..., LIMB["I"]], x[..., LIMB["II"]]
        assert np.abs(x[..., LIMB["III"]] - (ii - i)).max() < 1e-12
        assert np.abs(x[..., LIMB["AVR"]] + (i + ii) / 2).max() < 1e-12
        assert np.abs(x[..., LIMB["AVL"]] - (i - ii / 2)).max() < 1e-12
        assert np.abs(x[..., LIMB["AVF"]] - (ii - i / 2)).max() < 1e-12
        assert np.abs(x).max() > 0.3  # real waveforms, not zeros
    assert np.abs(sim["lr"] - sim["clean_lr"]).std() > 0.005  # noise is there
    field = sim["lead_field"]
    assert np.abs(field[:, 2] - (field[:, 1] - field[:, 0])).max() < 1e-12
    # recorded files: each lead quantised on its own, so the relations hold to 1.5 adu
    out, summary, _ = small
    bad = {i for ids in summary["bad_records"].values() for i in ids}
    db = pd.read_csv(out / "ptbxl_database.csv")
    keep = ~db["ecg_id"].isin(bad)
    rec = _signals(out, db[keep])
    assert np.abs(rec[..., 2] - (rec[..., 1] - rec[..., 0])).max() <= 0.0015 + 1e-9
    assert np.abs(rec[..., 5] - (rec[..., 1] - rec[..., 0] / 2)).max() <= 0.0015 + 1e-9


def test_same_patient_same_anatomy(cohort):
    out, _, db, truth, _, _ = cohort
    with h5py.File(out / "ground_truth.h5") as f:
        field = f["lead_field"][...]
        local = f["local_field"][...]
    assert field.shape == (400, 12, 3)
    pids = truth["patient_id"].to_numpy()
    repeated = [p for p in np.unique(pids) if (pids == p).sum() > 1]
    assert len(repeated) >= 10
    for p in repeated:
        idx = np.flatnonzero(pids == p)
        assert np.array_equal(field[idx[0]], field[idx[1]]) and np.array_equal(local[idx[0]], local[idx[1]])
    first = np.unique(pids, return_index=True)[1]
    spread = field[first].std(axis=0)[6:] / np.abs(field[first].mean(axis=0)[6:]).clip(0.1)
    assert np.median(spread) > 0.15  # anatomy really varies between patients
    assert (truth["ecg_id"].to_numpy() == db["ecg_id"].to_numpy()).all()


def test_class_mix_and_labels(cohort):
    _, summary, db, truth, _, _ = cohort
    n = summary["records"]
    counts = summary["superclass_counts"]
    assert 0.32 < counts["NORM"] / n < 0.55
    for sup, (lo, hi) in {"MI": (0.12, 0.4), "STTC": (0.12, 0.4), "CD": (0.1, 0.35), "HYP": (0.05, 0.25)}.items():
        assert lo < counts[sup] / n < hi, (sup, counts)
    supers = truth["superclass"].map(json.loads)
    assert (supers.map(len) >= 2).sum() > 0.05 * n  # multi-label records occur
    liks = [
        v
        for text in db["scp_codes"]
        for c, v in ast.literal_eval(text).items()
        if c not in ("SR", "SBRAD", "STACH", "AFIB", "QWAVE", "STD_", "INVT", "VCLVH", "LPR")
    ]
    assert any(v < 80 for v in liks) and np.mean(np.array(liks) >= 80) > 0.75
    assert 0.03 < summary["afib"] / n < 0.12
    assert set(summary["folds"]) == set(range(1, 11))
    frac = db.assign(norm=supers.map(lambda s: "NORM" in s)).groupby("strat_fold")["norm"].mean()
    assert frac.max() - frac.min() < 0.3  # stratified by label


def test_bad_records_are_bad(small):
    out, summary, _ = small
    bad = summary["bad_records"]
    assert sum(map(len, bad.values())) == 3 and all(len(v) == 1 for v in bad.values())
    db = pd.read_csv(out / "ptbxl_database.csv").set_index("ecg_id")
    truth = _truth(out).set_index("ecg_id")
    good = [i for i in db.index if i not in {v[0] for v in bad.values()}]
    good_ptp = np.stack(
        [np.ptp(np.fromfile(out / f"{db.loc[i, 'filename_lr']}.dat", dtype="<i2").reshape(1000, 12).astype(int), axis=0) for i in good]
    )
    assert good_ptp.max() < 15000 and (good_ptp > 100).all()  # no flat or wild lead among good ones
    for kind, (ecg_id,) in bad.items():
        lead = LEADS12.index(truth.loc[ecg_id, "bad_lead"])
        for rel, n in ((db.loc[ecg_id, "filename_lr"], 1000), (db.loc[ecg_id, "filename_hr"], 5000)):
            x = np.fromfile(out / f"{rel}.dat", dtype="<i2").reshape(n, 12)[:, lead].astype(int)
            if kind == "flat":
                assert x.std() == 0
            elif kind == "saturated":
                assert (np.abs(x) == 32767).mean() > 0.3
            else:
                assert np.ptp(x) > 3 * np.percentile(good_ptp[:, lead], 99)


def test_noise_levels_vary_and_mains_only_at_500_hz():
    sim = simulate_cohort(60, seed=3, ecg_ids=range(1, 31), bad_per_thousand=0, want_hr=True)
    noise_lr = sim["lr"] - sim["clean_lr"]
    hp = bandpass(noise_lr, 100.0, 15.0, 45.0, 2, axis=1)
    level = hp.std(axis=(1, 2))
    assert np.percentile(level, 90) > 2.5 * np.percentile(level, 10)
    noise_hr = sim["hr"] - sim["clean_hr"]
    spec = (np.abs(np.fft.rfft(noise_hr[..., 1], axis=1)) ** 2).mean(axis=0)  # lead II, 0.1 Hz bins
    freqs = np.fft.rfftfreq(5000, 1 / 500)
    near = spec[(np.abs(freqs - 50) > 1) & (np.abs(freqs - 50) < 5)].mean()
    assert spec[np.argmin(np.abs(freqs - 50))] > 8 * near  # a 50 Hz line
    assert spec[np.argmin(np.abs(freqs - 60))] < 3 * near  # and none at 60 Hz
    spec_lr = np.abs(np.fft.rfft(noise_lr[..., 1], axis=1)) ** 2
    assert spec_lr[:, -3:].mean() < 0.05 * spec_lr[:, 50:400].mean()  # anti-aliased near Nyquist


def _group(truth: pd.DataFrame, codes) -> np.ndarray:
    parsed = truth["codes"].map(json.loads)
    good = (truth["bad_kind"] == "").to_numpy()
    return parsed.map(lambda c: any(c.get(k, 0) >= 80 for k in codes)).to_numpy() & good


def test_class_signatures_are_measurable(cohort):
    _, _, _, truth, _, feats = cohort
    qrs = np.array([f["qrs_ms"] for f in feats])
    st = np.stack([f["st"] for f in feats])
    t_amp = np.stack([f["t_amp"] for f in feats])
    rr_cv = np.array([f["rr_cv"] for f in feats])
    sup = truth["superclass"].map(json.loads)
    good = (truth["bad_kind"] == "").to_numpy()
    norm = (sup.map(lambda s: s == ["NORM"]).to_numpy()) & good & ~truth["afib"].to_numpy().astype(bool)
    cd = sup.map(lambda s: "CD" in s).to_numpy() & good
    sttc = sup.map(lambda s: "STTC" in s).to_numpy() & good
    assert norm.sum() > 100 and cd.sum() > 40 and sttc.sum() > 40
    assert np.nanmean(qrs[cd]) - np.nanmean(qrs[norm]) >= 30
    v5, avf, v2 = LEADS12.index("V5"), LEADS12.index("AVF"), LEADS12.index("V2")
    assert np.nanmean(st[sttc, v5]) < np.nanmean(st[norm, v5]) - 0.03  # ST depression
    assert np.nanmean(t_amp[sttc, v5]) < np.nanmean(t_amp[norm, v5]) - 0.15  # flat / inverted T
    inferior = _group(truth, ("IMI", "ILMI", "IPLMI", "IPMI"))
    anterior = _group(truth, ("ASMI", "AMI", "ALMI"))
    assert inferior.sum() > 15 and anterior.sum() > 15
    assert np.nanmean(t_amp[inferior, avf]) < np.nanmean(t_amp[norm, avf]) - 0.15
    assert np.nanmean(t_amp[anterior, v2]) < np.nanmean(t_amp[norm, v2]) - 0.1
    afib = truth["afib"].to_numpy().astype(bool) & good
    assert np.nanmedian(rr_cv[afib]) > 3 * np.nanmedian(rr_cv[norm])
    hr = np.array([f["hr"] for f in feats])
    assert np.nanmedian(np.abs(hr[good] - truth["hr_bpm"].to_numpy()[good])) < 3


def test_premise_per_patient_map_beats_population_map(cohort):
    _, _, db, truth, sig, _ = cohort
    good = (truth["bad_kind"] == "").to_numpy()
    scores = linear_map_scores(bandpass(sig[good], 100.0, 0.5, 45.0, 2, axis=1), db["patient_id"].to_numpy()[good])
    pop, pat = scores["population"]["r2"], scores["per_patient"]["r2"]
    assert 0.55 < pop < 0.88  # clearly imperfect, like real PTB-XL (~0.69)
    assert pat > pop + 0.1  # anatomy explains much of what is left
    assert pat < 0.98  # non-dipolar sources, breathing, noise: not exact


def test_bad_arguments_and_foreign_folder_are_refused(tmp_path):
    with pytest.raises(ValueError, match="n_records"):
        write_cohort(tmp_path / "a", 0, seed=1, progress=lambda s: None)
    with pytest.raises(ValueError, match="bad_per_thousand"):
        write_cohort(tmp_path / "a", 5, seed=1, bad_per_thousand=2000, progress=lambda s: None)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="notes.txt"):
        write_cohort(foreign, 5, seed=1, progress=lambda s: None)
    assert (foreign / "notes.txt").read_text() == "mine"
    with pytest.raises(ValueError, match="x_lr"):
        write_record(tmp_path / "x_lr", np.zeros((10, 12)), 100)


def test_rewrite_replaces_a_previous_cohort(tmp_path):
    out = tmp_path / "cohort"
    write_cohort(out, 30, seed=2, write_hr=True, progress=lambda s: None)
    (out / "ground_truth.h5").unlink()  # as Snakemake removes declared outputs
    write_cohort(out, 12, seed=2, progress=lambda s: None)
    assert not (out / "records500").exists()
    assert len(list((out / "records100").rglob("*.dat"))) == 12
    assert len(pd.read_csv(out / "ptbxl_database.csv")) == 12
