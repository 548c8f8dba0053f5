"""The learning rules inside the Snakemake DAG: a tiny full run, then what each config change reruns."""

import json
import shutil
import sys
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

from snakemake_helpers import scheduled_rules, snakemake
from tiny_learning import LEAD_I as LEAD_I_SPEC  # tiny_learning_run: the session fixture in conftest.py
from tiny_learning import LEARNING, PAPER, TINY
from tiny_learning import tiny_config as _cfg


def test_full_run_writes_every_output_log_and_benchmark(tiny_learning_run):
    work = tiny_learning_run
    for name in (
        "segment_metrics.csv",
        "segment_metrics.md",
        "record_metrics.csv",
        "record_metrics.md",
        "class_metrics.csv",
        "latent_affinity.csv",
    ):
        assert (work / "results/paper/tables" / name).stat().st_size > 0
    seg = pd.read_csv(work / "results/paper/tables/segment_metrics.csv")
    assert set(seg["lead"]) == {"V4", "Mean"}
    assert set(seg["variant"]) == {"GL", "C", "Ch", "ChA", "Cpaper", "Chpaper", "zero", "train_mean"}
    with h5py.File(work / "results/encoders/I-II-V2/reps.h5") as f, h5py.File(work / "results/segments/segments.h5") as s:
        assert f["h"].shape == (s["x"].shape[0], 16) and f["records/h"].shape[0] == s["records/x"].shape[0]
        assert set(f["norm"]) == {"official", "cv0", "cv1", "cv2"}
    ckpt = torch.load(work / "results/paper/decoders/Ch/official/V4.pt", weights_only=True)
    assert ckpt["lead"] == "V4" and ckpt["variant"] == "Ch"
    assert not list((work / "results/paper/decoders").rglob("*.resume.pt"))
    logs = [
        "fit_linear/paper/official_GL",
        "train_encoder/I-II-V2",
        "extract_reps/I-II-V2",
        "evaluate/paper",
        "train_decoder/paper/C_official_V4",
        "train_decoder/paper/Ch_official_V4",
        "train_decoder/paper/ChA_official_V4",
        "train_encoder/I-II-V2_paper",
        "extract_reps/I-II-V2_paper",
        "train_decoder/paper/Cpaper_official_V4",
        "train_decoder/paper/Chpaper_official_V4",
    ]
    for name in logs:
        assert (work / "logs" / f"{name}.log").stat().st_size > 0, name
        assert (work / "benchmarks" / f"{name}.tsv").exists(), name
    assert scheduled_rules(work, work / "tiny.yaml", *LEARNING) == {}


def test_temperature_change_reruns_encoder_chain_but_not_signal_only_decoders(tiny_learning_run):
    work = tiny_learning_run
    jobs = scheduled_rules(work, _cfg(work, "tau.yaml", encoder={"temperature": 0.2}), *LEARNING)
    assert jobs == {"train_encoder": 1, "extract_reps": 1, "train_decoder": 2, "evaluate": 1}, jobs  # Ch, ChA


def test_tiling_change_reruns_reps_not_the_encoder(tiny_learning_run):
    work = tiny_learning_run
    jobs = scheduled_rules(work, _cfg(work, "tile.yaml", encoder={"tile_reps": True}), *LEARNING)
    assert jobs == {"extract_reps": 1, "train_decoder": 2, "evaluate": 1}, jobs  # Ch, ChA


def test_decoder_change_reruns_all_decoders_not_the_encoder(tiny_learning_run):
    work = tiny_learning_run
    jobs = scheduled_rules(work, _cfg(work, "lr.yaml", decoder={"lr": 0.01}), *LEARNING)
    assert jobs == {"train_decoder": 3, "evaluate": 1}, jobs  # C, Ch, ChA; not the authors' Cpaper, Chpaper


def test_authors_decoder_change_reruns_only_their_decoders(tiny_learning_run):
    work = tiny_learning_run
    jobs = scheduled_rules(work, _cfg(work, "plr.yaml", decoder_paper={"lr": 0.01}), *LEARNING)
    assert jobs == {"train_decoder": 2, "evaluate": 1}, jobs  # Cpaper, Chpaper


