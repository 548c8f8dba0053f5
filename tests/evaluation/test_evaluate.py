"""The learning chain end to end on a synthetic cohort: encoder -> reps -> decoders -> evaluation."""

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

from defaults import section
from ecgrecon.evaluation.evaluate import EvalSettings, evaluate
from ecgrecon.learn import linear
from ecgrecon.learn.reps import extract_reps
from ecgrecon.learn.train_decoder import train_decoder
from ecgrecon.learn.train_encoder import train_encoder
from learning_cohort import one_torch_thread, write_cohort  # noqa: F401 (autouse fixture)

INPUTS, TARGETS = ["I", "II", "V2"], ["V1", "V3", "V4", "V5", "V6"]
ENC = section(
    "encoder",
    **{
        "embed_dim": 32,
        "proj_dim": 16,
        "width": 8,
        "temperature": 0.07,
        "batch_size": 64,
        "lr": 0.003,
        "weight_decay": 1e-4,
        "max_epochs": 3,
        "patience": 2,
        "augment": {"scale": [0.8, 1.2], "noise_mv": 0.02, "wander_mv": 0.1, "max_shift": 8},
        "lr_schedule": "constant",
    },
)
DEC = section(
    "decoder",
    **{
        "proj": 16,
        "hidden": 16,
        "stride": 4,
        "out_channels": 8,
        "batch_size": 32,
        "lr": 0.004,
        "weight_decay": 1e-4,
        "loss_weights": {"mse": 1.0, "mae": 1.0},
        "max_epochs": 10,
        "patience": 3,
        "epoch_fraction": 1.0,
        "precision": "fp32",
        "lr_schedule": "constant",
    },
)
OUTPUTS = {
    "predictions": "predictions.h5",
    "segment_csv": "segment_metrics.csv",
    "segment_md": "segment_metrics.md",
    "record_csv": "record_metrics.csv",
    "record_md": "record_metrics.md",
    "class_csv": "class_metrics.csv",
    "latent_csv": "latent_affinity.csv",
    "fig_affinity_x": "latent_affinity_x.png",
    "fig_affinity_h": "latent_affinity_h.png",
    "fig_radar": "class_radar.png",
    "fig_qualitative": "qualitative.png",
    "morph_csv": "morphology_metrics.csv",
    "fig_bland_altman": "bland_altman_V4.png",
}
GL_ALPHAS = [0.0, 1e-4, 1e-3, 1e-2, 1e-1, 1.0]
TEST_IDS = set(range(1009, 1080, 10))  # the cohort's fold-10 records


VARIANTS = ["C", "Ch", "ChA"]


def run_chain(seg, folds, out, seed=11, targets=TARGETS, enc=ENC, dec=DEC):
    """All learning stages on one cohort (official fold); returns the output paths."""
    train_encoder(
        seg,
        folds,
        out / "encoder.pt",
        out / "train_log.csv",
        out / "loss.png",
        inputs=INPUTS,
        level="superclass",
        cfg=enc,
        seed=seed,
        log=lambda m: None,
    )
    extract_reps(seg, folds, out / "encoder.pt", out / "reps.h5", log=lambda m: None)
    gl = linear.fit_from_segments(seg, folds, "official", INPUTS, targets, context=2, alphas=GL_ALPHAS, log=lambda m: None)
    gl.save(out / "gl.json")
    artifacts = {("GL", "official"): out / "gl.json"}
    for variant in VARIANTS:
        artifacts[(variant, "official")] = []
        for lead in targets:
            p = out / "decoders" / variant / "official" / f"{lead}.pt"
            train_decoder(
                seg,
                folds,
                out / "reps.h5",
                p,
                p.with_name(f"{lead}_val.csv"),
                variant=variant,
                fold="official",
                lead=lead,
                inputs=INPUTS,
                cfg=dec,
                seed=seed,
                log=lambda m: None,
                gl_path=out / "gl.json",
            )
            artifacts[(variant, "official")].append(p)
    outputs = {k: out / "eval" / v for k, v in OUTPUTS.items()}
    settings = EvalSettings(
        inputs=INPUTS,
        targets=list(targets),
        methods=["GL", *VARIANTS],
        folds=["official"],
        knn_k=10,
        n_subclasses=2,
        min_class_records=1,
        device="cpu",
    )
    evaluate(seg, folds, out / "reps.h5", artifacts, outputs, settings, log=lambda m: None)
    return outputs


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return write_cohort(tmp_path_factory.mktemp("cohort"), n_records=80, seed=1)


