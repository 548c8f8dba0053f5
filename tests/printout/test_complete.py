"""Printout completion: PPM recovers what the page hides when the leads follow lead II, the digitised samples are
kept exactly, the GL map never reads the test fold, the shrinkage limit is GL, fallbacks are counted, the rule's
tables recompute from its files and ``ecgrecon digitize --complete`` writes the full record or fails in one line."""

import json
import shutil
from dataclasses import asdict
from pathlib import Path

import cv2
import h5py
import numpy as np
import pandas as pd
import pytest
import torch
import wfdb
from conftest_printout import FS

from ecgrecon import LEADS12
from ecgrecon.data.datasets import ArtifactError
from ecgrecon.deploy.cli import EXIT_BAD_INPUT, main
from ecgrecon.evaluation.completion_report import complete_from_files
from ecgrecon.io.h5io import write_table
from ecgrecon.learn.diffusion.prior import FORMAT, PRIOR_LEADS, Prior, PriorSettings, build_model, derive_12
from ecgrecon.learn.diffusion.samplers import METHODS as SAMPLERS
from ecgrecon.learn.fitloop import plain, save_torch
from ecgrecon.learn.linear import LinearMap, design, fit
from ecgrecon.printout.complete import (
    METHODS,
    OTHERS,
    REF,
    CompletionError,
    DiffusionSetup,
    choose_alpha,
    complete_record,
    completion_scores,
    diffusion_prediction,
    fit_gl,
    keep_plotted,
    lag_features,
    load_gl,
    prior_observation,
    shrunk_ridge,
    visible_mask,
    window_starts,
)
from ecgrecon.printout.layout import PrintoutTruth, get_layout, panels_of
from ecgrecon.printout.render import render_printout

T = 1000
K = 2
ALPHAS = [1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0]
CFG = {"context": K, "gl_alphas": [0.0, 1e-4, 1e-3, 1e-2], "ppm_alphas": ALPHAS, "min_coverage": 0.5}