def test_authors_encoder_change_reruns_their_encoder_chain_only(tiny_learning_run):
    work = tiny_learning_run
    jobs = scheduled_rules(work, _cfg(work, "ptau.yaml", encoder_paper={"temperature": 0.2}), *LEARNING)
    assert jobs == {"train_encoder_paper": 1, "extract_reps_paper": 1, "train_decoder": 1, "evaluate": 1}, jobs  # Chpaper


def test_authors_methods_are_built_their_way(tiny_learning_run):
    work = tiny_learning_run
    enc = torch.load(work / "results/encoders/I-II-V2/paper/encoder.pt", weights_only=True)
    assert enc["design"] == "paper" and enc["level"] == "code" and enc["embed_dim"] == 16  # 4 x width 4
    with h5py.File(work / "results/encoders/I-II-V2/paper/reps.h5") as f:
        assert f["h"].shape[1] == 16
    for method, h_dim in (("Cpaper", 0), ("Chpaper", 16)):
        ckpt = torch.load(work / f"results/paper/decoders/{method}/official/V4.pt", weights_only=True)
        assert ckpt["arch"] == {"design": "paper", "width": 8, "h_branch": "length1", "x_norm": "segment"}
        assert ckpt["h_dim"] == h_dim
        curve = pd.read_csv(work / f"results/paper/decoders/{method}/official/V4_val.csv")
        np.testing.assert_allclose(curve["val_loss"], curve["val_rmse_mv"] ** 2, rtol=1e-6)  # selected on the MSE
    md = (work / "results/paper/tables/segment_metrics.md").read_text()
    assert "C-paper" in md and "C-h-paper" in md


def test_evaluation_setting_reruns_evaluation_only(tiny_learning_run):
    work = tiny_learning_run
    ev = {"knn_k": 5, "n_subclasses": 3, "min_class_records": 5}
    assert scheduled_rules(work, _cfg(work, "knn.yaml", evaluation=ev), *LEARNING) == {"evaluate": 1}


def test_adding_a_cv_fold_trains_only_its_decoders(tiny_learning_run):
    work = tiny_learning_run
    jobs = scheduled_rules(work, _cfg(work, "cv.yaml", evaluation={"folds": ["official", "cv0"]}), *LEARNING)
    assert jobs == {"train_decoder": 5, "fit_linear": 1, "evaluate": 1}, jobs


def test_gl_change_refits_gl_and_its_anchored_decoder_only(tiny_learning_run):
    work = tiny_learning_run
    jobs = scheduled_rules(work, _cfg(work, "gl.yaml", gl={"context": 1}), *LEARNING)
    assert jobs == {"fit_linear": 1, "train_decoder": 1, "evaluate": 1}, jobs  # ChA is anchored on GL; C, Ch, Cpaper, Chpaper stay


# ---- the task axis: adding or removing a task never reruns another task's jobs ------------------------
LEAD_I = "results/lead_i/predictions/predictions.h5"


def _copy_run(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest, dirs_exist_ok=True, symlinks=True)  # copy2 keeps mtimes: nothing looks stale
    return dest


@pytest.fixture(scope="module")
def two_task_run(tiny_learning_run, tmp_path_factory):
    """A copy of the tiny run (task paper) where task lead_i was then added and run; with the dry-run of
    adding it."""
    work = _copy_run(tiny_learning_run, tmp_path_factory.mktemp("two_tasks"))
    cfg = _cfg(work, "both.yaml", run_tasks=["paper", "lead_i"])
    added = scheduled_rules(work, cfg, *LEARNING, LEAD_I)
    snakemake(work, *LEARNING, LEAD_I, configfile=cfg)
    return work, added


def test_adding_a_task_schedules_only_its_own_jobs(two_task_run):
    _, added = two_task_run
    # lead_i: its encoder (inputs I), reps, GL, 3 decoder methods x 2 targets, evaluate; nothing of paper
    assert added == {"train_encoder": 1, "extract_reps": 1, "fit_linear": 1, "train_decoder": 6, "evaluate": 1}, added


def test_removing_a_task_reruns_nothing_of_the_other(two_task_run):
    work, _ = two_task_run
    assert scheduled_rules(work, _cfg(work, "only_paper.yaml", run_tasks=["paper"]), *LEARNING) == {}
    assert scheduled_rules(work, _cfg(work, "only_lead_i.yaml", run_tasks=["lead_i"]), LEAD_I) == {}
    assert scheduled_rules(work, work / "both.yaml", *LEARNING, LEAD_I) == {}


