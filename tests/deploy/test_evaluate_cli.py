"""`ecgrecon evaluate` end to end on real models and records (no mocks): its tables are the pipeline's
evaluation of the same cleaned windows, on the pipeline's own test records they reproduce its tables,
the bundle's GL map is the pipeline's, older bundles without GL are scored alone, bad records exit 2."""

import json
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.signal as ss
import torch
import wfdb
from test_bundle import trained_run  # noqa: F401 (shared session fixture)
from test_cli import TARGETS, run_cli, synthetic_record, write_record

from ecgrecon import LEADS12
from ecgrecon.data.datasets import read_leads, read_segment_meta
from ecgrecon.data.records import reassembled_records
from ecgrecon.data.segment import hop_starts, record_windows
from ecgrecon.deploy.bundle import bundle_gl, load_model, read_bundle
from ecgrecon.deploy.reconstruct import predict_windows
from ecgrecon.evaluation.evaluate import EvalSettings, record_table, segment_table
from ecgrecon.learn import linear
from ecgrecon.signal.filters import clean_batch
from ecgrecon.signal.morphology import error_summary, morphology_table

INPUTS = ["I", "II", "V2"]
OUTPUTS = ("segment_metrics.csv", "record_metrics.csv", "records.csv", "morphology_metrics.csv", "not_scored.csv", "metrics.md")


def _gl(run) -> linear.LinearMap:
    """The pipeline's own GL map of the official fold (rule fit_linear's JSON)."""
    return linear.load(run["results"] / "paper/linear/official/GL.json")


def _assert_tables_equal(got: pd.DataFrame, want: pd.DataFrame, keys: list[str], rtol=1e-6, atol=1e-9) -> None:
    got, want = got.set_index(keys).sort_index(), want.set_index(keys).sort_index()
    assert list(got.index) == list(want.index)
    cols = [c for c in want.columns if c in got.columns and pd.api.types.is_numeric_dtype(want[c])]
    assert cols, "no numeric columns compared"
    for c in cols:
        np.testing.assert_allclose(got[c].to_numpy(np.float64), want[c].to_numpy(np.float64), rtol=rtol, atol=atol, err_msg=c)


def _expected(run, model, gl, records: list[tuple[np.ndarray, float]], variant: str):
    """Tables I, II and the morphology summary by the pipeline's evaluation code, on windows cut and
    cleaned here from the records as read back from disk ((n, 12) mV in LEADS12 order, fs)."""
    window, hop, fs_m = int(model.meta["window"]), int(model.meta["hop"]), float(model.meta["fs"])
    ins, tgt = [LEADS12.index(x) for x in INPUTS], [LEADS12.index(x) for x in TARGETS]
    seg_x, seg_y, rec_x, rec_y, rec12, rmeta = [], [], [], [], [], []
    for i, (sig, fs) in enumerate(records):
        y = clean_batch(sig[None], fs, run["cfg"]["clean"])[0][0].T  # (12, n) at the model rate
        starts = hop_starts(y.shape[1], window, hop)
        seg = np.stack([y[:, s : s + window] for s in starts])
        seg_x.append(seg[:, ins])
        seg_y.append(seg[:, tgt])
        rs, keep = record_windows(y.shape[1], window)
        rw = np.stack([y[:, s : s + window] for s in rs])
        rec_x.append(rw[:, ins])
        rec_y.append(rw[:, tgt])
        rec12.append(rw)
        rmeta.append(pd.DataFrame({"ecg_id": i, "start": rs, "n_keep_from": keep}))

    def preds(xs):
        return {variant: [predict_windows(model, x) for x in xs], "GL": [gl.predict(x) for x in xs]}

    sp, rp = preds(seg_x), preds(rec_x)
    cat = np.concatenate
    y, ry, meta = cat(seg_y), cat(rec_y), pd.concat(rmeta, ignore_index=True)
    res = {
        "y": y,
        "pred": {m: cat(p) for m, p in sp.items()} | {"zero": np.zeros_like(y), "train_mean": np.zeros_like(y)},
        "ry": ry,
        "rrows": np.arange(len(meta)),
        "rpred": {m: cat(p) for m, p in rp.items()} | {"zero": np.zeros_like(ry), "train_mean": np.zeros_like(ry)},
    }
    s = EvalSettings(inputs=INPUTS, targets=TARGETS, methods=[variant, "GL"], folds=["input"])
    seg_t, rec_t = segment_table("input", res, s), record_table("input", res, meta, s)
    errors = []  # records of different lengths: the morphology program one record at a time
    for i, m in enumerate(rmeta):
        _, truth12, recon = reassembled_records(rec12[i], m, {k: rp[k][i] for k in (variant, "GL")}, TARGETS)
        errors.append(morphology_table(truth12, recon, fs_m, TARGETS)[1].assign(record=i))
    errors = pd.concat(errors, ignore_index=True)
    morph = pd.concat([error_summary(errors[errors["method"] == k]).assign(method=k) for k in (variant, "GL")], ignore_index=True)
    return seg_t[seg_t["variant"] != "train_mean"], rec_t[rec_t["variant"] != "train_mean"], morph