def filtered(ii: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """sum_d taps[d] * ii[clip(t + d - K)]: GL's model with these weights (edges repeated)."""
    return lag_features(ii, K) @ taps


def linear_record(ii: np.ndarray, rng, taps=None, noise: float = 0.005) -> np.ndarray:
    """(12, T): lead II and 11 leads that are linear filters of it (+ an offset, + white noise of sd ``noise`` mV)."""
    taps = rng.normal(scale=0.6, size=(len(OTHERS), 2 * K + 1)) if taps is None else taps
    x = np.empty((len(LEADS12), len(ii)))
    x[REF] = ii
    for k, lead in enumerate(OTHERS):
        x[LEADS12.index(lead)] = filtered(ii, taps[k]) + rng.normal(scale=0.1) + rng.normal(scale=noise, size=len(ii))
    return x


@pytest.fixture(scope="module")
def lead_ii(records) -> np.ndarray:
    """Lead II of a noise-free synthetic record (the project's generator), 10 s at 100 Hz."""
    return records[0][:, LEADS12.index("II")].astype(np.float64)


def partial_of(full: np.ndarray, plotted: np.ndarray) -> np.ndarray:
    return np.where(plotted, full, np.nan)


def test_ppm_recovers_the_unseen_parts_of_a_linear_record(lead_ii):
    rng = np.random.default_rng(0)
    full = linear_record(lead_ii, rng)
    plotted = visible_mask("3x4", T)
    assert plotted.sum(axis=1).tolist() == [250, 1000] + [250] * 10
    partial = partial_of(full, plotted)
    c = complete_record(partial, plotted, None, context=K, alphas=ALPHAS, min_coverage=0.5)
    assert set(c.signals) == {"visible", "PPM"} and not c.fallback.any() and c.n_interpolated == 0
    unseen = ~plotted
    ppm = completion_scores(full, c.signals["PPM"], unseen)
    zero = completion_scores(full, c.signals["visible"], unseen)  # nothing filled: a missing sample is 0 mV
    mean_pred = np.where(plotted, partial, np.nanmean(partial, axis=1, keepdims=True))  # each lead's window mean
    mean = completion_scores(full, mean_pred, unseen)
    others = [LEADS12.index(lead) for lead in OTHERS]
    assert np.isnan(ppm["rmse"][REF])  # lead II: nothing unseen
    assert ppm["rmse"][others].max() < 0.01, ppm["rmse"]  # the noise is 0.005 mV
    assert ppm["r2"][others].min() > 0.97, ppm["r2"]
    assert (ppm["rmse"][others] < 0.25 * mean["rmse"][others]).all() and (ppm["rmse"][others] < 0.25 * zero["rmse"][others]).all()
    assert (zero["snr"][others] == 0).all() and (ppm["snr"][others] > 20).all()
    for sig in c.signals.values():  # every method keeps the digitised samples exactly
        assert np.array_equal(sig[plotted], partial[plotted])
    assert np.isnan(c.signals["visible"][unseen]).all() and np.isfinite(c.signals["PPM"]).all()


def test_shrinkage_toward_gl_and_its_limits(lead_ii):
    rng = np.random.default_rng(1)
    feats = lag_features(lead_ii, K)[:250]
    y = feats @ rng.normal(size=2 * K + 1) + 0.2 + rng.normal(scale=0.01, size=250)
    prior = rng.normal(size=2 * K + 1)
    w, b = shrunk_ridge(feats, y, prior, [0.0, 1e-2, 1e12])
    assert np.allclose(w[2], prior, atol=1e-9)  # a -> infinity: the prior's weights (intercept stays the patient's)
    fc, yc = feats - feats.mean(0), y - y.mean()
    ls = np.linalg.lstsq(fc, yc, rcond=None)[0]
    assert np.allclose(w[0], ls, atol=1e-8)  # a = 0: least squares, whatever the prior
    g, cvec = fc.T @ fc / 250, fc.T @ yc / 250
    assert np.allclose((g + 1e-2 * np.eye(len(g))) @ w[1], cvec + 1e-2 * prior, atol=1e-12)  # (G + a I) W = c + a W_GL
    assert np.allclose(b, y.mean() - w @ feats.mean(0))
    a, sse = choose_alpha(feats, y, prior, ALPHAS)  # the data are far from the prior: the cross-fit picks a small a
    assert a == min(ALPHAS) and np.argmin(sse) == 0
    a, sse = choose_alpha(feats, feats @ prior + rng.normal(scale=0.05, size=250), prior, ALPHAS)  # noisy data at the prior
    assert a == max(ALPHAS), sse

    # the whole record: with a huge fixed a, PPM is GL up to each lead's own intercept
    full = linear_record(lead_ii, rng)
    plotted = visible_mask("3x4", T)
    gl = LinearMap(["II"], list(OTHERS), K, rng.normal(size=(len(OTHERS), 1, 2 * K + 1)), rng.normal(size=len(OTHERS)), np.ones(11))
    c = complete_record(partial_of(full, plotted), plotted, gl, context=K, alphas=[1e12], min_coverage=0.5)
    v1 = LEADS12.index("V1")
    diff = (c.signals["PPM"] - c.signals["GL"])[v1, ~plotted[v1]]
    assert np.ptp(diff) < 1e-6 and np.abs(diff).max() > 1e-3
    assert np.allclose(c.alpha[[LEADS12.index(lead) for lead in OTHERS]], 1e12)


def test_missing_windows_fall_back_to_gl_and_a_missing_rhythm_strip_is_refused(lead_ii):
    rng = np.random.default_rng(2)
    full = linear_record(lead_ii, rng)
    plotted = visible_mask("3x4", T)
    partial = partial_of(full, plotted)
    v1, v5 = LEADS12.index("V1"), LEADS12.index("V5")
    partial[v1] = np.nan  # the digitiser lost V1's panel
    partial[v5, 750:900] = np.nan  # and read V5 on 40 % of its window: under min_coverage
    gl = LinearMap(["II"], list(OTHERS), K, rng.normal(size=(len(OTHERS), 1, 2 * K + 1)), rng.normal(size=len(OTHERS)), np.ones(11))
    c = complete_record(partial, plotted, gl, context=K, alphas=ALPHAS, min_coverage=0.5)
    assert np.flatnonzero(c.fallback).tolist() == [v1, v5]
    assert np.array_equal(c.signals["PPM"][v1], c.signals["GL"][v1])  # GL everywhere, its window included
    assert np.array_equal(c.signals["PPM"][v5, 900:], partial[v5, 900:])  # what was read is kept
    assert np.array_equal(c.signals["PPM"][v5, :900], c.signals["GL"][v5, :900])
    assert any(n.startswith("V1:") and "GL" in n for n in c.notes) and any(n.startswith("V5:") for n in c.notes)
    assert np.isnan(c.alpha[[v1, v5]]).all() and np.isfinite(np.delete(c.alpha, [REF, v1, v5])).all()
    plain = complete_record(partial, plotted, None, context=K, alphas=ALPHAS, min_coverage=0.5)
    assert np.isnan(plain.signals["PPM"][v1]).all() and any("not completed" in n for n in plain.notes)

    gappy = partial.copy()
    gappy[REF, 300:340] = np.nan  # 4 % of the strip unread: interpolated, counted
    g = complete_record(gappy, plotted, gl, context=K, alphas=ALPHAS, min_coverage=0.5)
    assert g.n_interpolated == 40 and np.isfinite(g.signals["PPM"][REF]).all()
    assert np.allclose(g.signals["PPM"][REF, 300:340], np.interp(np.arange(300, 340), [299, 340], lead_ii[[299, 340]]))
    gappy[REF, :600] = np.nan
    with pytest.raises(CompletionError, match="rec.png: lead-II rhythm strip read on 40 %"):
        complete_record(gappy, plotted, gl, context=K, alphas=ALPHAS, min_coverage=0.5, name="rec.png")
    with pytest.raises(CompletionError, match="no lead-II rhythm strip"):
        complete_record(partial, plotted & (np.arange(T) < 250), gl, context=K, alphas=ALPHAS, min_coverage=0.5)


# ---- the GL fit on segments, and the rule's function ---------------------------------------------------------------
POP_TAPS = np.random.default_rng(5).normal(scale=0.6, size=(len(OTHERS), 2 * K + 1))
N_REC, PER_REC, WIN = 30, 3, 256


def write_segments(path, records: np.ndarray, ecg: np.ndarray, fs: float = FS) -> None:
    """A segments.h5 of the layout read_segment_meta expects: ``records`` (n_rec, 12, PER_REC * WIN) cut into windows."""
    x = records.reshape(len(records), 12, PER_REC, WIN).transpose(0, 2, 1, 3).reshape(-1, 12, WIN)
    e = np.repeat(ecg, PER_REC)
    meta = pd.DataFrame({"seg_id": np.arange(len(e)), "ecg_id": e, "patient_id": e, "strat_fold": e % 10 + 1,
                         "labels": ["NORM"] * len(e), "superclass": ["NORM"] * len(e)})  # fmt: skip
    with h5py.File(path, "w") as h5:
        h5["x"] = x.astype(np.float32)
        write_table(h5, "meta", meta)
        h5.attrs.update(fs=fs, window=WIN, hop=WIN, leads=list(LEADS12))


@pytest.fixture(scope="module")
def cohort(tmp_path_factory, records):
    """segments.h5 + folds.json: 30 records (ecg_id 1..30; 1-20 train, 21-25 val, 26-30 test), leads following II."""
    work = tmp_path_factory.mktemp("completion")
    rng = np.random.default_rng(4)
    ii = records[:, :, LEADS12.index("II")].astype(np.float64)
    recs = []
    for k in range(N_REC):
        base = np.roll(ii[k % len(ii)], 37 * k)[: PER_REC * WIN] * rng.uniform(0.7, 1.3)
        recs.append(linear_record(base, rng, POP_TAPS + rng.normal(scale=0.05, size=POP_TAPS.shape)))
    ecg = np.arange(1, N_REC + 1)
    write_segments(work / "segments.h5", np.stack(recs), ecg)
    folds = {"folds": {"official": {"train": ecg[:20].tolist(), "val": ecg[20:25].tolist(), "test": ecg[25:].tolist()}}}
    (work / "folds.json").write_text(json.dumps(folds))
    return work


def test_gl_fit_never_reads_the_test_fold(cohort, tmp_path, records):
    gl = fit_gl(cohort / "segments.h5", cohort / "folds.json", "official", K, CFG["gl_alphas"], log=lambda m: None)
    assert gl.inputs == ["II"] and gl.targets == OTHERS and gl.info["fs"] == FS
    assert gl.info["n_train_segments"] == 20 * PER_REC and gl.info["n_val_segments"] == 5 * PER_REC
    probe = np.roll(records[1][:, LEADS12.index("II")].astype(np.float64), 11)
    want = np.stack([filtered(probe, taps) for taps in POP_TAPS])
    assert np.sqrt(np.mean((gl.predict(probe[None, None])[0] - want) ** 2)) < 0.03  # it learns the population map
    corrupt = tmp_path / "segments.h5"
    shutil.copy(cohort / "segments.h5", corrupt)
    with h5py.File(corrupt, "r+") as h5:
        test_rows = np.flatnonzero(np.isin(h5["meta/ecg_id"][()], np.arange(26, 31)))
        x = h5["x"][()]
        x[test_rows] = 1e6
        x[test_rows[::2], :, 5] = np.nan  # read_leads refuses non-finite rows: reading any of them would raise
        h5["x"][...] = x
    again = fit_gl(corrupt, cohort / "folds.json", "official", K, CFG["gl_alphas"], log=lambda m: None)
    assert again.to_dict() == gl.to_dict()
    with h5py.File(corrupt, "r+") as h5:  # the same corruption of one train record does change the map
        train_row = int(np.flatnonzero(h5["meta/ecg_id"][()] == 3)[0])
        h5["x"][train_row, :, 100] = 1e3
    assert not np.allclose(fit_gl(corrupt, cohort / "folds.json", "official", K, CFG["gl_alphas"], log=lambda m: None).weights, gl.weights)


def rule_files(tmp_path, records):
    """A digitized.h5 / truth.h5 pair of 3 images of 2 test records: one read fully, one with V2's panel lost, one
    the digitiser refused (all NaN). Returns (labels, digitised signals, plotted, out paths)."""
    rng = np.random.default_rng(6)
    ii = records[:, :, LEADS12.index("II")].astype(np.float64)
    labels = np.stack([linear_record(ii[k], rng, POP_TAPS + rng.normal(scale=0.05, size=POP_TAPS.shape)).T for k in range(2)])
    lay = get_layout("3x4")
    truth = PrintoutTruth("3x4", FS, T, 1102, 748, 100 / 25.4, 100 / 25.4, panels=panels_of(lay, T))
    plotted = truth.plotted()
    dig = np.stack([partial_of(labels[0].T, plotted).T, partial_of(labels[1].T, plotted).T, np.full((T, 12), np.nan)])
    dig[0] += rng.normal(scale=0.01, size=dig[0].shape)  # digitiser error on what was read
    dig[1, :, LEADS12.index("V2")] = np.nan
    images = ["clean/26.png", "clean/27.png", "scan/26.png"]
    with h5py.File(tmp_path / "truth.h5", "w") as h5:
        h5["signals"], h5["ecg_id"] = labels, np.array([26, 27])
        h5["truth"] = np.array([json.dumps(truth.to_dict())] * 3, dtype=h5py.string_dtype())
        h5["image"] = np.array(images, dtype=h5py.string_dtype())
        h5.attrs.update(fs=FS, layout="3x4", dpi=100.0, leads=list(LEADS12), fold="official", seed=0)
    with h5py.File(tmp_path / "digitized.h5", "w") as h5:
        h5["signals"], h5["ecg_id"], h5["failed"] = dig, np.array([26, 27, 26]), np.array([False, False, True])
        h5["level"] = np.array(["clean", "clean", "scan"], dtype=h5py.string_dtype())
        h5["image"] = np.array(images, dtype=h5py.string_dtype())
        h5.attrs.update(fs=FS, layout="3x4", dpi=100.0, leads=list(LEADS12))
    out = {k: tmp_path / f for k, f in (("gl", "gl.json"), ("h5", "c.h5"), ("csv", "c.csv"), ("md", "c.md"), ("png", "c.png"))}
    return labels, dig, plotted, out


def test_rule_outputs_count_skips_and_fallbacks_and_recompute(cohort, tmp_path, records):
    """3 images: one read fully, one with V2's panel lost, one the digitiser refused: skipped for every method, counted."""
    labels, dig, plotted, out = rule_files(tmp_path, records)
    lines = []
    table = complete_from_files(tmp_path / "digitized.h5", tmp_path / "truth.h5", cohort / "segments.h5", cohort / "folds.json", out,
                                cfg=CFG, log=lines.append)  # fmt: skip
    assert any("skipped scan/26.png" in line and "rhythm strip" in line for line in lines), lines
    assert any("clean/27.png: V2" in line and "GL" in line for line in lines), lines
    assert load_gl(out["gl"], fs=FS).inputs == ["II"] and out["png"].stat().st_size > 0
    t = table.set_index(["level", "method", "region", "lead"])
    assert t.loc[("scan", "PPM", "full", "Mean"), "n_skipped"] == 1 and t.loc[("scan", "PPM", "full", "Mean"), "n_images"] == 0
    assert t.loc[("clean", "PPM", "full", "Mean"), "n_fallback"] == 1 and t.loc[("clean", "GL", "full", "Mean"), "n_images"] == 2
    with h5py.File(out["h5"]) as h5:
        assert h5["skipped"][()].tolist() == [False, False, True] and "rhythm strip" in h5["reason"].asstr()[2]
        assert h5["fallback"][1, LEADS12.index("V2")] and h5["fallback"][()].sum() == 1
        sig = {m: h5[f"signals/{m}"][()] for m in ("visible", "GL", "PPM")}
        assert list(h5["signals"]) == ["GL", "PPM", "visible"] and list(h5.attrs["methods"]) == ["visible", "GL", "PPM"]
        assert "diffusion_nfe" not in h5  # no prior: no diffusion method, nothing of it written
        assert np.isnan(sig["PPM"][2]).all() and np.array_equal(sig["visible"][:2], dig[:2], equal_nan=True)
    for m in ("GL", "PPM"):  # the digitised samples kept; the table recomputes from the files
        assert np.array_equal(sig[m][0][plotted.T], dig[0][plotted.T])
        per = [completion_scores(labels[k].T, sig[m][k].T, ~plotted) for k in range(2)]
        v4 = LEADS12.index("V4")
        assert t.loc[("clean", m, "unseen", "V4"), "rmse_mv"] == pytest.approx(np.mean([p["rmse"][v4] for p in per]), abs=1e-12)
        mean = np.mean([np.nanmean(p["snr"]) for p in per])
        assert t.loc[("clean", m, "unseen", "Mean"), "snr_mean_db"] == pytest.approx(mean, abs=1e-9)
    read_fully = [completion_scores(labels[0].T, sig[m][0].T, plotted)["rmse"] for m in ("visible", "GL", "PPM")]
    assert np.array_equal(read_fully[0], read_fully[1]) and np.array_equal(read_fully[0], read_fully[2])  # same where read
    unseen = {m: t.loc[("clean", m, "unseen", "Mean"), "rmse_mv"] for m in ("visible", "GL", "PPM")}
    assert unseen["PPM"] < unseen["GL"] < 0.5 * unseen["visible"], unseen  # per-patient maps beat the population one here
    assert "| clean | PPM | unseen | 2 (0) | 1 |" in out["md"].read_text()

    from ecgrecon.evaluation.results_doc import completion_section  # the results page's table, from the same CSV

    run = tmp_path / "run"
    (run / "results/printout").mkdir(parents=True)
    shutil.copy(out["csv"], run / "results/printout/completion_metrics.csv")
    shutil.copy(out["png"], run / "results/printout/completion_example.png")
    text = "\n".join(completion_section(run, tmp_path / "img", "_1"))
    f, u = t.loc[("clean", "PPM", "full", "Mean")], t.loc[("clean", "PPM", "unseen", "Mean")]
    assert f"| clean | PPM | 2 (0) | {f['snr_mean_db']:.1f} | {f['rmse_mv']:.3f} | {u['snr_mean_db']:.1f} |" in text, text
    assert "| scan | PPM | 0 (1) |" in text and (tmp_path / "img" / "printout_completion_1.png").exists()


# ---- the CLI -------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def page(tmp_path_factory, records):
    img, truth = render_printout(records[1], FS, dpi=200)
    path = tmp_path_factory.mktemp("cli") / "page.png"
    cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    return path, records[1], truth


@pytest.fixture(scope="module")
def ii_map(tmp_path_factory, records):
    """A GL completion map fitted on the first record (not the page's): lead II -> the 11 other leads."""
    x = records[0].T[None].astype(np.float64)
    gl = fit(x[:, [REF]], x[:, [LEADS12.index(lead) for lead in OTHERS]], x[:, [REF]], x[:, [LEADS12.index(lead) for lead in OTHERS]],
             ["II"], OTHERS, context=K)  # fmt: skip
    gl.info["fs"] = FS
    path = tmp_path_factory.mktemp("map") / "gl.json"
    gl.save(path)
    return path


def test_cli_complete_writes_the_full_record(page, ii_map, tmp_path, capsys):
    path, x, truth = page
    for extra in ([], ["--model", str(ii_map)]):
        out = tmp_path / ("ppm_gl" if extra else "ppm")
        assert main(["digitize", str(path), "--output", str(out), "--complete", *extra]) == 0
        said = capsys.readouterr().out
        assert "completed 12 x 1000 samples" in said and (str(ii_map) in said) == bool(extra)
        part, _ = wfdb.rdsamp(str(out / "page"))
        done, fields = wfdb.rdsamp(str(out / "page_completed"))
        assert fields["sig_name"] == list(LEADS12) and fields["fs"] == FS and done.shape == (1000, 12)
        assert np.isfinite(done).all()
        read = np.isfinite(part)
        assert np.allclose(done[read], part[read], atol=2e-3)  # kept as read (up to each file's own adc gain)
        hidden = ~truth.plotted().T
        err = np.sqrt(np.mean((done - x)[hidden] ** 2))
        assert err < 0.6 * np.sqrt(np.mean(x[hidden] ** 2)), err  # far better than nothing (0 mV)
        comments = " ".join(fields["comments"])
        assert ("shrunk toward the GL map gl.json" if extra else "plain ridge, no GL map") in comments, comments
    assert main(["digitize", str(path), "--output", str(tmp_path / "plain")]) == 0  # no --complete: no completed record
    assert not (tmp_path / "plain" / "page_completed.hea").exists()


@pytest.mark.parametrize("what", ["missing", "not_json", "not_a_map", "inputs_not_ii", "other_rate"])
def test_cli_bad_model_is_one_line_naming_the_file(page, records, tmp_path, capsys, what):
    model = tmp_path / "model.json"
    if what == "not_json":
        model.write_text("{not json")
    elif what == "not_a_map":
        model.write_text(json.dumps({"format": "something else"}))
    elif what in ("inputs_not_ii", "other_rate"):
        x = records[0].T[None].astype(np.float64)
        inputs = ["I"] if what == "inputs_not_ii" else ["II"]
        xi, y = x[:, [LEADS12.index(inputs[0])]], x[:, [LEADS12.index("V1")]]
        gl = fit(xi, y, xi, y, inputs, ["V1"], context=1)
        gl.info["fs"] = 500.0
        gl.save(model)
    out = tmp_path / "out"
    assert main(["digitize", str(page[0]), "--output", str(out), "--complete", "--model", str(model)]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"ecgrecon: error: {model}:") and "Traceback" not in err, err
    want = {"missing": "not found", "not_json": "invalid JSON", "not_a_map": "not a valid GL map",
            "inputs_not_ii": "reads lead II alone", "other_rate": "500 Hz"}[what]  # fmt: skip
    assert want in err, err
    assert not out.exists() or not any(out.iterdir())  # nothing written


def test_cli_refuses_to_complete_a_page_without_its_rhythm_strip(page, tmp_path, capsys):
    """The rhythm strip's row painted over (white): the digitiser still reads the page, completion refuses it."""
    path, _, truth = page
    img = cv2.imread(str(path))
    strip = next(p for p in truth.panels if p.row == 3)
    y = int(truth.row_px(strip, 0.0))
    half = int(1.2 * truth.px_per_mv)
    x0 = int(truth.column(0)) + 2
    img[y - half : y + half, x0:] = 255
    bad = tmp_path / "no_strip.png"
    cv2.imwrite(str(bad), img)
    assert main(["digitize", str(bad), "--output", str(tmp_path / "out"), "--complete"]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"ecgrecon: error: {bad}: lead-II rhythm strip read on"), err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())  # nothing written
    assert main(["digitize", str(bad), "--output", str(tmp_path / "out")]) == 0  # without --complete the page still reads