def test_lead_i_scores_targets_and_derived_leads_for_every_method(two_task_run):
    work, _ = two_task_run
    seg = pd.read_csv(work / "results/lead_i/tables/segment_metrics.csv")
    assert set(seg["lead"]) == {"II", "V4", "III", "Mean"}
    assert set(seg["variant"]) == {"GL", "C", "Ch", "ChA", "zero", "train_mean"}
    mean = seg[seg["lead"] == "Mean"].set_index("variant")
    per_lead = seg[seg["lead"] != "Mean"].groupby("variant")["rmse"].mean()
    assert np.allclose(mean.loc[per_lead.index, "rmse"], per_lead)  # Mean covers the derived lead too
    with h5py.File(work / LEAD_I) as p, h5py.File(work / "results/segments/segments.h5") as s:
        assert list(p.attrs["targets"]) == ["II", "V4", "III"] and list(p.attrs["inputs"]) == ["I"]
        rows = np.sort(p["official/segments/seg_id"][()])
        lead_i = s["x"][rows, 0]  # LEADS12 order: I first
        gl = p["official/segments/GL"][()]
        np.testing.assert_allclose(gl[:, 2], gl[:, 0] - lead_i, atol=1e-5)  # III = II - I (Einthoven)
    md = (work / "results/lead_i/tables/segment_metrics.md").read_text()
    assert "task lead_i" in md and "III: derived from I and II" in md
    assert (work / "results/encoders/I/encoder.pt").exists() and (work / "results/encoders/I-II-V2/encoder.pt").exists()


# ---- the method registry: a method added by one module appears in the DAG and in the tables -------------
PLUGIN = """
from ecgrecon.methods import Method, register

register(Method(name="GL5", display="GL (+-5)", family="population linear", kind="linear",
                description="GL with five samples of context either side", settings={"context": 5}))
"""


def test_a_registered_extra_method_runs_in_the_dag_and_reaches_the_tables(tiny_learning_run, tmp_path):
    work = _copy_run(tiny_learning_run, tmp_path / "work")
    (tmp_path / "ridge5.py").write_text(PLUGIN)
    methods = ["GL", "GL5", "C", "Ch", "ChA", "Cpaper", "Chpaper"]
    cfg = _cfg(work, "plugin.yaml", method_plugins=[str(tmp_path / "ridge5.py")], tasks={"paper": {**PAPER, "methods": methods}})
    assert scheduled_rules(work, cfg, *LEARNING) == {"fit_linear": 1, "evaluate": 1}  # nothing else reruns
    snakemake(work, *LEARNING, configfile=cfg)
    seg = pd.read_csv(work / "results/paper/tables/segment_metrics.csv").set_index(["variant", "lead"])
    assert set(methods) <= set(seg.index.get_level_values(0))
    assert seg.loc[("GL5", "V4"), "rmse"] != seg.loc[("GL", "V4"), "rmse"]  # a different map, fitted for real
    gl5 = json.loads((work / "results/paper/linear/official/GL5.json").read_text())
    assert gl5["context"] == 5 and (work / "logs/fit_linear/paper/official_GL5.log").stat().st_size > 0
    assert "GL (+-5)" in (work / "results/paper/tables/segment_metrics.md").read_text()


CALINET = tuple(
    f"results/paper/calinet/{f}" for f in ("metrics.csv", "metrics.md", "robustness.csv", "reliability.csv", "scores.csv", "retention.csv")
)


