"""`ecgrecon reconstruct` / `export` end to end: round trip against the pipeline's own evaluation,
rate independence, WFDB output, folders and RECORDS lists, bad input (one line, exit 2, nothing
written), help texts of the installed console script."""

import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.signal as ss
import torch
import wfdb
from hostile import write_record
from test_bundle import _sha, trained_run  # noqa: F401 (shared session fixture)

from ecgrecon import LEADS12
from ecgrecon.deploy.cli import main
from ecgrecon.io.h5io import read_table
from ecgrecon.signal.filters import clean_batch
from ecgrecon.signal.metrics import record_lead_metrics

TARGETS = ["V1", "V3", "V4", "V5", "V6"]
RECON = [f"{t}-rec" for t in TARGETS]


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def synthetic_record(run, ecg_id: int, hr: bool = False) -> tuple[np.ndarray, float]:
    """The 12 leads (n, 12) mV and fs of one record of the tiny run's synthetic cohort."""
    rec = wfdb.rdrecord(str(run["raw"] / f"records{500 if hr else 100}/00000/{ecg_id:05d}_{'hr' if hr else 'lr'}"))
    return rec.p_signal, float(rec.fs)


def test_help_of_the_installed_console_script_is_useful():
    exe = str(Path(sys.executable).with_name("ecgrecon"))
    top = subprocess.run([exe, "--help"], capture_output=True, text=True)
    assert top.returncode == 0 and "export" in top.stdout and "reconstruct" in top.stdout and "examples:" in top.stdout
    rec = subprocess.run([exe, "reconstruct", "--help"], capture_output=True, text=True)
    for needle in ("--model BUNDLE", "--input RECORD", "--plot", "--output DIR", "case-insensitive", "-rec", "exit codes"):
        assert needle in rec.stdout, needle
    ex = subprocess.run([exe, "export", "--help"], capture_output=True, text=True)
    assert ex.returncode == 0 and "weights_only" in ex.stdout and "--variant {C,Ch,ChA}" in ex.stdout
    assert subprocess.run([exe], capture_output=True, text=True).returncode == 2  # no command: usage error


def test_cli_export_writes_the_same_bundle_as_the_pipeline_export(trained_run, tmp_path, capsys):
    out = tmp_path / "m" / "ecgrecon-C.pt"
    code, stdout, _ = run_cli(
        capsys,
        "export",
        "--variant",
        "C",
        "--config",
        trained_run["work"] / "config.yaml",
        "--results",
        trained_run["results"],
        "--output",
        out,
    )
    assert code == 0 and "test RMSE" in stdout
    assert _sha(out) == _sha(trained_run["bundles"]["C"]) and out.with_suffix(".json").exists()
    code, _, err = run_cli(capsys, "export", "--config", tmp_path / "nope.yaml", "--results", trained_run["results"])
    assert code == 2 and err == f"ecgrecon: error: {tmp_path / 'nope.yaml'}: config file not found\n"