def test_design_order_matches_lag_features(lead_ii):
    """The features PPM fits on are GL's (the same design), so a GL map's weights are PPM's prior as they are."""
    assert np.array_equal(lag_features(lead_ii, K), design(lead_ii[None, None], K))
    gl = fit(lead_ii[None, None], lead_ii[None, None] * 2, lead_ii[None, None], lead_ii[None, None] * 2, ["II"], ["I"], context=K)
    assert np.allclose(lag_features(lead_ii, K) @ gl.weights[0, 0] + gl.intercept[0], 2 * lead_ii, atol=1e-6)


@pytest.mark.parametrize(
    "key, bad",
    [("context", -1), ("context", 1.5), ("gl_alphas", []), ("gl_alphas", [-1.0]), ("ppm_alphas", [1.0, 1.0]), ("min_coverage", 0),
     ("min_coverage", 1.5), ("extra", 1)],
)  # fmt: skip
def test_config_schema_checks_every_completion_key(key, bad):
    import jsonschema
    import yaml

    from ecgrecon.printout import complete

    root = Path(complete.__file__).resolve().parents[2]
    schema = yaml.safe_load((root / "schemas" / "config.schema.yaml").read_text())
    base = yaml.safe_load((root / "config.yaml").read_text())
    jsonschema.validate(base, schema)
    comp = base["printout"]["completion"]
    assert set(comp) == set(schema["properties"]["printout"]["properties"]["completion"]["required"])
    with pytest.raises(jsonschema.ValidationError) as info:
        jsonschema.validate({**base, "printout": {**base["printout"], "completion": {**comp, key: bad}}}, schema)
    assert list(info.value.absolute_path)[:2] == ["printout", "completion"]
    if key in comp:
        with pytest.raises(jsonschema.ValidationError, match=f"'{key}' is a required property"):
            jsonschema.validate(
                {**base, "printout": {**base["printout"], "completion": {k: v for k, v in comp.items() if k != key}}}, schema
            )