def test_calinet_trains_with_pcms_choice_and_is_scored_on_pcms_windows(tiny_learning_run, tmp_path, shared_data):
    from ecgrecon.learn.calinet import load_calinet

    work = _copy_run(tiny_learning_run, tmp_path / "work")
    cfg = _cfg(work, "calinet.yaml", tasks={"paper": {**PAPER, "methods": [*PAPER["methods"], "PCM", "calinet"]}})
    jobs = scheduled_rules(work, cfg, *LEARNING, *CALINET)
    expected = {
        "calibrate_pcm": 1,
        "train_calinet": 1,
        "noise_bank": 1,
        "evaluate_calinet": 1,
        "train_classifier": 1,
        "retention_calinet": 1,
    }
    assert jobs == expected, jobs  # nothing else reruns
    snakemake(work, *LEARNING, *CALINET, configfile=cfg)
    m = pd.read_csv(work / CALINET[0]).set_index(["method", "lead"])
    assert set(m.index.get_level_values(0)) == {"GL", "PCM-raw", "PCM", "CaLiNet-E", "ChA"}
    assert set(m.index.get_level_values(1)) == {"V4", "Mean", "Anterior"}  # V4: the one anterior target of the tiny task
    assert np.isfinite(m[["pcc", "nrmse", "rmse", "r2"]].to_numpy()).all() and (m["n_windows"] > 0).all()
    pcm = pd.read_csv(work / "results/paper/tables/pcm_metrics.csv")
    pcm = pcm[pcm["split"] == "test_records"].set_index(["method", "lead"])
    for method in ("GL", "PCM", "PCM-raw"):  # the same windows and predictions as PCM's own table
        assert m.loc[(method, "V4"), "rmse"] == pytest.approx(pcm.loc[(method, "V4"), "rmse"], rel=1e-5), method
        assert m.loc[(method, "V4"), "n_windows"] == pcm.loc[(method, "V4"), "n_windows"]
    model, ckpt, _, settings = load_calinet(work / "results/paper/calinet/model.pt")
    summary = json.loads((work / "results/paper/pcm/official/pcm.json").read_text())
    assert settings.alpha == summary["alpha"] and settings.rule == summary["rule"] and settings.channels == (4, 8)
    log = pd.read_csv(work / "results/paper/calinet/train_log.csv")
    assert list(log["epoch"]) == [0, 1] and np.isfinite(log["val_loss"]).all()
    rob = pd.read_csv(work / CALINET[2])
    from ecgrecon.noise import read_bank

    src = read_bank(work / "results/noise/bank_em.h5").sources["em"]  # synthetic noise is named in the condition
    assert src == "nstdb-derived", src  # a run without noise tasks still reads the shared NSTDB (em from 118e00 - 118e24)
    em = "cal 2 s + em 6 dB" + ("" if src.startswith("nstdb") else f" ({src.upper()} noise)")
    assert {"cal 2 s", "cal 1 s", "cal 0.5 s", em, "cal 2 s + ectopic beat"} <= set(rob["condition"])
    assert set(rob["method"]) == {"GL", "PCM", "CaLiNet-E"} and np.isfinite(rob[["rmse", "nrmse", "pcc"]].to_numpy()).all()
    gl = rob[rob["method"] == "GL"].set_index("condition")["rmse"]
    assert gl.loc["cal 2 s"] == pytest.approx(gl.loc["cal 0.5 s"])  # GL reads no calibration
    assert "CaLiNet-E" in (work / CALINET[1]).read_text() and len(pd.read_csv(work / CALINET[3])) > 0
    assert (work / "results/paper/calinet/robustness.png").stat().st_size > 0
    sc = pd.read_csv(work / CALINET[4])  # every quality option on every condition; map = the weighted map alone
    assert set(sc["rho"]) == {"crossfit", "pcm", "source"} and set(sc["condition"]) == set(rob["condition"])
    assert (sc["trained_with"] == settings.rho).all() and sc["mean_rho"].between(0, 1).all()
    own = sc[(sc["condition"] == "cal 2 s") & (sc["rho"] == settings.rho)].set_index("method")["rmse"]
    robm = rob[rob["condition"] == "cal 2 s"].set_index("method")["rmse"]
    assert own["CaLiNet-E"] == pytest.approx(robm["CaLiNet-E"], rel=1e-6)  # the trained option is the robustness row
    ret = pd.read_csv(work / CALINET[5]).set_index("method")
    assert list(ret.index) == ["original", "GL", "PCM-raw", "PCM", "CaLiNet-E", "ChA"]
    assert ret.loc["original", "f1_retention"] == 1.0 and np.isfinite(ret["macro_auc"]).all()
    assert (ret["n_records"] == ret.loc["original", "n_records"]).all() and ret["n_records"].iloc[0] > 0
    from ecgrecon.evaluation import results_doc  # docs/results.md's CaLiNet-E section, from these tables

    page = tmp_path / "docs" / "results.md"
    assert results_doc.main(["--run", f"tiny={work}", "--out", str(page)]) == 0
    text, mean = page.read_text(), m.xs("Mean", level="lead")
    c = mean.loc["CaLiNet-E"]
    assert f"| CaLiNet-E | {c['pcc']:.3f} | {c['nrmse']:.3f} | {c['rmse']:.4f} |" in text
    assert "their fold 9, which is also their model-selection fold" in text and "Reading: RMSE GL" in text
    cal = rob[rob["condition"] == "cal 0.5 s"].set_index("method")["rmse"]
    assert "| cal 0.5 s | " in text and f"{cal['PCM']:.4f} | {cal['CaLiNet-E']:.4f} |" in text
    assert (tmp_path / "docs" / "img" / "calinet_robustness_1.png").stat().st_size > 0
    o = ret.loc["CaLiNet-E"]
    assert f"CaLiNet-E {o['macro_f1']:.3f} / {o['macro_auc']:.3f} ({o['auc_retention']:.3f})" in text
    s0 = sc[(sc["condition"] == "cal 0.5 s") & (sc["rho"] == "source")].set_index("method")
    assert f"{s0.loc['map', 'mean_rho']:.2f} / {s0.loc['map', 'rmse']:.4f} / {s0.loc['CaLiNet-E', 'rmse']:.4f}" in text
    for name in ("train_calinet/paper", "evaluate_calinet/paper", "retention_calinet/paper"):
        assert (work / "logs" / f"{name}.log").stat().st_size > 0 and (work / "benchmarks" / f"{name}.tsv").exists(), name
    assert scheduled_rules(work, cfg, *LEARNING, *CALINET) == {}
    tasks = {"paper": {**PAPER, "methods": [*PAPER["methods"], "PCM", "calinet"]}}
    lr = _cfg(work, "calinet_lr.yaml", tasks=tasks, calinet={"lr": 0.01})
    assert scheduled_rules(work, lr, *LEARNING, *CALINET) == {"train_calinet": 1, "evaluate_calinet": 1, "retention_calinet": 1}
    noise = _cfg(work, "calinet_db.yaml", tasks=tasks, calinet={"robust_noise_db": 0})
    assert scheduled_rules(work, noise, *LEARNING, *CALINET) == {"evaluate_calinet": 1, "retention_calinet": 1}
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    import bench_calinet  # the speed bench on this run (a smoke run: its timings are not tested)

    speed = bench_calinet.main(["--run", str(work), "--out", str(tmp_path / "bench"), "--repeats", "1", "--threads", "1"])
    assert list(speed["method"]) == ["PCM", "CaLiNet-E"] and (speed["infer_ms_per_window"] > 0).all()
    assert speed.set_index("method").loc["CaLiNet-E", "train_s_per_epoch"] > 0


