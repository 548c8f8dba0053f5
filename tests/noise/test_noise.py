"""The noise source, bank, assignment and corruption (ecgrecon.noise) on the shared NSTDB copy and synthetic noise."""

import shutil

import h5py
import numpy as np
import pytest

from ecgrecon.noise import NoiseError, assign, build_bank, corrupt, find_nstdb, parse_level, read_bank, read_nstdb, snr_db
from ecgrecon.noise.bank import split_in_time
from ecgrecon.noise.inputs import NoisyInputs
from ecgrecon.noise.sources import EM_PAIR, NSTDB_FS, derive_em, em_blocks, synthetic_noise
from ecgrecon.tasks import TaskError


@pytest.fixture(scope="module")
def nstdb(shared_data):
    return shared_data / "nstdb"


@pytest.fixture(scope="module")
def em_bank(nstdb, tmp_path_factory):
    path = tmp_path_factory.mktemp("bank") / "bank_em.h5"
    build_bank(path, kinds=["em"], fs=100.0, split=[0.6, 0.2, 0.2], source="nstdb", folder=nstdb, log=lambda m: None)
    return read_bank(path)


def test_em_derived_from_118e00_minus_118e24_is_zero_outside_blocks_and_noise_like_inside(nstdb):
    assert find_nstdb(nstdb) == {"bw": "record", "em": "derived", "ma": "record"}
    em, blocks = derive_em(nstdb)
    n = em.shape[1]
    assert blocks[0] == (int(300 * NSTDB_FS), int(420 * NSTDB_FS)) and len(blocks) == len(em_blocks(n, NSTDB_FS)) == 7
    inside = np.zeros(n, bool)
    for lo, hi in blocks:
        inside[lo:hi] = True
    assert np.all(em[:, ~inside] == 0)
    rms = np.array([np.sqrt(np.mean((em[:, lo:hi] - em[:, lo:hi].mean(axis=1, keepdims=True)) ** 2)) for lo, hi in blocks])
    med = np.median(rms)
    assert np.all(rms > med / 2) and np.all(rms < med * 2), rms
    # noise-like: not constant, and no two consecutive blocks identical
    assert np.all([em[:, lo:hi].std() > 0.1 for lo, hi in blocks])
    msgs = []
    pieces, how = read_nstdb(nstdb, "em", log=msgs.append)
    assert how == "nstdb-derived" and len(pieces) == 7 and "derived from 118e00 - 118e24" in msgs[0]
    assert all(abs(p.mean()) < 1e-9 for p in pieces)


def test_bank_splits_are_disjoint_in_time_and_cover_the_noise(nstdb, tmp_path):
    pieces, _ = read_nstdb(nstdb, "bw", log=lambda m: None)
    # label every sample with its time index and check which split each one lands in
    stamps = [np.vstack([np.arange(p.shape[1], dtype=float) + sum(q.shape[1] for q in pieces[:i])] * 2) for i, p in enumerate(pieces)]
    parts = split_in_time(stamps, (0.6, 0.2, 0.2))
    times = {s: np.concatenate([p[0] for p in parts[s]]) for s in parts}
    assert times["train"].max() < times["val"].min() and times["val"].max() < times["test"].min()
    assert sum(len(t) for t in times.values()) == sum(p.shape[1] for p in pieces)
    # the em bank: pieces (blocks) cut at the split boundaries, never merged across one
    out = tmp_path / "bank.h5"
    summary = build_bank(out, kinds=["bw", "em"], fs=100.0, split=[0.6, 0.2, 0.2], source="nstdb", folder=nstdb, log=lambda m: None)
    assert summary["bw"]["train_s"] == pytest.approx(0.6 * 650000 / 360, abs=1)
    with h5py.File(out) as f:
        assert f["em"].attrs["source"] == "nstdb-derived" and f["bw"].attrs["source"] == "nstdb"
        assert f["em/test/bounds"][-1] == f["em/test/data"].shape[1]


def test_requested_snr_is_met_within_0_1_db_and_bedin_preset_sets_ptp(em_bank):
    rng = np.random.default_rng(1)
    t = np.arange(256) / 100
    clean = (np.sin(2 * np.pi * 1.2 * t)[None, None] * rng.uniform(0.2, 2, (40, 12, 1))).astype(np.float32)
    a = assign(
        em_bank, "em", "test", np.arange(40) // 4, (np.arange(40) % 4) * 64, n_leads=12, window=256, record_len=1000, seed=3, task="t"
    )
    for level in (24.0, 6.0, 0.0, -6.0):
        noisy, _ = corrupt(clean, em_bank, a, level)
        assert np.abs(snr_db(clean, noisy) - level).max() < 0.1
    noisy, _ = corrupt(clean, em_bank, a, "bedin")
    assert np.allclose(np.ptp(noisy - clean, axis=-1), np.ptp(clean, axis=-1), rtol=1e-4)


def test_assignment_is_a_pure_function_of_seed_task_and_record(em_bank):
    kw = {"n_leads": 12, "window": 256, "record_len": 1000}
    a = assign(em_bank, "em", "test", [5, 5, 9], [0, 64, 0], seed=1, task="t", **kw)
    b = assign(em_bank, "em", "test", [9, 7, 5], [0, 0, 64], seed=1, task="t", **kw)  # other records around it
    assert np.array_equal(a.offset[2], b.offset[0]) and np.array_equal(a.offset[1], b.offset[2])
    assert np.array_equal(a.offset[1] - a.offset[0], np.full(12, 64))  # overlapping windows: one noise recording
    assert len(set(zip(a.channel[0], a.offset[0]))) == 12  # no two leads share noise
    c = assign(em_bank, "em", "test", [5], [0], seed=2, task="t", **kw)
    d = assign(em_bank, "em", "test", [5], [0], seed=1, task="other", **kw)
    assert not np.array_equal(a.offset[0], c.offset[0]) and not np.array_equal(a.offset[0], d.offset[0])