# ---- the diffusion prior as a completion method --------------------------------------------------------------------
# A tiny randomly initialised EpsUNet (its zero-initialised head perturbed, so the unobserved samples depend on the
# network and on the noise): DDNM reproduces the observed coordinates exactly whatever the network, which is what the
# mechanics tests below check; the quality of a trained prior is the evaluation's business, not theirs.
def tiny_prior(window: int = 256) -> Prior:
    torch.manual_seed(0)
    settings = PriorSettings(T=50, channels=(4, 8), time_dim=8, heads=2, prediction="v")
    model = build_model(settings)
    torch.nn.init.normal_(model.out.weight, std=0.05)
    return Prior(model.eval(), settings.make_schedule(), 0.5, list(PRIOR_LEADS), FS, window, settings, [], {})


def consistent_record(lead_ii: np.ndarray, seed: int = 3) -> np.ndarray:
    """(12, T): lead I and V1-V6 smooth functions of lead II, the other limb leads derived from I and II (Einthoven,
    Goldberger), so the page's leads agree with each other."""
    rng = np.random.default_rng(seed)
    x8 = np.stack([np.roll(lead_ii, int(s)) * rng.uniform(0.3, 1.2) + rng.normal(scale=0.05) for s in rng.integers(5, 60, 8)])
    x8[PRIOR_LEADS.index("II")] = lead_ii
    return derive_12(x8)