DIFFUSION = tuple(f"results/paper/diffusion/{f}" for f in ("metrics.csv", "cost.csv", "samples.h5", "morphology.csv", "samples.png"))
PRIOR = ("results/prior/model.pt", "results/prior/realism.md")


def test_diffusion_prior_is_trained_once_and_sampled_beside_the_tasks_methods(tiny_learning_run, tmp_path):
    import h5py

    from ecgrecon.learn.diffusion.prior import load_prior

    work = _copy_run(tiny_learning_run, tmp_path / "work")
    cfg = _cfg(work, "diffusion.yaml", tasks={"paper": {**PAPER, "methods": [*PAPER["methods"], "diffusion"]}})
    jobs = scheduled_rules(work, cfg, *LEARNING, *DIFFUSION, *PRIOR)
    assert jobs == {"train_prior": 1, "prior_realism": 1, "sample_diffusion": 1, "evaluate_diffusion": 1}, jobs  # nothing else reruns
    snakemake(work, *LEARNING, *DIFFUSION, *PRIOR, configfile=cfg)
    prior = load_prior(work / PRIOR[0])
    assert prior.window == 256 and prior.fs == 100.0 and prior.ckpt["best_step"] >= 0
    m = pd.read_csv(work / DIFFUSION[0]).set_index(["method", "lead"])
    methods = set(m.index.get_level_values(0))
    assert {"GL", "C", "C-h", "ChA", "Diffusion", "Diffusion (ddnm)", "Diffusion (dps)"} <= methods, methods
    d = m.loc[("Diffusion", "Mean")]
    assert np.isfinite(d[["rmse", "r2", "single_rmse", "cov50", "cov90"]].to_numpy(float)).all()
    assert 0 <= d["cov50"] <= d["cov90"] <= 1 and d["single_rmse"] >= d["rmse"] - 1e-9  # one sample is never better on average
    with h5py.File(work / "results/paper/predictions/predictions.h5") as f:  # GL: the evaluate rule's numbers on these windows
        win, gl = f["official/records/win_id"][...], f["official/records/GL"][...]
    with h5py.File(work / DIFFUSION[2]) as f:
        ids, truth = f["win_id"][...], f["truth"][...]
        samples = f["clean/Diffusion/samples"][...]
    pos = pd.Index(win).get_indexer(ids)
    assert (pos >= 0).all() and samples.shape == (3, len(ids), 1, 256)
    assert m.loc[("GL", "V4"), "rmse"] == pytest.approx(float(np.sqrt(np.mean((gl[pos][:, 0] - truth[:, 0]) ** 2))), rel=1e-5)
    cost = pd.read_csv(work / DIFFUSION[1]).set_index("sampler")
    assert set(cost.index) == {"mgps", "ddnm", "dps"} and (cost["seconds_per_window"] > 0).all()
    assert cost.loc["ddnm", "nfe_per_sample"] == 4 and cost.loc["mgps", "nfe_per_sample"] > cost.loc["ddnm", "nfe_per_sample"]
    assert "Diffusion" in (work / "results/prior/realism.md").read_text()
    for name in ("train_prior", "prior_realism", "sample_diffusion/paper", "evaluate_diffusion/paper"):
        assert (work / "logs" / f"{name}.log").stat().st_size > 0 and (work / "benchmarks" / f"{name}.tsv").exists(), name
    assert scheduled_rules(work, cfg, *LEARNING, *DIFFUSION, *PRIOR) == {}
    from ecgrecon.evaluation import results_doc  # docs/results.md's diffusion section, from these tables

    page = tmp_path / "docs" / "results.md"
    assert results_doc.main(["--run", f"tiny={work}", "--out", str(page)]) == 0
    text = page.read_text()
    assert "### Diffusion prior" in text and f"| Diffusion | {d['rmse']:.4f} | {d['r2']:.3f} |" in text
    assert "Reading: the diffusion prior's posterior mean" in text and "| mgps | " in text
    morph = pd.read_csv(work / "results/paper/diffusion/morphology.csv")
    mae = morph[(morph["method"] == "Diffusion") & (morph["quantity"] == "r_amp")]["mae_mv"].mean()
    assert "Morphology on the same windows (task `paper`" in text and f"| Diffusion | {mae:.3f} |" in text
    assert (tmp_path / "docs" / "img" / "diffusion_samples_1.png").stat().st_size > 0
    assert results_doc.synthetic_run(work)
    cross_only = (work / "results/clean/xset.h5", work / "results/paper/cross/xset")  # evaluated across data sets only:
    cross_only[0].write_bytes(b"")  # no figure draws its signals
    cross_only[1].mkdir(parents=True)
    try:
        assert results_doc.synthetic_run(work)
        cross_only[1].rmdir()
        assert not results_doc.synthetic_run(work)
    finally:
        cross_only[0].unlink()
        shutil.rmtree(cross_only[1], ignore_errors=True)
    real = work / "results/clean/ptbxl_local.h5"  # a run on real records: its signal figures stay out of docs/
    real.write_bytes(b"")
    try:
        page = tmp_path / "real_docs" / "results.md"
        assert results_doc.main(["--run", f"real={work}", "--out", str(page)]) == 0
        assert "### Diffusion prior" in page.read_text() and "are not copied here (real records)" in page.read_text()
        assert not (tmp_path / "real_docs" / "img" / "diffusion_samples_1.png").exists()
    finally:
        real.unlink()
    tasks = {"paper": {**PAPER, "methods": [*PAPER["methods"], "diffusion"]}}
    k = _cfg(work, "diffusion_k.yaml", tasks=tasks, diffusion={**TINY["diffusion"], "K": 2})
    assert scheduled_rules(work, k, *LEARNING, *DIFFUSION, *PRIOR) == {"sample_diffusion": 1, "evaluate_diffusion": 1}  # no training
    gl = _cfg(work, "diffusion_gl.yaml", tasks=tasks, gl={"context": 1})  # another GL: its table reruns, the sampling does not
    jobs = scheduled_rules(work, gl, *LEARNING, *DIFFUSION, *PRIOR)
    assert jobs.get("evaluate_diffusion") == 1 and "sample_diffusion" not in jobs and "train_prior" not in jobs, jobs
    steps = _cfg(
        work, "diffusion_prior.yaml", tasks=tasks, diffusion={**TINY["diffusion"], "prior": {**TINY["diffusion"]["prior"], "max_steps": 30}}
    )
    assert scheduled_rules(work, steps, *LEARNING, *DIFFUSION, *PRIOR) == {"train_prior": 1, "prior_realism": 1, "sample_diffusion": 1,
                                                                        "evaluate_diffusion": 1}  # fmt: skip