@pytest.mark.parametrize("variant", ["C", "Ch"])
def test_round_trip_on_test_records_matches_the_pipeline_record_level_evaluation(trained_run, variant, tmp_path, capsys):
    r, raw = trained_run["results"], trained_run["raw"]
    with h5py.File(r / "segments/segments.h5") as f:
        rmeta = read_table(f["records/meta"])
    test_ids = sorted(set(rmeta.loc[rmeta["strat_fold"] == 10, "ecg_id"].astype(int)))
    db = pd.read_csv(raw / "ptbxl_database.csv").set_index("ecg_id")
    listing = raw / f"test_records_{variant}.txt"
    listing.write_text("\n".join(db.loc[test_ids, "filename_lr"]) + "\n")
    code, stdout, _ = run_cli(
        capsys, "reconstruct", "--model", trained_run["bundles"][variant], "--input", listing, "--output", tmp_path / "out"
    )
    assert code == 0 and f"reconstructed {len(test_ids)} of {len(test_ids)} records" in stdout
    with h5py.File(r / "clean/synthetic.h5") as f:
        meta = read_table(f["meta"])
        row = {int(e): i for i, e in enumerate(meta["ecg_id"])}
        clean = f["signals"][sorted(row[e] for e in test_ids)]
    per = {lead: {"rmse": [], "pearson": []} for lead in TARGETS}
    for k, ecg in enumerate(test_ids):
        rec = wfdb.rdrecord(str(tmp_path / "out" / (db.loc[ecg, "filename_lr"] + "_recon")))
        assert rec.sig_name == ["I", "II", "V2"] + RECON and rec.sig_len == 1000 and rec.fs == 100
        truth = clean[k]
        measured_err = np.abs(rec.p_signal[:, :3] - truth[:, [LEADS12.index(x) for x in ("I", "II", "V2")]])
        assert measured_err.max() < 1e-3  # the pipeline's cleaning, to the 1-uV storage step
        for j, lead in enumerate(TARGETS):
            m = record_lead_metrics(truth[:, LEADS12.index(lead)], rec.p_signal[:, 3 + j])
            per[lead]["rmse"].append(m["rmse"])
            per[lead]["pearson"].append(m["pearson"])
    table = pd.read_csv(r / "paper/tables/record_metrics.csv").set_index(["fold", "variant", "lead"])
    assert (table.loc[("official", variant, "V1"), "n_records"]) == len(test_ids) >= 8
    for lead in TARGETS:
        want = table.loc[("official", variant, lead)]
        assert np.mean(per[lead]["rmse"]) == pytest.approx(want["rmse_mean"], rel=1e-3)
        assert np.mean(per[lead]["pearson"]) == pytest.approx(want["pearson_mean"], rel=1e-3)


def test_500_hz_and_100_hz_records_of_the_same_signal_give_matching_outputs(trained_run, tmp_path, capsys):
    for ecg in (21, 31):
        outs = {}
        for hr in (False, True):
            src = trained_run["raw"] / f"records{500 if hr else 100}/00000/{ecg:05d}_{'hr' if hr else 'lr'}"
            code, stdout, _ = run_cli(capsys, "reconstruct", "--model", trained_run["bundles"]["Ch"], "--input", src, "--output", tmp_path)
            assert code == 0 and "V1 r " in stdout
            outs[hr] = wfdb.rdrecord(str(tmp_path / f"{src.name}_recon"))
        assert (outs[True].fs, outs[True].sig_len, outs[False].fs, outs[False].sig_len) == (500, 5000, 100, 1000)
        hi = ss.resample_poly(outs[True].p_signal, 1, 5, axis=0)
        lo = outs[False].p_signal
        for j in range(3, 8):
            assert np.corrcoef(hi[:, j], lo[:, j])[0, 1] > 0.97, (ecg, j)
            assert np.sqrt(np.mean((hi[:, j] - lo[:, j]) ** 2)) < 0.2 * lo[:, j].std(), (ecg, j)


def _comment_r(comments: list[str], lead: str) -> float:
    line = next(c for c in comments if c.startswith(f"check vs the record's own {lead} "))
    return float(line.split(": r ")[1].split(",")[0])