def test_prior_observation_derives_lead_i_from_the_read_limb_leads(lead_ii):
    full = consistent_record(lead_ii)
    plotted = visible_mask("3x4", T)
    partial = partial_of(full, plotted)
    i = LEADS12.index("I")
    partial[i, :250] += 0.01  # a digitiser error on lead I: where I was read, the read I is used, not a derived one
    obs = prior_observation(partial)
    oi = obs[PRIOR_LEADS.index("I")]
    assert np.array_equal(oi[:250], partial[i, :250])
    assert np.allclose(oi[250:500], full[i, 250:500], atol=1e-6, rtol=0)  # from aVR, aVL, aVF and II at 2.5-5 s
    assert np.isnan(oi[500:]).all()  # no limb lead read there: lead I is not observed
    for lead in ("II", "V1", "V4"):
        assert np.array_equal(obs[PRIOR_LEADS.index(lead)], partial[LEADS12.index(lead)], equal_nan=True)
    lost = partial.copy()
    lost[i] = np.nan  # the digitiser lost lead I's panel: from III and II (I = II - III)
    assert np.allclose(prior_observation(lost)[PRIOR_LEADS.index("I"), :250], full[i, :250], atol=1e-6, rtol=0)
    only_avl = partial.copy()
    only_avl[[LEADS12.index("AVR"), LEADS12.index("AVF")]] = np.nan  # one estimate where the others are missing
    assert np.allclose(prior_observation(only_avl)[PRIOR_LEADS.index("I"), 250:500], full[i, 250:500], atol=1e-6, rtol=0)