def test_results_page_is_written_from_the_tables_of_a_run(two_task_run, tmp_path):
    from ecgrecon.evaluation import results_doc

    work, _ = two_task_run
    out = tmp_path / "results.md"
    assert results_doc.main(["--run", f"tiny={work}", "--out", str(out)]) == 0
    text = out.read_text()
    for task in ("paper", "lead_i"):
        seg = pd.read_csv(work / f"results/{task}/tables/segment_metrics.csv")
        mean = seg[(seg["fold"] == "official") & (seg["lead"] == "Mean")].set_index("variant")
        assert f"### task `{task}`" in text
        for method, label in (("GL", "GL"), ("Ch", "C-h"), ("ChA", "ChA")):
            row = f"| {label} | {mean.loc[method, 'rmse']:.3f} | {mean.loc[method, 'r2']:.3f} |"
            assert row in text, (task, row)
    paper = pd.read_csv(work / "results/paper/tables/segment_metrics.csv").set_index(["variant", "lead"])
    lead_i = pd.read_csv(work / "results/lead_i/tables/segment_metrics.csv").set_index(["variant", "lead"])
    gl_a, gl_b = paper.loc[("GL", "V4"), "rmse"], lead_i.loc[("GL", "V4"), "rmse"]  # V4: the lead both reconstruct
    assert f"GL {gl_a:.3f} -> {gl_b:.3f} mV" in text and "**`lead_i` vs `paper`**" in text
    # the authors' design beside ours, from the same table, with each design's training budget
    mean = paper.xs("V4", level="lead")
    assert "**The authors' design vs our redesign** (`paper`" in text
    row = f"| C-h-paper | C-h | {mean.loc['Chpaper', 'rmse']:.3f} vs {mean.loc['Ch', 'rmse']:.3f} |"
    assert row in text and "1 epoch (best 1) vs 1 epoch (best 1)" in text and "Reading: the two designs differ" in text
    assert "do not edit by hand" in text