@pytest.fixture(scope="module")
def chain(cohort, tmp_path_factory):
    torch.set_num_threads(1)
    return run_chain(*cohort, tmp_path_factory.mktemp("run_a"))


def test_ch_decoder_beats_zero_and_train_mean_by_a_wide_margin(chain):
    seg = pd.read_csv(chain["segment_csv"]).set_index(["variant", "lead"])
    for lead in TARGETS:
        ch = seg.loc[("Ch", lead)]
        floor = min(seg.loc[("zero", lead), "rmse"], seg.loc[("train_mean", lead), "rmse"])
        assert ch["rmse"] < 0.5 * floor, (lead, ch["rmse"], floor)
        assert ch["r2"] > 0.6 and ch["pearson_seg"] > 0.8
        assert seg.loc[("train_mean", lead), "r2"] < 0.1


def test_tables_cover_every_lead_variant_and_metric(chain, cohort):
    seg = pd.read_csv(chain["segment_csv"])
    assert set(seg["variant"]) == {"GL", "C", "Ch", "ChA", "zero", "train_mean"}
    assert set(seg["lead"]) == set(TARGETS) | {"Mean"}
    mean_row = seg[(seg["variant"] == "Ch") & (seg["lead"] == "Mean")].iloc[0]
    assert mean_row["rmse"] == pytest.approx(seg[(seg["variant"] == "Ch") & (seg["lead"] != "Mean")]["rmse"].mean())
    md = chain["segment_md"].read_text()
    for needle in ["| V1 |", "| V6 |", "**Mean**", "**RMSE pooled (mV)**", "**RMSE seg-mean (mV, authors')**", "Δ %", "Headline"]:
        assert needle in md
    block = md.split("**RMSE pooled (mV)**")[1].split("**RMSE seg-mean")[0]
    assert "| lead | GL | C | C-h | ChA | Δ % |" in block  # one block per metric: a column per method
    ch = seg[(seg["fold"] == "official") & (seg["variant"] == "Ch") & (seg["lead"] == "V1")].iloc[0]
    assert f"{ch['rmse']:.3f}" in block.split("| V1 |")[1].split("\n")[0]
    assert "beat GL on mean RMSE" in md
    rec = pd.read_csv(chain["record_csv"])
    with h5py.File(cohort[0]) as f:
        n_test_records = len(set(f["records/meta/ecg_id"][...]) & set(range(1009, 1080, 10)))
    assert (rec["n_records"] == n_test_records).all() and n_test_records == 8
    assert rec["rmse_ci95"].notna().all() and (rec["rmse_ci95"] > 0).all()
    assert "±" in chain["record_md"].read_text() and "RMSE rec-mean (mV, ± 95 % CI) GL" in chain["record_md"].read_text()
    assert set(rec["variant"]) == {"GL", "C", "Ch", "ChA", "zero", "train_mean"}
    cls = pd.read_csv(chain["class_csv"])
    assert set(cls["variant"]) == {"GL", "C", "Ch", "ChA"}
    assert {"superclass", "subclass"} <= set(cls["level"])
    assert set(cls[cls["level"] == "superclass"]["class"]) <= {"NORM", "MI", "STTC", "CD", "HYP"}
    lat = pd.read_csv(chain["latent_csv"])
    assert set(lat["space"]) == {"x", "h"} and lat["affinity"].between(0, 1).all()
    for key in ("fig_affinity_x", "fig_affinity_h", "fig_radar", "fig_qualitative"):
        assert chain[key].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_predictions_saved_and_consistent_with_the_table(chain, cohort):
    with h5py.File(chain["predictions"]) as f, h5py.File(cohort[0]) as s:
        seg_id = f["official/segments/seg_id"][...]
        pred = f["official/segments/Ch"][...]
        truth = s["x"][...][seg_id][:, [6, 8, 9, 10, 11]]
        assert pred.shape == truth.shape and f["official/records/Ch"].shape[1:] == (5, 256)
        assert set(s["meta/ecg_id"][...][seg_id]) == set(range(1009, 1080, 10))  # fold 10 only
    seg = pd.read_csv(chain["segment_csv"]).set_index(["variant", "lead"])
    rmse_v1 = np.sqrt(((pred[:, 0].astype(np.float64) - truth[:, 0]) ** 2).mean())
    assert rmse_v1 == pytest.approx(seg.loc[("Ch", "V1"), "rmse"], rel=1e-6)