def test_window_starts_cover_the_record():
    assert window_starts(1000, 256).tolist() == [0, 124, 248, 372, 496, 620, 744]
    assert window_starts(1000, 1024).tolist() == [0] and window_starts(256, 256).tolist() == [0]
    for n, w in ((1000, 256), (1001, 128), (5000, 1024)):
        s = window_starts(n, w)
        assert s[0] == 0 and s[-1] == n - w and np.diff(s).max() <= w // 2


@pytest.mark.parametrize("window", [256, 1024])
def test_diffusion_completion_keeps_the_page_and_reproduces_what_it_observes(lead_ii, window):
    full = consistent_record(lead_ii)
    plotted = visible_mask("3x4", T)
    partial = partial_of(full, plotted)
    setup = DiffusionSetup(tiny_prior(window), "ddnm", K=2, steps=6, seed=7)
    c = complete_record(partial, plotted, None, context=K, alphas=ALPHAS, min_coverage=0.5, diffusion=setup, name="26.png")
    out = c.signals["diffusion"]
    assert list(c.signals) == ["visible", "PPM", "diffusion"] and out.shape == (12, T)
    read = np.isfinite(partial)
    assert np.array_equal(out[read], partial[read]) and np.isfinite(out).all()  # the page kept, every lead completed
    assert c.diffusion["windows"] == len(window_starts(T, window)) and c.diffusion["empty"] == 0
    assert c.diffusion["nfe"] == 6 and c.diffusion["seconds"] > 0
    pred, info, notes = diffusion_prediction(partial, setup, name="26.png")  # before the page is put back
    obs = prior_observation(partial)
    for j, lead in enumerate(PRIOR_LEADS):
        seen = np.isfinite(obs[j])
        assert np.abs(pred[LEADS12.index(lead), seen] - obs[j, seen]).max() < 1e-4, lead
    assert np.array_equal(keep_plotted(partial, pred), out) and not notes
    unseen_i = ~plotted[LEADS12.index("I")] & np.isnan(obs[PRIOR_LEADS.index("I")])
    assert np.abs(pred[LEADS12.index("I"), unseen_i]).max() > 1e-3  # the prior filled what nothing observed