def test_a_task_setting_reruns_that_task_only_and_exports_follow_only_what_they_record(two_task_run):
    work, _ = two_task_run
    both = work / "both.yaml"
    bundles = ("results/paper/model/ecgrecon-C.pt", "results/lead_i/model/ecgrecon-Ch.pt")
    snakemake(work, *bundles, configfile=both)
    assert scheduled_rules(work, both, *LEARNING, LEAD_I, *bundles) == {}
    changed = _cfg(work, "lead_i_v5.yaml", run_tasks=["paper", "lead_i"], tasks={"lead_i": {**LEAD_I_SPEC, "targets": ["II", "V5"]}})
    jobs = scheduled_rules(work, changed, *LEARNING, LEAD_I, *bundles)
    # lead_i: its GL map (new targets), the V5 decoders and the GL-anchored ChA of II, evaluate, its export
    assert jobs == {"fit_linear": 1, "train_decoder": 4, "evaluate": 1, "export_model": 1}, jobs
    # the C, Ch decoders of II and everything of paper (including its bundle) stay
    short = _cfg(work, "lead_i_budget.yaml", run_tasks=["paper", "lead_i"], tasks={"lead_i": {**LEAD_I_SPEC, "budget": {"max_epochs": 1}}})
    # config.yaml's lead_i budget is 2 epochs; a task's budget reruns its decoders only (C, Ch, ChA x II, V4)
    jobs = scheduled_rules(work, short, *LEARNING, LEAD_I, *bundles)
    assert jobs == {"train_decoder": 6, "evaluate": 1, "export_model": 1}, jobs
    clf = _cfg(work, "clf_lr.yaml", run_tasks=["paper", "lead_i"], classifier={"lr": 0.01})
    assert scheduled_rules(work, clf, *LEARNING, LEAD_I, *bundles) == {}  # bundles record no classifier setting