def test_evaluate_gives_the_pipeline_tables_of_the_same_cleaned_windows_and_lists_skipped_and_bad_records(trained_run, tmp_path, capsys):
    folder = tmp_path / "db"
    written = []
    for ecg, cut in ((8, None), (21, 730), (46, None)):  # 730 samples: the last window aligned to the end
        sig, fs = synthetic_record(trained_run, ecg)
        written.append(write_record(folder / "a" / f"r{ecg}", sig[:cut], list(LEADS12), fs))
    sig, _ = synthetic_record(trained_run, 38, hr=True)
    x = ss.resample_poly(sig, 1, 2, axis=0)[: int(7.3 * 250)]  # 250 Hz, lead names in any case and order
    order = ["v6", "v5", "v4", "v3", "v2", "v1", "avf", "avl", "avr", "iii", "ii", "i"]
    written.append(write_record(folder / "b" / "r38_250", x[:, [LEADS12.index(n.upper()) for n in order]], order, 250))
    write_record(folder / "no_target", sig[:2500, [0, 1, 7, 6]], ["I", "II", "V2", "V1"], 500)  # lacks V3-V6: skipped
    write_record(folder / "no_input", sig[:2500, [0, 1, 6]], ["I", "II", "V1"], 500)  # lacks V2: a bad record
    out = tmp_path / "scores"
    code, stdout, err = run_cli(capsys, "evaluate", "--model", trained_run["bundles"]["Ch"], "--input", folder, "--output", out)
    assert code == 2
    assert (
        err == f"ecgrecon: error: {folder / 'no_input.hea'}: missing input lead(s) V2 (record has I, II, V1; the model needs I, II, V2)\n"
    )
    assert f"ecgrecon: note: {folder / 'no_target.hea'}: skipped, no target lead(s) V3, V4, V5, V6" in stdout
    assert "evaluated 4 of 6 records (1 skipped, 1 bad)" in stdout and "Ch RMSE" in stdout and "GL RMSE" in stdout
    assert sorted(p.name for p in out.iterdir()) == sorted([*OUTPUTS, "rmse_per_lead.png"])  # no temporary files left
    ns = pd.read_csv(out / "not_scored.csv")
    assert sorted(zip(ns["record"].map(lambda p: Path(p).name), ns["status"])) == [("no_input", "error"), ("no_target", "skipped")]

    model = load_model(trained_run["bundles"]["Ch"])
    recs = []
    for base in written:  # the records as stored (1-uV steps), all 12 leads in LEADS12 order
        r = wfdb.rdrecord(str(base))
        names = [n.upper() for n in r.sig_name]
        recs.append((r.p_signal[:, [names.index(lead) for lead in LEADS12]], float(r.fs)))
    seg, rec, morph = _expected(trained_run, model, _gl(trained_run), recs, "Ch")
    got_seg, got_rec = pd.read_csv(out / "segment_metrics.csv"), pd.read_csv(out / "record_metrics.csv")
    assert set(got_seg["variant"]) == {"Ch", "GL", "zero"} and set(got_seg["lead"]) == {*TARGETS, "Mean"}
    assert got_seg["n_segments"].iloc[0] == sum(len(hop_starts(len(s) * 100 // int(f), 256, 64)) for s, f in recs)
    assert got_rec["n_records"].iloc[0] == 4
    _assert_tables_equal(got_seg, seg, ["variant", "lead"], rtol=1e-5, atol=1e-7)
    _assert_tables_equal(got_rec, rec, ["variant", "lead"], rtol=1e-5, atol=1e-7)
    _assert_tables_equal(pd.read_csv(out / "morphology_metrics.csv"), morph, ["method", "lead", "quantity"], rtol=1e-5, atol=1e-7)
    per = pd.read_csv(out / "records.csv")
    assert len(per) == 4 * 2 * (len(TARGETS) + 1)
    for m in ("Ch", "GL"):  # Table II's record-mean = the mean of the per-record rows
        for lead in TARGETS:
            vals = per[(per["method"] == m) & (per["lead"] == lead)]["rmse"]
            want = rec.set_index(["variant", "lead"]).loc[(m, lead), "rmse_mean"]
            assert vals.mean() == pytest.approx(want, rel=1e-6)
    md = (out / "metrics.md").read_text()
    assert "## Table I" in md and "## Table II" in md and "RMSE pooled" in md and "| **Mean** |" in md
    png = out / "rmse_per_lead.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_on_the_pipeline_test_records_evaluate_reproduces_the_pipeline_tables(trained_run, tmp_path, capsys):
    """Test records whose every window passed the pipeline's QC: the segments and record windows are
    the pipeline's, so Tables I and II of `evaluate` equal those computed from segments.h5 and the
    pipeline's own predictions (predictions.h5) of C and GL for those records."""
    r, raw = trained_run["results"], trained_run["raw"]
    seg_h5 = r / "segments/segments.h5"
    meta, _ = read_segment_meta(seg_h5)
    rmeta, _ = read_segment_meta(seg_h5, "records")
    n_hop = len(hop_starts(1000, 256, 64))
    test = meta[meta["strat_fold"] == 10]
    full = test.groupby("ecg_id").size()
    ids = sorted(set(full[full == n_hop].index) & set(rmeta.loc[rmeta["strat_fold"] == 10, "ecg_id"]))
    assert len(ids) >= 5
    db = pd.read_csv(raw / "ptbxl_database.csv").set_index("ecg_id")
    listing = raw / "RECORDS_evaluate"
    listing.write_text("\n".join(db.loc[ids, "filename_lr"]) + "\n")
    out = tmp_path / "scores"
    code, stdout, err = run_cli(capsys, "evaluate", "--model", trained_run["bundles"]["C"], "--input", listing, "--output", out)
    assert code == 0 and err == "" and f"evaluated {len(ids)} of {len(ids)} records" in stdout

    with h5py.File(r / "paper/predictions/predictions.h5") as f:
        seg_id, win_id = f["official/segments/seg_id"][...], f["official/records/win_id"][...]
        sp = {m: f[f"official/segments/{m}"][...] for m in ("C", "GL")}
        rp = {m: f[f"official/records/{m}"][...] for m in ("C", "GL")}
    sel = np.isin(meta["ecg_id"].to_numpy()[seg_id], ids)
    rsel = np.isin(rmeta["ecg_id"].to_numpy()[win_id], ids)
    y = read_leads(seg_h5, TARGETS, seg_id[sel])
    ry = read_leads(seg_h5, TARGETS, win_id[rsel], group="records")
    res = {
        "y": y,
        "pred": {m: p[sel] for m, p in sp.items()} | {"zero": np.zeros_like(y), "train_mean": np.zeros_like(y)},
        "ry": ry,
        "rrows": win_id[rsel],
        "rpred": {m: p[rsel] for m, p in rp.items()} | {"zero": np.zeros_like(ry), "train_mean": np.zeros_like(ry)},
    }
    s = EvalSettings(inputs=INPUTS, targets=TARGETS, methods=["C", "GL"], folds=["input"])
    want_seg = segment_table("input", res, s)
    want_rec = record_table("input", res, rmeta, s)
    got_seg, got_rec = pd.read_csv(out / "segment_metrics.csv"), pd.read_csv(out / "record_metrics.csv")
    assert got_seg["n_segments"].iloc[0] == len(y) == len(ids) * n_hop
    keep = ["C", "GL", "zero"]
    _assert_tables_equal(got_seg, want_seg[want_seg["variant"].isin(keep)], ["variant", "lead"], rtol=1e-4, atol=1e-6)
    _assert_tables_equal(got_rec, want_rec[want_rec["variant"].isin(keep)], ["variant", "lead"], rtol=1e-4, atol=1e-6)


def test_export_packs_the_pipeline_gl_map_and_an_older_bundle_without_it_is_scored_alone(trained_run, tmp_path, capsys):
    gl = _gl(trained_run)
    for variant in ("C", "Ch", "ChA"):  # a newly exported bundle holds GL, weights-only, bit for bit
        b = torch.load(trained_run["bundles"][variant], weights_only=True)
        assert b["gl"]["context"] == gl.context and b["gl"]["targets"] == TARGETS and b["gl"]["inputs"] == INPUTS
        np.testing.assert_array_equal(b["gl"]["weights"].numpy(), gl.weights)
        np.testing.assert_array_equal(b["gl"]["intercept"].numpy(), gl.intercept)
        card = json.loads(Path(trained_run["bundles"][variant]).with_suffix(".json").read_text())
        assert card["gl"]["context"] == gl.context and card["gl"]["alpha"] == dict(zip(TARGETS, gl.alpha.tolist()))
    packed = bundle_gl(read_bundle(trained_run["bundles"]["C"]))
    x = read_leads(trained_run["results"] / "segments/segments.h5", INPUTS, np.arange(50))
    np.testing.assert_array_equal(packed.predict(x), gl.predict(x))  # the bundle's GL is the pipeline's map

    folder = tmp_path / "db"
    for ecg in (8, 21):
        sig, fs = synthetic_record(trained_run, ecg)
        write_record(folder / f"r{ecg}", sig, list(LEADS12), fs)
    code, _, _ = run_cli(capsys, "evaluate", "--model", trained_run["bundles"]["C"], "--input", folder, "--output", tmp_path / "new")
    assert code == 0
    new = pd.read_csv(tmp_path / "new/record_metrics.csv").set_index(["variant", "lead"])
    per = pd.read_csv(tmp_path / "new/records.csv")
    model = load_model(trained_run["bundles"]["C"])
    for ecg in (8, 21):  # GL's per-record numbers = the map applied directly to the cleaned record
        r = wfdb.rdrecord(str(folder / f"r{ecg}"))
        y = clean_batch(r.p_signal[None], r.fs, model.meta["clean"])[0][0].T
        starts, keep = record_windows(y.shape[1], 256)
        wins = np.stack([y[[LEADS12.index(i) for i in INPUTS], s : s + 256] for s in starts])
        p = gl.predict(wins)
        whole = np.concatenate([p[j][:, keep[j] :] for j in range(len(starts))], axis=1)
        row = per[(per["record"] == str(folder / f"r{ecg}")) & (per["method"] == "GL")].set_index("lead")
        for j, lead in enumerate(TARGETS):
            t = y[LEADS12.index(lead)].astype(np.float64)
            rmse = float(np.sqrt(np.mean((t - whole[j]) ** 2)))
            assert row.loc[lead, "rmse"] == pytest.approx(rmse, rel=1e-6), (ecg, lead)

    old = torch.load(trained_run["bundles"]["C"], weights_only=True)
    del old["gl"], old["meta"]["gl"]
    torch.save(old, tmp_path / "old.pt")
    code, stdout, err = run_cli(capsys, "evaluate", "--model", tmp_path / "old.pt", "--input", folder, "--output", tmp_path / "old")
    assert code == 0 and err == "" and "holds no GL map" in stdout and "GL RMSE" not in stdout
    alone = pd.read_csv(tmp_path / "old/record_metrics.csv").set_index(["variant", "lead"])
    assert set(alone.index.get_level_values("variant")) == {"C", "zero"}
    pd.testing.assert_frame_equal(alone.loc[["C", "zero"]], new.loc[["C", "zero"]])  # the model's numbers do not depend on GL
    assert "no GL map" in (tmp_path / "old/metrics.md").read_text()


def test_nothing_scorable_is_one_error_line_and_help_has_an_example(trained_run, tmp_path, capsys):
    sig, fs = synthetic_record(trained_run, 8)
    write_record(tmp_path / "db" / "inputs_only", sig[:, [0, 1, 7]], ["I", "II", "V2"], fs)
    code, stdout, err = run_cli(
        capsys, "evaluate", "--model", trained_run["bundles"]["C"], "--input", tmp_path / "db", "--output", tmp_path / "o"
    )
    assert code == 2 and err.count("\n") == 1 and "nothing to score" in err and not (tmp_path / "o").exists()
    with pytest.raises(SystemExit):
        run_cli(capsys, "evaluate", "--help")
    text = capsys.readouterr().out
    for needle in ("--model BUNDLE", "--input RECORD", "--output DIR", "example:", "GL", "segment_metrics.csv", "exit codes"):
        assert needle in text, needle


def test_hostile_corpus_exits_2_names_every_bad_record_and_scores_the_good_ones(trained_run, tmp_path, capsys):
    from hostile import make_corpus

    corpus = make_corpus(tmp_path / "hostile", bundle=trained_run["bundles"]["Ch"])
    out = tmp_path / "scores"
    code, stdout, err = run_cli(capsys, "evaluate", "--model", corpus.bundle, "--input", *corpus.inputs, "--output", out)
    assert code == 2
    lines = err.splitlines()
    bad = {
        name: c for name, c in corpus.cases.items() if c.reason is not None and name != "output_below_a_file"
    }  # evaluate writes no records
    assert len(lines) == len(bad), err
    for name, c in bad.items():
        assert any(ln.startswith(f"ecgrecon: error: {c.named}: ") and c.reason in ln for ln in lines), (name, err)
    scored = set(pd.read_csv(out / "records.csv")["record"].map(lambda p: Path(p).relative_to(tmp_path / "hostile").as_posix()))
    assert scored == {"records/good_12", "records/good_250", "records/blocked/rec", "listed/sub/listed_ok"}
    assert "good_11.hea: skipped, no target lead(s) V6" in stdout  # 11 signals, no V6: nothing to score V6 against
    ns = pd.read_csv(out / "not_scored.csv")
    assert (ns["status"] == "error").sum() == len(bad) and (ns["status"] == "skipped").sum() == 1
    for name, c in corpus.bad_bundles.items():  # each refused before any record is read: one line, exit 2
        code, stdout, err = run_cli(
            capsys, "evaluate", "--model", c.named, "--input", tmp_path / "hostile/records/good_12", "--output", tmp_path / name
        )
        assert code == 2 and stdout == "" and err.count("\n") == 1 and err.startswith(f"ecgrecon: error: {c.named}: "), (name, err)
        assert c.reason in err, (name, err)
        assert not (tmp_path / name).exists()