def test_diffusion_completion_is_seeded(lead_ii):
    full = consistent_record(lead_ii)
    plotted = visible_mask("3x4", T)
    partial = partial_of(full, plotted)
    prior = tiny_prior()

    def run(seed, name="26.png", sampler="ddnm"):
        return diffusion_prediction(partial, DiffusionSetup(prior, sampler, K=2, steps=4, seed=seed), name=name)[0]

    a = run(1)
    assert np.array_equal(a, run(1))
    unseen = ~plotted
    assert np.abs(run(2)[unseen] - a[unseen]).max() > 1e-3  # another run seed
    assert np.abs(run(1, "27.png")[unseen] - a[unseen]).max() > 1e-3  # another record
    mg = diffusion_prediction(partial, DiffusionSetup(prior, "mgps", K=1, steps=3, options={"grad_steps": 1}, seed=1))
    assert np.isfinite(mg[0]).all() and mg[1]["nvjp"] == 2  # mgps as an option: its guidance costs backward passes
    with pytest.raises(ValueError, match="no options"):
        DiffusionSetup(prior, "ddnm", options={"zeta": 1.0})
    with pytest.raises(ValueError, match="sampler must be one of"):
        DiffusionSetup(prior, "euler")


def test_a_window_with_nothing_observed_is_noted_and_gets_gl(lead_ii):
    rng = np.random.default_rng(8)
    full = consistent_record(lead_ii)
    plotted = visible_mask("3x4", T)
    partial = partial_of(full, plotted)
    partial[:, 490:760] = np.nan  # nothing read at 4.9-7.6 s (the strip included): window 496-752 observes nothing
    setup = DiffusionSetup(tiny_prior(), "ddnm", K=2, steps=4, seed=0)
    gl = LinearMap(["II"], list(OTHERS), K, rng.normal(size=(len(OTHERS), 1, 2 * K + 1)), rng.normal(size=len(OTHERS)), np.ones(11))
    c = complete_record(partial, plotted, gl, context=K, alphas=ALPHAS, min_coverage=0.5, diffusion=setup)
    assert c.diffusion["empty"] == 1 and any("window 496-752 has no observed sample -> GL" in n for n in c.notes), c.notes
    assert np.isfinite(c.signals["diffusion"]).all()
    plain = complete_record(partial, plotted, None, context=K, alphas=ALPHAS, min_coverage=0.5, diffusion=setup)
    assert any("window 496-752 has no observed sample -> NaN" in n for n in plain.notes), plain.notes
    assert np.isfinite(plain.signals["diffusion"]).all()  # the neighbouring windows cover it
    lone = np.full_like(partial, np.nan)
    lone[REF] = lead_ii
    lone[REF, 400:] = np.nan  # a record window observing only lead II's first 4 s is still sampled (no exception)
    assert np.isfinite(diffusion_prediction(lone, DiffusionSetup(tiny_prior(1024), K=1, steps=3))[0]).all()