def test_any_rate_and_length_lead_names_in_any_case_extra_leads_and_two_dat_files(trained_run, tmp_path, capsys):
    sig, _ = synthetic_record(trained_run, 38, hr=True)
    x = ss.resample_poly(sig, 1, 2, axis=0)[: int(7.3 * 250)]  # 250 Hz, 7.3 s: the last window is end-aligned
    col = {lead: LEADS12.index(lead) for lead in LEADS12}
    write_record(tmp_path / "in" / "odd", x[:, [col[c] for c in ("V2", "AVR", "II", "V5", "I")]], ["v2", "aVR", "ii", "V5", "i"], 250)
    write_record(tmp_path / "in" / "plain", x[:, [col[c] for c in ("I", "II", "V2", "V5")]], ["I", "II", "V2", "V5"], 250)
    hea = (tmp_path / "in" / "odd.hea").read_text().splitlines()  # the odd record split over two .dat files
    dat = np.fromfile(tmp_path / "in" / "odd.dat", dtype="<i2").reshape(-1, 5)
    dat[:, :2].tofile(tmp_path / "in" / "split_a.dat")
    dat[:, 2:].tofile(tmp_path / "in" / "split_b.dat")
    (tmp_path / "in" / "split.hea").write_text(
        "\n".join(
            [hea[0].replace("odd", "split", 1)]
            + [ln.replace("odd.dat", "split_a.dat" if k < 2 else "split_b.dat") for k, ln in enumerate(hea[1:6])]
        )
        + "\n"
    )
    out = {}
    for name in ("odd", "plain", "split"):
        code, stdout, _ = run_cli(
            capsys,
            "reconstruct",
            "--model",
            trained_run["bundles"]["Ch"],
            "--input",
            tmp_path / "in" / (name + ".hea" if name == "odd" else name),
            "--output",
            tmp_path / "out",
            "--plot",
        )
        assert code == 0 and "V5 r " in stdout and "V1 r " not in stdout  # compared only where the original exists
        out[name] = wfdb.rdrecord(str(tmp_path / "out" / f"{name}_recon"))
    rec = out["odd"]
    assert (rec.fs, rec.sig_len, rec.sig_name) == (250, 1825, ["I", "II", "V2"] + RECON)
    assert any("ecgrecon-Ch.pt" in c and "variant Ch" in c for c in rec.comments)
    assert np.array_equal(out["plain"].p_signal, rec.p_signal)  # names in any case and order, extra leads ignored
    assert np.abs(out["split"].p_signal - rec.p_signal).max() <= 1.001e-3  # via wfdb: at most one 1-uV step
    cleaned = clean_batch(x[None, :, [col[c] for c in ("I", "II", "V2", "V5")]], 250, trained_run["cfg"]["clean"])[0]
    cleaned = ss.resample_poly(cleaned[0], 5, 2, axis=0)[:1825]  # the pipeline's cleaning, back at 250 Hz
    for j in range(3):
        assert np.corrcoef(rec.p_signal[:, j], cleaned[:, j])[0, 1] > 0.999  # measured leads: the right ones, aligned
    r = np.corrcoef(rec.p_signal[:, 3 + TARGETS.index("V5")], cleaned[:, 3])[0, 1]
    assert r == pytest.approx(_comment_r(rec.comments, "V5"), abs=0.03)
    png = tmp_path / "out" / "odd_recon.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000


def _bad_inputs(run, d: Path) -> dict:
    """name -> (record or bundle path, expected reason): each must fail alone."""
    sig, fs = synthetic_record(run, 46)
    idx = [LEADS12.index(x) for x in ("I", "II", "V2", "V1")]
    cases = {}
    cases["missing_lead"] = (
        write_record(d / "nov2", sig[:, [0, 1, 6]], ["I", "II", "V1"], fs),
        "missing input lead(s) V2 (record has I, II, V1",
    )
    cases["too_short"] = (
        write_record(d / "short", sig[:200, idx], ["I", "II", "V2", "V1"], fs),
        "too short: 200 samples at 100 Hz (2.00 s)",
    )
    nan = sig[:, idx].copy()
    nan[:, 2] = np.nan
    cases["nan_only_lead"] = (write_record(d / "nanlead", nan, ["I", "II", "V2", "V1"], fs), "input lead V2 holds only NaN samples")
    (d / "garbled.hea").write_text("this is not a WFDB header\n")
    cases["unreadable_header"] = (d / "garbled", "malformed record line")
    return cases


@pytest.mark.parametrize("case", ["missing_lead", "too_short", "nan_only_lead", "unreadable_header", "incompatible_bundle"])
def test_bad_input_gives_one_line_naming_the_file_exit_2_and_writes_nothing(trained_run, tmp_path, capsys, case):
    model = trained_run["bundles"]["Ch"]
    if case == "incompatible_bundle":
        b = torch.load(model, weights_only=True)
        b["format_version"] = 99
        model = tmp_path / "old.pt"
        torch.save(b, model)
        src, reason = trained_run["raw"] / "records100/00000/00046_lr", "incompatible bundle format version 99"
        named = model
    else:
        src, reason = _bad_inputs(trained_run, tmp_path / "in")[case]
        named = src.with_name(src.name + ".hea")
    out = tmp_path / "out"
    code, stdout, err = run_cli(capsys, "reconstruct", "--model", model, "--input", src, "--output", out, "--plot")
    assert code == 2 and stdout == ""
    assert err.count("\n") == 1 and err.startswith(f"ecgrecon: error: {named}: ") and reason in err, err
    assert not out.exists()


