"""`ecgrecon reconstruct` on hostile input (issue #19): every bad record, list entry, output
path or bundle ends in one line ``ecgrecon: error: <file>: <reason>`` and exit 2, never a
traceback, never a NaN output; the good records of the same batch are still written.

Records come from the synthetic cohort, the bundle is a real (untrained) one from
:func:`hostile.make_bundle`; the corpus of :mod:`hostile` is shared with other commands."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import wfdb
from hostile import INPUTS, TARGETS, _corrupted, _edit_header, block_outputs, make_corpus, write_record

from ecgrecon import LEADS12
from ecgrecon.data.clean import check_signal
from ecgrecon.deploy.bundle import load_model
from ecgrecon.deploy.cli import main
from ecgrecon.deploy.reconstruct import reconstruct_file
from ecgrecon.io.wfdbio import RecordError, read_record
from ecgrecon.synth.cohort import simulate_cohort

OUT_NAMES = INPUTS + [f"{t}-rec" for t in TARGETS]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("hostile"))


@pytest.fixture(scope="module")
def sims():
    return simulate_cohort(4, 5, bad_per_thousand=0)["lr"]  # (4, 1000, 12) mV at 100 Hz


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main(["reconstruct", *(str(a) for a in argv)])
    out = capsys.readouterr()
    return code, out.out, out.err


def _written(out: Path) -> list[str]:
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*_recon.hea"))


def test_hostile_corpus_gives_one_line_per_bad_entry_naming_its_file_and_writes_every_good_record(corpus, tmp_path, capsys):
    out = tmp_path / "out"
    block_outputs(out, corpus)
    code, stdout, err = run_cli(capsys, "--model", corpus.bundle, "--input", *corpus.inputs, "--output", out, "--jobs", "2", "--quiet")
    bad = {name: c for name, c in corpus.cases.items() if c.reason is not None}
    lines = err.splitlines()
    assert code == 2 and stdout == "" and len(lines) == len(bad) >= 23, err
    for name, case in bad.items():
        named = case.named if case.named.is_absolute() else out / case.named
        hits = [ln for ln in lines if ln.startswith(f"ecgrecon: error: {named}: ")]
        assert len(hits) == 1 and case.reason in hits[0], (name, hits)
    good = corpus.good()
    assert _written(out) == sorted(f"{c.output.as_posix()}.hea" for c in good.values())
    for c in good.values():
        rec, src = wfdb.rdrecord(str(out / c.output)), wfdb.rdheader(str(c.source))
        assert (rec.sig_name, rec.fs, rec.sig_len) == (OUT_NAMES, src.fs, src.sig_len)
        assert np.isfinite(rec.p_signal).all() and rec.p_signal[:, 3:].std() > 0
    assert not [p for p in out.rglob(".ecgrecon-*")]  # no temporary folder left behind

    src = [c.source for c in good.values()]
    for name, case in corpus.bad_bundles.items():  # refused at load, before any record is read
        o = tmp_path / f"out_{name}"
        code, stdout, err = run_cli(capsys, "--model", case.named, "--input", *src, "--output", o)
        assert code == 2 and stdout == "" and err.count("\n") == 1, (name, err)
        assert err.startswith(f"ecgrecon: error: {case.named}: ") and case.reason in err, (name, err)
        assert "weights_only" not in err and not o.exists(), (name, err)


def test_output_folder_below_a_file_full_disk_and_symlink_loop_are_one_line_each_and_the_batch_goes_on(corpus, sims, tmp_path, capsys):
    folder = tmp_path / "in"
    for k in range(3):
        write_record(folder / f"r{k}", sims[k], LEADS12, 100.0)
    write_record(folder / "loop", sims[3], LEADS12, 100.0)
    loop = folder / "loop.dat"
    loop.unlink()
    os.symlink("loop.dat", loop)
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, "--model", corpus.bundle, "--input", folder, "--output", out, "--quiet")
    assert code == 2 and err == f"ecgrecon: error: {loop}: unreadable .dat (Too many levels of symbolic links)\n"
    assert _written(out) == [f"r{k}_recon.hea" for k in range(3)]
    with pytest.raises(RecordError, match=r"loop\.dat: unreadable \.dat \(Too many levels of symbolic links\)"):
        read_record(folder.resolve(), "loop")  # the pipeline's reader: one line too, no traceback

    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder\n")
    code, _, err = run_cli(capsys, "--model", corpus.bundle, "--input", folder, "--output", blocker / "sub", "--quiet")
    want = [f"ecgrecon: error: {blocker / 'sub'}: cannot create the output folder of r{k}_recon (Not a directory)" for k in range(3)]
    want.append(f"ecgrecon: error: {loop}: unreadable .dat (Too many levels of symbolic links)")
    assert code == 2 and sorted(err.splitlines()) == sorted(want)

    # a full disk, as a file size limit: the long record's .dat cannot be written, the short ones can
    loop.unlink()
    loop.with_suffix(".hea").unlink()
    write_record(folder / "long", np.tile(sims[3], (3, 1)), LEADS12, 100.0)  # 3000 x 8 x 2 bytes out
    script = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (30000, 30000))\n"
        "from ecgrecon.deploy.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    out = tmp_path / "full"
    argv = ["reconstruct", "--model", corpus.bundle, "--input", folder, "--output", out, "--quiet"]
    run = subprocess.run([sys.executable, "-c", script, *map(str, argv)], capture_output=True, text=True)
    assert run.returncode == 2 and run.stderr == f"ecgrecon: error: {out / 'long_recon.dat'}: cannot write the output (File too large)\n"
    assert _written(out) == [f"r{k}_recon.hea" for k in range(3)] and not (out / "long_recon.dat").exists()


def test_flat_or_saturated_input_lead_is_refused_with_the_clean_stage_reason_real_records_are_not(
    corpus, sims, shared_data, tmp_path, capsys
):
    x = sims[0].copy()
    x[:, LEADS12.index("V2")] = 0.0  # the case: V2 set to 0 gave exit 0 and r 0.02
    with pytest.raises(RecordError) as pipeline:
        check_signal(x, "rel")  # what the clean stage quarantines it for
    flat = write_record(tmp_path / "in" / "v2_zero", x, LEADS12, 100.0)
    sat, lead = _corrupted(sims[1], "saturated", 100.0)
    sat = write_record(tmp_path / "in" / "saturated", sat, LEADS12, 100.0)
    good = write_record(tmp_path / "in" / "good", sims[2], LEADS12, 100.0)
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, "--model", corpus.bundle, "--input", flat, sat, good, "--output", out, "--quiet")
    lines = err.splitlines()
    assert code == 2 and len(lines) == 2, err
    assert lines[0].startswith(f"ecgrecon: error: {flat}.hea: {pipeline.value.reason} ")  # flat lead(s) V2
    assert lines[1].startswith(f"ecgrecon: error: {sat}.hea: saturated lead(s) {lead} (")
    assert _written(out) == ["good_recon.hea"]
    real = [shared_data / "ptb-xl/records100/00000/00001_lr", shared_data / "ludb/data/115", shared_data / "cinc2021/training/A0689"]
    code, _, err = run_cli(capsys, "--model", corpus.bundle, "--input", *real, "--output", tmp_path / "real", "--quiet")
    assert code == 0 and err == ""  # LUDB 115 starts with 142 samples at its lowest value: not saturated


def test_non_finite_bundles_rates_and_predictions_are_errors_never_outputs(corpus, sims, tmp_path, capsys):
    src = write_record(tmp_path / "in" / "r", sims[0], LEADS12, 100.0)
    for name in ("nan_h_statistics", "nan_h_mean", "inf_decoder_weight", "fs_zero", "fs_negative", "fs_nan"):
        case, out = corpus.bad_bundles[name], tmp_path / f"out_{name}"
        code, stdout, err = run_cli(capsys, "--model", case.named, "--input", src, "--output", out)
        assert code == 2 and stdout == "" and err.count("\n") == 1, (name, err)
        assert err.startswith(f"ecgrecon: error: {case.named}: ") and case.reason in err and not out.exists(), (name, err)
    model = load_model(corpus.bundle)
    model.h_mean[0] = np.inf  # statistics gone bad after loading: the prediction is NaN
    out = tmp_path / "out" / "r_recon"
    with pytest.raises(RecordError, match=r"r\.hea: the model's reconstruction holds non-finite values"):
        reconstruct_file(src, out, model)
    assert not out.parent.exists()
    lying = {"1e-30": "beyond any ECG", "1e-40": "ADC gain too small"}  # a header gain that makes mV absurd
    for gain, reason in lying.items():
        b = write_record(tmp_path / "in" / f"gain{gain}", sims[1], LEADS12, 100.0)
        hea = _edit_header(b, signal_line=lambda t, g=gain: [*t[:2], f"{g}(0)/mV", *t[3:]])
        code, _, err = run_cli(capsys, "--model", corpus.bundle, "--input", b, "--output", tmp_path / "gain")
        assert code == 2 and err.count("\n") == 1 and err.startswith(f"ecgrecon: error: {hea}: ") and reason in err, err
    assert not (tmp_path / "gain").exists()


def test_every_bad_entry_of_an_input_list_and_every_missing_input_is_named_and_the_good_ones_run(corpus, sims, tmp_path, capsys):
    d = tmp_path / "in"
    for k in range(2):
        write_record(d / f"r{k}", sims[k], LEADS12, 100.0)
    listing = d / "RECORDS"
    listing.write_text("r0\n../x\n/etc/passwd\nr1\n")
    missing = tmp_path / "nope"
    out = tmp_path / "out"
    code, stdout, err = run_cli(capsys, "--model", corpus.bundle, "--input", listing, missing, "--output", out, "--quiet")
    assert code == 2 and stdout == ""
    assert err.splitlines() == [
        f"ecgrecon: error: {listing}: entry '../x': path outside data root ('..' refused)",
        f"ecgrecon: error: {listing}: entry '/etc/passwd': path outside data root (absolute path refused)",
        f"ecgrecon: error: {missing}: no such record (.hea), folder or RECORDS list",
    ]
    assert _written(out) == ["r0_recon.hea", "r1_recon.hea"]
    code, stdout, _ = run_cli(capsys, "--model", corpus.bundle, "--input", listing, missing, "--output", tmp_path / "again")
    assert code == 2 and f"reconstructed 2 of 5 records into {tmp_path / 'again'}" in stdout


def test_an_odd_rate_is_named_in_full_and_a_refused_bundle_never_advises_weights_only_false(corpus, sims, tmp_path, capsys):
    b = write_record(tmp_path / "in" / "odd", sims[0], LEADS12, 100.0)
    hea = _edit_header(b, record_line=lambda t: [t[0], t[1], "100.0001", *t[3:]])
    code, _, err = run_cli(capsys, "--model", corpus.bundle, "--input", b, "--output", tmp_path / "out")
    assert code == 2 and err.startswith(f"ecgrecon: error: {hea}: cannot clean a 100.0001 Hz record: 100.0001 Hz -> 100 Hz needs")
    evil = corpus.bad_bundles["malicious_pickle"].named
    code, stdout, err = run_cli(capsys, "--model", evil, "--input", b, "--output", tmp_path / "out")
    assert code == 2 and err.count("\n") == 1 and err.startswith(f"ecgrecon: error: {evil}: not a readable ecgrecon model bundle (")
    assert "GLOBAL posix.system" in err and "weights_only" not in err and "False" not in err, err