def test_without_a_prior_the_completion_is_as_before(lead_ii):
    rng = np.random.default_rng(9)
    full = linear_record(lead_ii, rng)
    plotted = visible_mask("3x4", T)
    partial = partial_of(full, plotted)
    gl = LinearMap(["II"], list(OTHERS), K, rng.normal(size=(len(OTHERS), 1, 2 * K + 1)), rng.normal(size=len(OTHERS)), np.ones(11))
    before = complete_record(partial, plotted, gl, context=K, alphas=ALPHAS, min_coverage=0.5)
    none = complete_record(partial, plotted, gl, context=K, alphas=ALPHAS, min_coverage=0.5, diffusion=None)
    setup = DiffusionSetup(tiny_prior(), K=1, steps=3)
    both = complete_record(partial, plotted, gl, context=K, alphas=ALPHAS, min_coverage=0.5, diffusion=setup)
    assert list(before.signals) == ["visible", "GL", "PPM"] == list(none.signals) and before.diffusion == {}
    assert list(both.signals) == ["visible", "GL", "PPM", "diffusion"] and METHODS == ("visible", "GL", "PPM", "diffusion")
    for m in before.signals:
        assert np.array_equal(before.signals[m], none.signals[m], equal_nan=True)
        assert np.array_equal(before.signals[m], both.signals[m], equal_nan=True)  # the prior changes no other method
    assert np.array_equal(before.alpha, both.alpha, equal_nan=True) and before.notes == both.notes


def test_the_rule_scores_the_diffusion_completion_beside_the_others(cohort, tmp_path, records):
    labels, dig, plotted, out = rule_files(tmp_path, records)
    prior = tiny_prior()
    ckpt = {"format": FORMAT, "arch": prior.model.arch, "state_dict": prior.model.state_dict(), "leads": list(PRIOR_LEADS),
            "settings": plain(asdict(prior.settings)), "schedule": {"T": 50, "kind": "cosine"}, "fs": FS, "window": 256,
            "scale": 0.5}  # fmt: skip
    save_torch(tmp_path / "model.pt", ckpt)
    cfg = {**CFG, "diffusion": {"sampler": "ddnm", "K": 2, "steps": 4, "options": {}}}
    lines = []
    args = (tmp_path / "digitized.h5", tmp_path / "truth.h5", cohort / "segments.h5", cohort / "folds.json")
    table = complete_from_files(*args, out, cfg=cfg, prior=tmp_path / "model.pt", seed=3, log=lines.append)
    t = table.set_index(["level", "method", "region", "lead"])
    assert t.loc[("clean", "diffusion", "full", "Mean"), "n_images"] == 2 and t.loc[("scan", "diffusion", "full", "Mean"), "n_skipped"] == 1
    assert set(table["method"]) == {"visible", "GL", "PPM", "diffusion"}
    with h5py.File(out["h5"]) as h5:
        sig = h5["signals/diffusion"][()]
        assert list(h5.attrs["methods"]) == list(METHODS) and h5.attrs["diffusion_sampler"] == "ddnm"
        assert h5["diffusion_nfe"][()][:2].tolist() == [4, 4] and np.isnan(h5["diffusion_nfe"][2])
        assert (h5["diffusion_seconds"][()][:2] > 0).all()
    assert np.array_equal(sig[0][plotted.T], dig[0][plotted.T]) and np.isfinite(sig[:2]).all() and np.isnan(sig[2]).all()
    per = [completion_scores(labels[k].T, sig[k].T, ~plotted) for k in range(2)]
    v4 = LEADS12.index("V4")
    assert t.loc[("clean", "diffusion", "unseen", "V4"), "rmse_mv"] == pytest.approx(np.mean([p["rmse"][v4] for p in per]), abs=1e-12)
    md = out["md"].read_text()
    assert "| clean | diffusion | unseen | 2 (0) | - |" in md and "sampler `ddnm`" in md and "K = 2 samples, 4 steps" in md
    assert any("diffusion 4 network evaluations per sample" in line for line in lines), lines
    assert out["png"].stat().st_size > 0
    with pytest.raises(ArtifactError, match="model.pt"):
        complete_from_files(*args, out, cfg=cfg, prior=tmp_path / "model.pt.missing", log=lines.append)


@pytest.mark.parametrize(
    "key, bad",
    [("sampler", "euler"), ("K", 0), ("steps", 1), ("options", []), ("options", {"zeta": 1.0}), ("options", {"eta": -1}), ("extra", 1)],
)  # fmt: skip
def test_config_schema_checks_every_diffusion_completion_key(key, bad):
    import jsonschema
    import yaml

    from ecgrecon.printout import complete

    root = Path(complete.__file__).resolve().parents[2]
    schema = yaml.safe_load((root / "schemas" / "config.schema.yaml").read_text())
    base = yaml.safe_load((root / "config.yaml").read_text())
    sub = schema["properties"]["printout"]["properties"]["completion"]["properties"]["diffusion"]
    assert sub["properties"]["sampler"]["enum"] == list(SAMPLERS) and set(base["printout"]["completion"]["diffusion"]) == set(
        sub["required"]
    )
    DiffusionSetup.of(tiny_prior(), base["printout"]["completion"]["diffusion"], base["seed"])  # the defaults are valid
    comp = base["printout"]["completion"]
    mgps = {**comp["diffusion"], "sampler": "mgps", "options": {"grad_steps": 1}}  # each sampler its own options
    jsonschema.validate({**base, "printout": {**base["printout"], "completion": {**comp, "diffusion": mgps}}}, schema)
    with pytest.raises(jsonschema.ValidationError) as info:
        jsonschema.validate(
            {**base, "printout": {**base["printout"], "completion": {**comp, "diffusion": {**comp["diffusion"], key: bad}}}}, schema
        )
    assert list(info.value.absolute_path)[:3] == ["printout", "completion", "diffusion"]