def test_folder_with_a_bad_record_writes_the_good_ones_reports_the_bad_one_and_exits_2(trained_run, tmp_path, capsys):
    folder = tmp_path / "in"
    for ecg in (60, 65, 69):
        sig, fs = synthetic_record(trained_run, ecg)
        write_record(folder / "good" / f"r{ecg}", sig, list(LEADS12), fs)
    write_record(folder / "r_bad", synthetic_record(trained_run, 72)[0][:, :6], list(LEADS12[:6]), 100)
    out = tmp_path / "out"
    code, stdout, err = run_cli(
        capsys, "reconstruct", "--model", trained_run["bundles"]["C"], "--input", folder, "--output", out, "--jobs", "2"
    )
    assert code == 2 and "reconstructed 3 of 4 records" in stdout
    assert f"ecgrecon: error: {folder / 'r_bad.hea'}: missing input lead(s) V2" in err
    assert "reconstruct [" in err and "4/4 records, 1 failed" in err  # progress bar
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
    assert written == ["good"] + [f"good/r{e}_recon.{x}" for e in (60, 65, 69) for x in ("dat", "hea")]
    (folder / "RECORDS").write_text("good/\nr_bad\n")  # a list naming a sub-folder and a record: the same
    code, stdout, err = run_cli(
        capsys,
        "reconstruct",
        "--model",
        trained_run["bundles"]["C"],
        "--input",
        folder / "RECORDS",
        "--output",
        tmp_path / "listed",
        "--quiet",
    )
    assert code == 2 and stdout == "" and err.count("\n") == 1 and "r_bad.hea: missing input lead(s) V2" in err
    assert sorted(p.relative_to(tmp_path / "listed").as_posix() for p in (tmp_path / "listed").rglob("*")) == written
    code, _, err = run_cli(
        capsys,
        "reconstruct",
        "--model",
        trained_run["bundles"]["C"],
        "--input",
        folder / "r_bad",
        folder / "r_bad.hea",
        "--output",
        tmp_path / "twice",
    )
    assert code == 2 and "two inputs map to the same output record" in err and not (tmp_path / "twice").exists()
    first = {p.name: p.read_bytes() for p in (out / "good").iterdir()}
    for _ in range(2):  # an output folder inside the input folder is never read back as input
        code, stdout, _ = run_cli(
            capsys, "reconstruct", "--model", trained_run["bundles"]["C"], "--input", folder / "good", "--output", folder / "good" / "again"
        )
        assert code == 0 and "reconstructed 3 of 3 records" in stdout
    again = sorted((folder / "good" / "again").iterdir())
    assert len(again) == 6 and {p.name: p.read_bytes() for p in again} == first  # deterministic, any jobs


def test_real_physionet_records_of_three_databases(trained_run, shared_data, tmp_path, capsys):
    """PTB-XL (100 Hz), LUDB (500 Hz, lower-case lead names, per-lead gains and baselines) and
    CinC 2021 (.mat signal file with a byte offset): read, reconstructed, written back."""
    records = [shared_data / "ptb-xl/records100/00000/00001_lr", shared_data / "ludb/data/1", shared_data / "cinc2021/training/A0689"]
    code, stdout, err = run_cli(
        capsys, "reconstruct", "--model", trained_run["bundles"]["C"], "--input", *records, "--output", tmp_path, "--quiet"
    )
    assert code == 0 and stdout == "" and err == ""
    for src in records:
        raw = wfdb.rdrecord(str(src))
        out = wfdb.rdrecord(str(tmp_path / f"{src.name}_recon"))
        assert (out.fs, out.sig_len, out.sig_name) == (raw.fs, raw.sig_len, ["I", "II", "V2"] + RECON)
        assert np.isfinite(out.p_signal).all()
        assert sum(c.startswith("check vs the record's own V") for c in out.comments) == 5
        i = [n.upper() for n in raw.sig_name].index("I")
        band = ss.sosfiltfilt(ss.butter(2, [0.7, 40], btype="bandpass", fs=raw.fs, output="sos"), raw.p_signal[:, i])
        assert np.corrcoef(out.p_signal[:, 0], band)[0, 1] > 0.95, src  # lead I found, scaled to mV, aligned
        assert np.std(out.p_signal[:, 0]) == pytest.approx(np.std(band), rel=0.25)