def test_pretrained_methods_fine_tune_from_another_run_and_reach_the_tables(tiny_learning_run, tmp_path):
    """config `pretrained.run` = the tiny run itself (its official-fold models): GL-PT, C-h-PT, ChA-PT and the fine-tuned
    encoder are the only new jobs, start from that run's files, and are scored beside the real-only methods."""
    from ecgrecon.io.download import sha256

    pre = tiny_learning_run
    work = _copy_run(tiny_learning_run, tmp_path / "work")
    methods = ["GL", "GLPT", "C", "Ch", "ChPT", "ChA", "ChAPT", "Cpaper", "Chpaper"]
    pt = {"run": str(pre), "fold": "official", "lr_scale": 0.3}
    cfg = _cfg(work, "pt.yaml", tasks={"paper": {**PAPER, "methods": methods}}, pretrained=pt)
    jobs = scheduled_rules(work, cfg, *LEARNING)
    assert jobs == {"train_encoder_pt": 1, "extract_reps_pt": 1, "fit_linear": 1, "train_decoder": 2, "evaluate": 1}, jobs
    snakemake(work, *LEARNING, configfile=cfg)
    seg = pd.read_csv(work / "results/paper/tables/segment_metrics.csv").set_index(["variant", "lead"])
    assert {"GLPT", "ChPT", "ChAPT"} <= set(seg.index.get_level_values(0))
    log = pd.read_csv(work / "results/encoders/I-II-V2/pretrained/train_log.csv")
    best = torch.load(pre / "results/encoders/I-II-V2/encoder.pt", weights_only=True)["best_val_loss"]
    assert log["epoch"].iloc[0] == 0 and log["val_loss"].iloc[0] == pytest.approx(best, rel=1e-5)  # same data: the pre-trained model
    for m, base in (("ChPT", "Ch"), ("ChAPT", "ChA")):
        ckpt = torch.load(work / f"results/paper/decoders/{m}/official/V4.pt", weights_only=True)
        assert ckpt["init"]["sha256"] == sha256(pre / f"results/paper/decoders/{base}/official/V4.pt"), m
    glpt = json.loads((work / "results/paper/linear/official/GLPT.json").read_text())
    assert glpt["info"]["prior"]["path"] == str(pre / "results/paper/linear/official/GL.json") and max(glpt["alphas"]) >= 1000
    from ecgrecon.evaluation import results_doc

    assert results_doc.main(["--run", f"pt={work}", "--out", str(tmp_path / "results.md")]) == 0
    text = (tmp_path / "results.md").read_text()
    mean = seg.xs("Mean", level="lead")
    mean = mean[mean["fold"] == "official"]
    assert "**Pre-trained on the cohort, fine-tuned here, vs trained here only** (`paper`" in text
    assert f"| C-h-PT | C-h | {mean.loc['ChPT', 'rmse']:.3f} vs {mean.loc['Ch', 'rmse']:.3f} |" in text, text[-3000:]
    assert "| GL-PT | GL |" in text and "| ChA-PT | ChA |" in text and "Reading: GL-PT is" in text and "C-h-PT is" in text
    # README's row: pretrained.lr_scale reruns the fine-tuning chain, never GL-PT or the real-only methods
    cfg = _cfg(work, "pt2.yaml", tasks={"paper": {**PAPER, "methods": methods}}, pretrained={**pt, "lr_scale": 0.5})
    jobs = scheduled_rules(work, cfg, *LEARNING)
    assert jobs == {"train_encoder_pt": 1, "extract_reps_pt": 1, "train_decoder": 2, "evaluate": 1}, jobs