def test_same_seed_gives_bitwise_identical_metrics(cohort, tmp_path):
    # a short chain (one lead, few epochs) run three times: seeds 5, 5, 6.
    quick = {"targets": ["V4"], "enc": {**ENC, "max_epochs": 1}, "dec": {**DEC, "max_epochs": 2}}
    a, b, c = (run_chain(*cohort, tmp_path / f"run{i}", seed=s, **quick) for i, s in enumerate((5, 5, 6)))
    for key in ("segment_csv", "record_csv", "class_csv", "latent_csv"):
        assert a[key].read_bytes() == b[key].read_bytes(), key
    assert a["segment_csv"].read_bytes() != c["segment_csv"].read_bytes()


def test_checkpoints_load_weights_only(chain):
    root = chain["segment_csv"].parent.parent
    enc = torch.load(root / "encoder.pt", weights_only=True)
    dec = torch.load(root / "decoders" / "Ch" / "official" / "V4.pt", weights_only=True)
    assert enc["classes"] == ["CD", "HYP", "MI", "NORM", "STTC"] and dec["h_dim"] == 32


def test_cv_summary_mean_and_sd_across_cv_folds(tmp_path):
    from ecgrecon.evaluation.evaluate import cv_summary
    from ecgrecon.evaluation.plots import affinity_heatmap, class_radar

    table = pd.DataFrame({"fold": ["official", "cv0", "cv1", "cv2"], "variant": "Ch", "lead": "V1", "rmse": [9.0, 1.0, 2.0, 3.0]})
    out = cv_summary(table, ["rmse"]).set_index("fold")
    assert out.loc["cv_mean", "rmse"] == 2.0 and out.loc["cv_sd", "rmse"] == 1.0
    assert cv_summary(table.iloc[:2], ["rmse"]).empty  # one CV fold: no summary
    affinity_heatmap(np.zeros((0, 0)), [], tmp_path / "a.png", "empty")
    class_radar({"C": {}}, tmp_path / "r.png", "empty")
    assert (tmp_path / "a.png").stat().st_size > 0 and (tmp_path / "r.png").stat().st_size > 0


def test_reps_aligned_with_train_only_statistics_and_tiling(chain, cohort, tmp_path):
    from ecgrecon.data.datasets import load_folds, read_segment_meta, split_rows

    seg, folds = cohort
    root = chain["segment_csv"].parent.parent
    meta, _ = read_segment_meta(seg)
    train = split_rows(meta, load_folds(folds, "official"))["train"]
    with h5py.File(root / "reps.h5") as f:
        h = f["h"][...]
        assert np.array_equal(f["seg_id"][...], meta["seg_id"].to_numpy())
        np.testing.assert_allclose(f["norm/official/mean"][...], h[train].mean(axis=0), rtol=1e-5, atol=1e-6)
        assert not np.allclose(f["norm/official/mean"][...], h.mean(axis=0), rtol=1e-3, atol=1e-5)
        assert f["norm/cv1/std"].shape == (32,) and f["records/h"].shape[1] == 32
    extract_reps(seg, folds, root / "encoder.pt", tmp_path / "tiled.h5", tile=True, log=lambda m: None)
    with h5py.File(tmp_path / "tiled.h5") as f:
        tiled = f["h"][...]
    rows = np.flatnonzero(meta["ecg_id"].to_numpy() == meta["ecg_id"].iloc[0])
    np.testing.assert_allclose(tiled[rows], np.broadcast_to(h[rows].mean(axis=0), (len(rows), 32)), rtol=1e-5, atol=1e-6)