def test_noisy_inputs_give_a_lead_the_same_noise_whatever_the_other_leads(em_bank, tmp_path):
    path = tmp_path / "bank_em.h5"
    build_bank(path, kinds=["em"], fs=100.0, split=[0.6, 0.2, 0.2], source="synthetic", seed=0, log=lambda m: None)
    ni = NoisyInputs(str(path), "t", "em", (0.0,), 1, 1000, 256)
    assert ni.source == "synthetic"
    clean = np.ones((3, 3, 256), np.float32)
    a, _ = ni.apply(clean, ["I", "II", "V2"], [1, 2, 3], [0, 0, 0], "train", 0.0)
    b, _ = ni.apply(clean[:, [2]], ["V2"], [1, 2, 3], [0, 0, 0], "train", 0.0)
    assert np.array_equal(a[:, 2], b[:, 0])
    tr, _ = ni.apply(clean, ["I", "II", "V2"], [1, 2, 3], [0, 0, 0], "test", 0.0)
    assert not np.allclose(tr, a)


def test_synthetic_noise_has_the_three_kinds_and_is_seeded():
    for kind in ("bw", "em", "ma"):
        x = synthetic_noise(kind, 0, 100.0, 120.0)[0]
        assert x.shape == (2, 12000) and np.isfinite(x).all() and x.std() > 0.01
        assert np.array_equal(x, synthetic_noise(kind, 0, 100.0, 120.0)[0])
    spec = lambda x: np.abs(np.fft.rfft(x[0])) ** 2  # noqa: E731
    f = np.fft.rfftfreq(12000, 0.01)
    bw, ma = spec(synthetic_noise("bw", 0, 100.0, 120.0)[0]), spec(synthetic_noise("ma", 0, 100.0, 120.0)[0])
    assert bw[f < 1].sum() / bw.sum() > 0.9 and ma[f > 5].sum() / ma.sum() > 0.9


# ---- bad input: one line naming the file or key ------------------------------------------------------------
def test_wrong_channel_count_names_the_file(nstdb, tmp_path):
    for ext in ("hea", "dat"):
        shutil.copy(nstdb / f"bw.{ext}", tmp_path / f"bw.{ext}")
    hea = tmp_path / "bw.hea"
    lines = hea.read_text().splitlines()
    head = lines[0].split()
    head[1] = "1"
    hea.write_text("\n".join([" ".join(head), lines[1], *lines[3:]]) + "\n")
    with pytest.raises(NoiseError) as e:
        read_nstdb(tmp_path, "bw")
    assert str(hea) in str(e.value) and "channels" in str(e.value) and "\n" not in str(e.value)


def test_noise_folder_without_any_kind_is_one_line(tmp_path):
    (tmp_path / "README").write_text("nothing here")
    with pytest.raises(NoiseError, match=r"holds none of the NSTDB noise records bw.hea, em.hea, ma.hea") as e:
        find_nstdb(tmp_path)
    assert str(tmp_path) in str(e.value)
    with pytest.raises(NoiseError, match="does not exist"):
        find_nstdb(tmp_path / "missing")


def test_em_pair_that_differs_outside_the_blocks_is_refused(nstdb, tmp_path):
    import wfdb

    for r in EM_PAIR:
        for ext in ("hea", "dat"):
            shutil.copy(nstdb / f"{r}.{ext}", tmp_path / f"{r}.{ext}")
    rec = wfdb.rdrecord(str(tmp_path / EM_PAIR[1]), physical=False)
    d = rec.d_signal.copy()
    d[100, 0] += 5  # minute 0: before the first noisy block
    wfdb.wrsamp(
        EM_PAIR[1],
        fs=rec.fs,
        units=rec.units,
        sig_name=rec.sig_name,
        d_signal=d,
        fmt=rec.fmt,
        adc_gain=rec.adc_gain,
        baseline=rec.baseline,
        write_dir=str(tmp_path),
    )
    with pytest.raises(NoiseError, match="varies outside the noisy blocks"):
        derive_em(tmp_path)


@pytest.mark.parametrize("value", ["loud", None, True, float("nan"), [3]])
def test_an_snr_that_is_not_a_number_names_the_key(value):
    with pytest.raises(TaskError, match=r"^tasks\.x\.noise\.levels: .* is not (a finite )?(an )?SNR"):
        parse_level(value, "tasks.x.noise.levels")
    assert parse_level("bedin") == "bedin" and parse_level(-6) == -6.0 and parse_level("12") == 12.0


def test_bad_split_and_unknown_kind(tmp_path):
    with pytest.raises(NoiseError, match="noise.split"):
        build_bank(tmp_path / "b.h5", kinds=["em"], fs=100, split=[0.5, 0.2, 0.2], source="synthetic")
    with pytest.raises(NoiseError, match="noise kind 'pl' unknown"):
        build_bank(tmp_path / "b.h5", kinds=["pl"], fs=100, split=[0.6, 0.2, 0.2], source="synthetic")
    with pytest.raises(NoiseError, match="not a noise bank"):
        (tmp_path / "x.h5").write_text("no")
        read_bank(tmp_path / "x.h5")
