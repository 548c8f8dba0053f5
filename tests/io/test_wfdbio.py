"""The lean WFDB reader: agrees with wfdb.rdsamp, refuses every kind of bad record clearly."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import wfdb

from ecgrecon import LEADS12
from ecgrecon.io.wfdbio import RecordError, declared_fs, parse_header, read_record
from ptbxl_fixture import SHARED_PTBXL, synth_signal, write_record

REAL = ["records100/00000/00001_lr", "records100/01000/01025_lr", "records100/21000/21544_lr"]


@pytest.mark.parametrize("rel", REAL)
def test_matches_wfdb_on_real_ptbxl(rel):
    rec = read_record(SHARED_PTBXL.resolve(), rel)
    ref, fields = wfdb.rdsamp(str(SHARED_PTBXL / rel))
    order = [fields["sig_name"].index(lead) for lead in LEADS12]
    assert rec.fs == 100.0 and rec.signal.shape == (1000, 12) and rec.signal.dtype == np.float32
    np.testing.assert_allclose(rec.signal, ref[:, order], atol=1e-6)


@pytest.mark.parametrize("fmt", ["16", "212", "32", "80"])
def test_formats_and_lead_reordering(tmp_path, fmt):
    names = list(reversed(LEADS12))
    names[names.index("AVR")] = "aVR"  # PTB-XL-style lower-case spelling is accepted
    sig = np.clip(synth_signal(500, 100.0, seed=3), -1.9, 1.9)
    base = tmp_path / "records100" / "00000" / "00007_lr"
    base.parent.mkdir(parents=True)
    k = sig.shape[1]
    gain = 60.0 if fmt == "80" else 1000.0
    wfdb.wrsamp(
        base.name,
        fs=100,
        units=["mV"] * k,
        sig_name=names,
        p_signal=sig,
        fmt=[fmt] * k,
        adc_gain=[gain] * k,
        baseline=[0] * k,
        write_dir=str(base.parent),
    )
    rec = read_record(tmp_path.resolve(), "records100/00000/00007_lr")
    ref = wfdb.rdsamp(str(base))[0]
    np.testing.assert_allclose(rec.signal, ref[:, ::-1], atol=1e-6)  # reversed -> LEADS12 order
    np.testing.assert_allclose(rec.signal, sig[:, ::-1], atol=0.51 / gain + 1e-6)


@pytest.fixture
def good(tmp_path) -> tuple[Path, str]:
    rel = "records100/00000/00001_lr"
    write_record(tmp_path / rel, synth_signal(1000, 100.0, seed=1), 100)
    return tmp_path.resolve(), rel


def _refused(root: Path, rel: str, *needles: str) -> RecordError:
    with pytest.raises(RecordError) as info:
        read_record(root, rel)
    for needle in needles:
        assert needle in str(info.value), str(info.value)
    return info.value


def _edit_header(root: Path, rel: str, edit) -> None:
    hea = root / (rel + ".hea")
    lines = hea.read_text().splitlines()
    hea.write_text("\n".join(edit(lines)) + "\n")


def test_truncated_dat(good):
    root, rel = good
    dat = root / (rel + ".dat")
    dat.write_bytes(dat.read_bytes()[:10000])
    err = _refused(root, rel, "truncated .dat", "expected 24000 bytes, found 10000", str(dat))
    assert err.reason.startswith("truncated .dat")


def test_corrupt_dat_fails_checksum(good):
    root, rel = good
    dat = root / (rel + ".dat")
    raw = bytearray(dat.read_bytes())
    raw[100] ^= 0x40
    dat.write_bytes(bytes(raw))
    _refused(root, rel, "checksum mismatch", str(dat))


def test_eleven_signals(good):
    root, rel = good
    _edit_header(root, rel, lambda ls: [ls[0].replace(" 12 ", " 11 ", 1)] + ls[1:-1])
    _refused(root, rel, "expected 12 signals, header has 11", "00001_lr.hea")


def test_header_count_disagrees_with_lines(good):
    root, rel = good
    _edit_header(root, rel, lambda ls: ls[:-1])
    _refused(root, rel, "header declares 12 signals but lists 11")


def test_unknown_lead_name(good):
    root, rel = good
    _edit_header(root, rel, lambda ls: ls[:-1] + [ls[-1].rsplit(" ", 1)[0] + " V7"])
    _refused(root, rel, "unknown lead name", "V7", "00001_lr.hea")


def test_duplicate_lead_name(good):
    root, rel = good
    _edit_header(root, rel, lambda ls: ls[:-1] + [ls[-1].rsplit(" ", 1)[0] + " V5"])
    _refused(root, rel, "duplicate lead names")


def test_wrong_sampling_rate_for_folder(tmp_path):
    rel = "records100/00000/00002_lr"
    write_record(tmp_path / rel, synth_signal(2500, 250.0, seed=2), 250)
    err = _refused(tmp_path.resolve(), rel, "wrong sampling rate", "250 Hz", "100 Hz", "00002_lr.hea")
    assert declared_fs(rel) == 100.0 and declared_fs("other/x") is None
    assert "records100" in err.path


def test_nan_samples_are_nan(tmp_path):
    rel = "records100/00000/00003_lr"
    sig = synth_signal(1000, 100.0, seed=4)
    sig[100:110, 6] = np.nan
    write_record(tmp_path / rel, sig, 100)
    rec = read_record(tmp_path.resolve(), rel)
    assert np.isnan(rec.signal[100:110, 6]).all()
    assert np.isfinite(np.delete(rec.signal, 6, axis=1)).all()
    assert np.isfinite(rec.signal[:100, 6]).all()


def test_missing_files(good):
    root, rel = good
    err = _refused(root, "records100/00000/00099_lr", "00099_lr.hea")
    assert err.reason == "missing file"
    (root / (rel + ".dat")).unlink()
    _refused(root, rel, "missing .dat file", "00001_lr.dat")


@pytest.mark.parametrize("rel", ["../../etc/x", "records100/../../outside", "/etc/passwd"])
def test_path_escape_refused(good, rel):
    root, _ = good
    err = _refused(root, rel, "path outside data root")
    assert rel in str(err)


def test_symlink_escape_refused(tmp_path, good):
    root, rel = good
    outside = tmp_path.parent / (tmp_path.name + "_outside")
    outside.mkdir()
    write_record(outside / "00005_lr", synth_signal(1000, 100.0, seed=5), 100)
    os.symlink(outside, root / "records100" / "linked")
    _refused(root, "records100/linked/00005_lr", "path outside data root")
    os.symlink(outside / "00005_lr.hea", root / "records100" / "00000" / "00006_lr.hea")
    _refused(root, "records100/00000/00006_lr", "path outside data root")
    shutil.rmtree(outside)


def test_dat_name_in_header_cannot_escape(good):
    root, rel = good
    _edit_header(root, rel, lambda ls: [ls[0]] + [ln.replace("00001_lr.dat", "../../x.dat") for ln in ls[1:]])
    _refused(root, rel, "path outside data root", "x.dat")


def test_header_fields_parsed(good):
    root, rel = good
    h = parse_header(root / (rel + ".hea"))
    assert (h.n_sig, h.fs, h.n_samples) == (12, 100.0, 1000)
    assert [s.name for s in h.signals] == list(LEADS12)
    assert all(s.gain == 1000.0 and s.baseline == 0 and s.units == "mV" for s in h.signals)