def test_signal_only_evaluation_without_ch_decoders(chain, cohort, tmp_path):
    seg, folds = cohort
    root = chain["segment_csv"].parent.parent
    artifacts = {("C", "official"): [root / "decoders" / "C" / "official" / f"{lead}.pt" for lead in TARGETS]}
    outputs = {k: tmp_path / v for k, v in OUTPUTS.items()}
    settings = EvalSettings(inputs=INPUTS, targets=TARGETS, methods=["C"], folds=["official"], device="cpu")
    summary = evaluate(seg, folds, None, artifacts, outputs, settings, log=lambda m: None)  # no method reads h
    assert set(summary) == {"C", "zero", "train_mean"}
    assert set(pd.read_csv(outputs["latent_csv"])["space"]) == {"x"}
    assert outputs["fig_affinity_h"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # an empty, titled figure
    table = pd.read_csv(outputs["segment_csv"])
    assert set(table["variant"]) == {"C", "zero", "train_mean"}
    md = outputs["segment_md"].read_text()
    assert "| lead | C |" in md and "C-h" not in md.split("## fold")[1]


def test_gl_metrics_equal_a_direct_linear_prediction_of_the_test_segments(chain, cohort):
    seg_path, _ = cohort
    gl = linear.load(chain["segment_csv"].parent.parent / "gl.json")
    assert gl.context == 2 and set(gl.alpha) <= set(GL_ALPHAS)
    with h5py.File(seg_path) as s:
        test = np.flatnonzero(np.isin(s["meta/ecg_id"][...], sorted(TEST_IDS)))
        x = s["x"][...][test]
    direct = gl.predict(x[:, [0, 1, 7]])  # I, II, V2 in mV
    truth = x[:, [6, 8, 9, 10, 11]].astype(np.float64)
    table = pd.read_csv(chain["segment_csv"]).set_index(["variant", "lead"])
    rmse = np.sqrt(((direct.astype(np.float64) - truth) ** 2).mean(axis=(0, 2)))
    for j, lead in enumerate(TARGETS):
        assert table.loc[("GL", lead), "rmse"] == pytest.approx(rmse[j], rel=1e-6), lead
        sse = ((direct[:, j] - truth[:, j]) ** 2).sum()
        assert table.loc[("GL", lead), "r2"] == pytest.approx(1 - sse / ((truth[:, j] - truth[:, j].mean()) ** 2).sum(), rel=1e-6, abs=1e-9)
    assert table.loc[("GL", "Mean"), "rmse"] == pytest.approx(rmse.mean(), rel=1e-6)
    assert table.loc[("GL", "Mean"), "rmse"] < 0.7 * table.loc[("train_mean", "Mean"), "rmse"]  # a real fit
    with h5py.File(chain["predictions"]) as f:
        assert np.array_equal(f["official/segments/seg_id"][...], test)
        np.testing.assert_array_equal(f["official/segments/GL"][...], direct)
        assert f["official/records/GL"].shape == f["official/records/C"].shape


def test_morphology_table_of_gl_c_ch_on_the_test_records(chain, cohort):
    from ecgrecon import LEADS12
    from ecgrecon.data.datasets import read_leads, read_segment_meta
    from ecgrecon.signal.metrics import reassemble
    from ecgrecon.signal.morphology import QUANTITIES, morphology_table, replace_leads

    seg_path, _ = cohort
    morph = pd.read_csv(chain["morph_csv"])
    assert set(morph["method"]) == {"GL", "C", "Ch", "ChA"} and set(morph["quantity"]) == set(QUANTITIES)
    assert set(morph["lead"]) == set(TARGETS) and (morph["n_records"] == 8).all()
    assert chain["fig_bland_altman"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rmeta, attrs = read_segment_meta(seg_path, "records")
    with h5py.File(chain["predictions"]) as f:
        rows = pd.Index(rmeta["win_id"]).get_indexer(f["official/records/win_id"][...])
        gl_windows = f["official/records/GL"][...]
    m = rmeta.iloc[rows].reset_index(drop=True)
    truth = reassemble(read_leads(seg_path, list(LEADS12), rows, group="records"), m)
    gl = reassemble(gl_windows, m)
    ids = sorted(truth)
    assert set(ids) == TEST_IDS
    x12 = np.stack([truth[i] for i in ids])
    recon = replace_leads(x12, np.stack([gl[i] for i in ids]), TARGETS)
    direct, _ = morphology_table(x12, {"GL": recon}, float(attrs["fs"]), TARGETS)
    got = morph[morph["method"] == "GL"].reset_index(drop=True)
    np.testing.assert_allclose(got["bias_mv"], direct["bias_mv"], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(got["mae_mv"], direct["mae_mv"], rtol=1e-6, atol=1e-9)


def test_cha_at_epoch_0_equals_gl_and_keeps_gl_unless_validation_improves(chain, cohort):
    from ecgrecon.data.datasets import load_folds, read_leads, read_segment_meta, split_rows
    from ecgrecon.learn.linear import GLAnchor
    from ecgrecon.learn.models import build_decoder
    from ecgrecon.learn.train_decoder import load_decoder

    seg, folds = cohort
    root = chain["segment_csv"].parent.parent
    gl = linear.load(root / "gl.json")
    meta, _ = read_segment_meta(seg)
    val = split_rows(meta, load_folds(folds, "official"))["val"]
    sig = read_leads(seg, INPUTS + TARGETS, val)
    x, y = sig[:, :3], sig[:, 3:].astype(np.float64)
    direct = gl.predict(x)
    h = torch.randn(len(x), 32)
    for j, lead in enumerate(TARGETS):
        torch.manual_seed(j)  # any initialisation: the zero output layer makes the untrained ChA exactly GL
        fresh = build_decoder("ChA", 3, 32, DEC, anchor=GLAnchor.from_map(gl, lead)).eval()
        with torch.no_grad():
            np.testing.assert_allclose(fresh(torch.from_numpy(x), h).numpy(), direct[:, j], atol=2e-5)
        curve = pd.read_csv(root / "decoders" / "ChA" / "official" / f"{lead}_val.csv")
        assert curve["epoch"].iloc[0] == 0 and np.isnan(curve["train_loss"].iloc[0])
        err = direct[:, j].astype(np.float64) - y[:, j]
        assert curve["val_rmse_mv"].iloc[0] == pytest.approx(np.sqrt((err**2).mean()), rel=1e-4)  # epoch 0 = GL
        model, ckpt = load_decoder(root / "decoders" / "ChA" / "official" / f"{lead}.pt")
        assert ckpt["best_val_loss"] == pytest.approx(curve["val_loss"].min(), rel=1e-6)
        assert ckpt["best_val_loss"] <= curve["val_loss"].iloc[0]  # never worse than GL on validation
        assert not any(k.startswith("anchor.") for k, _ in model.named_parameters())  # GL stays frozen
        np.testing.assert_array_equal(model.anchor.weight.numpy()[0], gl.weights[j].astype(np.float32))


def test_derived_limb_leads_are_computed_from_i_and_ii_and_scored_against_the_recorded_leads(cohort, tmp_path):
    """Task lead_i in small: GL maps I -> II, V4; III and aVR follow from I and the reconstructed II."""
    from ecgrecon import LEADS12
    from ecgrecon.data.datasets import load_folds, read_segment_meta, split_rows

    seg, folds = cohort
    gl = linear.fit_from_segments(seg, folds, "official", ["I"], ["II", "V4"], context=2, alphas=GL_ALPHAS, log=lambda m: None)
    gl.save(tmp_path / "gl.json")
    outputs = {k: tmp_path / v for k, v in OUTPUTS.items()}
    settings = EvalSettings(
        inputs=["I"], targets=["II", "V4"], derived=["III", "AVR"], methods=["GL"], folds=["official"], task="lead_i", device="cpu"
    )
    evaluate(seg, folds, None, {("GL", "official"): tmp_path / "gl.json"}, outputs, settings, log=lambda m: None)
    table = pd.read_csv(outputs["segment_csv"]).set_index(["variant", "lead"])
    assert set(table.index.get_level_values(1)) == {"II", "V4", "III", "AVR", "Mean"}
    with h5py.File(outputs["predictions"]) as f, h5py.File(seg) as s:
        assert list(f.attrs["targets"]) == ["II", "V4", "III", "AVR"]
        rows = f["official/segments/seg_id"][...]
        pred = f["official/segments/GL"][...].astype(np.float64)
        x = s["x"][...][rows].astype(np.float64)
    lead_i, lead_ii = x[:, LEADS12.index("I")], pred[:, 0]
    np.testing.assert_allclose(pred[:, 2], lead_ii - lead_i, atol=1e-5)  # III = II - I
    np.testing.assert_allclose(pred[:, 3], -(lead_i + lead_ii) / 2, atol=1e-5)  # aVR = -(I + II) / 2
    for j, lead in ((2, "III"), (3, "AVR")):  # scored against the recorded lead
        truth = x[:, LEADS12.index(lead)]
        rmse = np.sqrt(((pred[:, j] - truth) ** 2).mean())
        assert table.loc[("GL", lead), "rmse"] == pytest.approx(rmse, rel=1e-5), lead
    meta, _ = read_segment_meta(seg)
    train = split_rows(meta, load_folds(folds, "official"))["train"]
    with h5py.File(seg) as s:
        mean_iii = s["x"][...][train][:, LEADS12.index("III")].mean(axis=0)
    with h5py.File(outputs["predictions"]) as f:
        assert "train_mean" not in f["official/segments"]
    truth_iii = x[:, LEADS12.index("III")]
    want = np.sqrt(((mean_iii[None] - truth_iii) ** 2).mean())
    assert table.loc[("train_mean", "III"), "rmse"] == pytest.approx(want, rel=1e-5)
    assert "III, AVR: derived from I and II" in outputs["segment_md"].read_text()


# ---- both metric conventions: pooled (headline) and the authors' mean of per-segment values ----------------
CONVENTION_FOLDS = ["official", "cv0", "cv1"]


@pytest.fixture(scope="module")
def gl_run(cohort, tmp_path_factory):
    """A GL-only evaluation of three folds written as a run folder (``results/paper/tables``)."""
    seg, folds = cohort
    run = tmp_path_factory.mktemp("gl_run")
    artifacts = {}
    for fold in CONVENTION_FOLDS:
        gl = linear.fit_from_segments(seg, folds, fold, INPUTS, TARGETS, context=2, alphas=GL_ALPHAS, log=lambda m: None)
        gl.save(run / f"gl_{fold}.json")
        artifacts[("GL", fold)] = run / f"gl_{fold}.json"
    outputs = {k: run / "results" / "paper" / "tables" / v for k, v in OUTPUTS.items()}
    settings = EvalSettings(inputs=INPUTS, targets=TARGETS, methods=["GL"], folds=CONVENTION_FOLDS, device="cpu")
    summary = evaluate(seg, folds, None, artifacts, outputs, settings, log=lambda m: None)
    return run, outputs, summary


def test_tables_report_the_segment_mean_convention_beside_the_pooled_one(gl_run, cohort):
    from ecgrecon.data.datasets import read_leads, read_segment_meta
    from ecgrecon.signal.metrics import lead_metrics, reassemble

    seg_path, _ = cohort
    _, outputs, summary = gl_run
    table = pd.read_csv(outputs["segment_csv"])
    assert {"rmse", "rmse_seg", "r2", "r2_seg", "n_constant_target"} <= set(table.columns)
    official = table[table["fold"] == "official"].set_index(["variant", "lead"])
    with h5py.File(outputs["predictions"]) as f, h5py.File(seg_path) as s:
        seg_id = f["official/segments/seg_id"][...]
        pred = f["official/segments/GL"][...]
        truth = s["x"][...][seg_id][:, [6, 8, 9, 10, 11]]
        rmeta, _ = read_segment_meta(seg_path, "records")
        rows = pd.Index(rmeta["win_id"]).get_indexer(f["official/records/win_id"][...])
        rec_windows = f["official/records/GL"][...]
    for j, lead in enumerate(TARGETS):
        want = lead_metrics(truth[:, j], pred[:, j])
        for key in ("rmse", "rmse_seg", "r2", "r2_seg", "n_constant_target"):
            assert official.loc[("GL", lead), key] == pytest.approx(want[key], rel=1e-12), (lead, key)
        assert official.loc[("GL", lead), "rmse_seg"] < official.loc[("GL", lead), "rmse"]  # a different number
        zero_seg = np.sqrt((truth[:, j].astype(np.float64) ** 2).mean(axis=-1)).mean()  # per-segment RMS, then the mean
        assert official.loc[("zero", lead), "rmse_seg"] == pytest.approx(zero_seg, rel=1e-9)
    for key in ("rmse_seg", "r2_seg"):
        per_lead = official.loc[[("GL", lead) for lead in TARGETS], key]
        assert official.loc[("GL", "Mean"), key] == pytest.approx(per_lead.mean(), rel=1e-12)
        assert summary["GL"][key] == pytest.approx(official.loc[("GL", "Mean"), key], rel=1e-12)
        cv = table[(table["variant"] == "GL") & (table["lead"] == "Mean")].set_index("fold")
        assert cv.loc["cv_mean", key] == pytest.approx((cv.loc["cv0", key] + cv.loc["cv1", key]) / 2, rel=1e-12)
    # Table II: the per-record mean (rmse_mean) beside one RMSE / R² pooled over all test-record samples
    rec = pd.read_csv(outputs["record_csv"])
    rec_off = rec[rec["fold"] == "official"].set_index(["variant", "lead"])
    m = rmeta.iloc[rows].reset_index(drop=True)
    rtruth = reassemble(read_leads(seg_path, TARGETS, rows, group="records"), m)
    rpred = reassemble(rec_windows, m)
    for j, lead in enumerate(TARGETS):
        y = np.concatenate([rtruth[e][j] for e in sorted(rtruth)]).astype(np.float64)
        p = np.concatenate([rpred[e][j] for e in sorted(rtruth)]).astype(np.float64)
        assert rec_off.loc[("GL", lead), "rmse_pooled"] == pytest.approx(np.sqrt(((y - p) ** 2).mean()), rel=1e-9)
        assert rec_off.loc[("GL", lead), "r2_pooled"] == pytest.approx(1 - ((y - p) ** 2).sum() / ((y - y.mean()) ** 2).sum(), rel=1e-9)
    assert {"rmse_pooled", "r2_pooled"} <= set(rec[rec["fold"] == "cv_sd"].dropna(axis=1).columns)
    # the Markdown names both conventions plainly and shows the CSV values
    md = outputs["segment_md"].read_text()
    labels = ("RMSE pooled (mV)", "RMSE seg-mean (mV, authors')", "R² pooled", "R² seg-mean (authors')", "r seg-mean")
    for label in labels:
        assert md.count(f"**{label}**") == len(CONVENTION_FOLDS) + 1, label  # Table I of each fold and the CV mean ± sd table
    v1 = official.loc[("GL", "V1")]
    fold_md = md.split("## fold official")[1].split("## fold")[0]
    for label, key in zip(labels, ("rmse", "rmse_seg", "r2", "r2_seg", "pearson_seg")):
        assert f"| V1 | {v1[key]:.3f} |" in fold_md.split(f"**{label}**")[1].split("**", 1)[0], label
    assert "Youssef & Singla" in md and "Headline" in md
    rmd = outputs["record_md"].read_text()
    assert "RMSE pooled (mV) GL | RMSE rec-mean (mV, ± 95 % CI) GL | R² pooled GL | R² rec-mean (± 95 % CI) GL" in rmd


def test_results_page_names_both_conventions_and_the_papers(gl_run, tmp_path):
    from ecgrecon.evaluation import results_doc

    run, outputs, _ = gl_run
    out = tmp_path / "results.md"
    assert results_doc.main(["--run", f"gl={run}", "--out", str(out)]) == 0
    text = out.read_text()
    assert "**Two metric conventions.**" in text and "uses the seg-mean convention" in text and "Youssef & Singla" in text
    assert "| method | RMSE pooled (mV) | R² pooled | RMSE seg-mean (mV, authors') | R² seg-mean (authors') | r seg-mean |" in text
    gl = pd.read_csv(outputs["segment_csv"]).set_index(["fold", "variant", "lead"]).loc[("official", "GL", "Mean")]
    assert f"| GL | {gl['rmse']:.3f} | {gl['r2']:.3f} | {gl['rmse_seg']:.3f} | {gl['r2_seg']:.3f} | {gl['pearson_seg']:.3f} |" in text
    # a run whose tables predate the seg-mean columns still renders (n/a)
    old = tmp_path / "old_run"
    (old / "results" / "paper" / "tables").mkdir(parents=True)
    pd.read_csv(outputs["segment_csv"]).drop(columns=["rmse_seg", "r2_seg", "n_constant_target"]).to_csv(
        old / "results" / "paper" / "tables" / "segment_metrics.csv", index=False
    )
    text = results_doc.write({"old": old}, tmp_path / "old.md")
    assert f"| GL | {gl['rmse']:.3f} | {gl['r2']:.3f} | n/a | n/a | {gl['pearson_seg']:.3f} | - | - |" in text
