"""Model export: the bundle holds everything reconstruct needs, loads weights-only, refuses
foreign or incompatible files; rule export_model and `ecgrecon export` write the same bytes.

The session fixture ``trained_run`` runs the real pipeline stages (synthetic cohort -> clean ->
QC -> segment -> folds -> encoder -> reps -> decoders -> evaluate) on a tiny cohort with tiny
models, in the workflow's results/ layout; test_cli.py imports it.
"""

import copy
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from ecgrecon.data.clean import clean_dataset
from ecgrecon.data.datasets import ArtifactError, read_leads, read_segment_meta
from ecgrecon.data.folds import make_folds_file
from ecgrecon.data.qc import compute_qc_stats
from ecgrecon.data.segment import segment_dataset
from ecgrecon.deploy.bundle import (
    BUNDLE_VERSION,
    CLEAN_KEYS,
    BundleError,
    artifact_paths,
    build_bundle,
    export_model,
    load_model,
    read_bundle,
    settings_from_config,
)
from ecgrecon.deploy.reconstruct import predict_windows
from ecgrecon.evaluation.evaluate import EvalSettings, evaluate
from ecgrecon.learn.linear import fit_from_segments
from ecgrecon.learn.reps import extract_reps
from ecgrecon.learn.train_decoder import train_decoder
from ecgrecon.learn.train_encoder import train_encoder
from ecgrecon.synth import write_cohort

ROOT = Path(__file__).resolve().parents[2]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
TINY = {
    "synth": {"n_records": 100, "write_hr": True, "bad_per_thousand": 0},
    "qc": {"n_sample_windows": 2000},
    "encoder": {"width": 4, "embed_dim": 16, "proj_dim": 8, "max_epochs": 1, "batch_size": 64},
    "decoder": {"proj": 8, "hidden": 8, "out_channels": 4, "max_epochs": 2, "batch_size": 64, "epoch_fraction": 1.0},
    "evaluation": {"knn_k": 5, "n_subclasses": 2, "min_class_records": 1},
}
_RUNS: dict = {}
VARIANTS = ("C", "Ch", "ChA")


def tiny_config() -> dict:
    """The project config with the tiny overrides (a full, schema-valid config)."""
    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    for section, values in TINY.items():
        cfg[section] = {**cfg[section], **values}
    cfg["seed"] = 3
    return cfg


def run_pipeline(work: Path) -> dict:
    """Every pipeline stage up to evaluate, in Python, writing the workflow's file layout."""
    torch.set_num_threads(1)
    cfg = tiny_config()
    (work / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    r, q = work / "results", (lambda m: None)
    raw = r / "raw" / "synthetic"
    write_cohort(raw, cfg["synth"]["n_records"], cfg["seed"], write_hr=True, bad_per_thousand=cfg["synth"]["bad_per_thousand"], progress=q)
    clean_dataset(raw, r / "clean/synthetic.h5", r / "qc/quarantine_synthetic.csv", cfg["clean"], cfg["labels"], log=q)
    seg_cfg = cfg["segment"]
    compute_qc_stats(
        r / "clean/synthetic.h5",
        r / "qc/qc_stats.json",
        r / "qc/qc_stats.png",
        cfg["qc"]["percentiles"],
        seg_cfg["window"],
        cfg["qc"]["n_sample_windows"],
        cfg["seed"],
        log=q,
        statistic=cfg["qc"]["statistic"],
    )
    seg, folds = r / "segments/segments.h5", r / "folds/folds.json"
    segment_dataset(
        r / "clean/synthetic.h5",
        r / "qc/qc_stats.json",
        seg,
        r / "qc/qc_report.csv",
        seg_cfg["window"],
        seg_cfg["hop"],
        log=q,
        statistic=cfg["qc"]["statistic"],
        max_bad_leads=cfg["qc"]["max_bad_leads"],
    )
    make_folds_file(r / "clean/synthetic.h5", folds, cfg["split"], cfg["seed"], log=q)
    inputs, targets = cfg["tasks"]["paper"]["inputs"], cfg["tasks"]["paper"]["targets"]
    enc, t = r / "encoders" / "-".join(inputs), r / "paper"
    train_encoder(
        seg,
        folds,
        enc / "encoder.pt",
        enc / "train_log.csv",
        enc / "loss_curve.png",
        inputs=inputs,
        level=cfg["labels"]["level"],
        cfg=cfg["encoder"],
        seed=cfg["seed"],
        log=q,
    )
    extract_reps(seg, folds, enc / "encoder.pt", enc / "reps.h5", tile=cfg["encoder"]["tile_reps"], log=q)
    dec_cfg = cfg["decoder"]
    gl_path = t / "linear/official/GL.json"
    fit_from_segments(seg, folds, "official", inputs, targets, context=cfg["gl"]["context"], alphas=cfg["gl"]["alphas"], log=q).save(
        gl_path
    )
    artifacts = {("GL", "official"): gl_path}
    for variant in VARIANTS:
        artifacts[(variant, "official")] = []
        for lead in targets:
            p = t / "decoders" / variant / "official" / f"{lead}.pt"
            train_decoder(
                seg,
                folds,
                enc / "reps.h5",
                p,
                p.with_name(f"{lead}_val.csv"),
                variant=variant,
                fold="official",
                lead=lead,
                inputs=inputs,
                cfg=dec_cfg,
                seed=cfg["seed"],
                log=q,
                gl_path=gl_path,
            )
            artifacts[(variant, "official")].append(p)
    names = {
        "predictions": "predictions/predictions.h5",
        "segment_csv": "tables/segment_metrics.csv",
        "segment_md": "tables/segment_metrics.md",
        "record_csv": "tables/record_metrics.csv",
        "record_md": "tables/record_metrics.md",
        "class_csv": "tables/class_metrics.csv",
        "latent_csv": "tables/latent_affinity.csv",
        "fig_affinity_x": "figures/latent_affinity_x.png",
        "fig_affinity_h": "figures/latent_affinity_h.png",
        "fig_radar": "figures/class_radar.png",
        "fig_qualitative": "figures/qualitative.png",
    }
    ev = cfg["evaluation"]
    evaluate(
        seg,
        folds,
        enc / "reps.h5",
        artifacts,
        {k: t / v for k, v in names.items()},
        EvalSettings(
            inputs=inputs,
            targets=targets,
            methods=["GL", *VARIANTS],
            folds=["official"],
            knn_k=ev["knn_k"],
            n_subclasses=ev["n_subclasses"],
            min_class_records=ev["min_class_records"],
            device="cpu",
        ),
        log=q,
    )
    settings = settings_from_config(cfg, "paper")
    for variant in VARIANTS:
        paths = artifact_paths(r, "paper", variant, "official", inputs, targets)
        if variant == "C":
            paths.pop("encoder_path"), paths.pop("reps_path")
        export_model(
            work / f"bundles/ecgrecon-{variant}.pt",
            work / f"bundles/ecgrecon-{variant}.json",
            variant=variant,
            fold="official",
            settings=settings,
            log=q,
            **paths,
        )
    return {"work": work, "cfg": cfg, "results": r, "raw": raw, "bundles": {v: work / f"bundles/ecgrecon-{v}.pt" for v in VARIANTS}}


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """The tiny pipeline run (built once per session, shared with test_cli.py)."""
    if "run" not in _RUNS:
        _RUNS["run"] = run_pipeline(tmp_path_factory.mktemp("trained_run"))
    torch.set_num_threads(1)
    return _RUNS["run"]


def _sha(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_rule_export_model_writes_the_bundle_card_log_and_benchmark_like_the_cli(trained_run):
    work = trained_run["work"]
    snakefile = work / "Snakefile.export"  # the workflow's own rule files, without the other stages
    if not (work / "envs").exists():
        (work / "envs").symlink_to(ROOT / "envs")  # conda: directives resolve against the Snakefile's folder
    snakefile.write_text(
        "\n".join(
            [
                "from snakemake.utils import validate",
                f'configfile: "{work / "config.yaml"}"',
                f'validate(config, "{ROOT / "schemas/config.schema.yaml"}")',
                *(f'include: "{ROOT / "rules" / name}"' for name in ("common.smk", "export.smk")),
            ]
        )
        + "\n"
    )
    proc = subprocess.run(
        [
            SNAKEMAKE,
            "results/paper/model/ecgrecon-Ch.pt",
            "results/paper/model/ecgrecon-C.json",
            "--snakefile",
            str(snakefile),
            "--directory",
            str(work),
            "--cores",
            "1",
            "--allowed-rules",
            "export_model",
        ],
        capture_output=True,
        text=True,
        cwd=work,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    model = work / "results/paper/model"
    for variant in ("C", "Ch"):  # same config, same artifacts: byte-identical to `export` run in Python
        assert _sha(model / f"ecgrecon-{variant}.pt") == _sha(trained_run["bundles"][variant])
        card = json.loads((model / f"ecgrecon-{variant}.json").read_text())
        assert card["bundle_sha256"] == _sha(model / f"ecgrecon-{variant}.pt")
        assert (
            card["settings_sha256"] == json.loads(Path(trained_run["bundles"][variant]).with_suffix(".json").read_text())["settings_sha256"]
        )
        assert (work / f"logs/export_model/paper/{variant}.log").stat().st_size > 0
        assert (work / f"benchmarks/export_model/paper/{variant}.tsv").exists()


def test_bundle_loads_weights_only_and_holds_settings_and_metrics(trained_run):
    cfg, r = trained_run["cfg"], trained_run["results"]
    b = torch.load(trained_run["bundles"]["Ch"], weights_only=True)
    meta = b["meta"]
    assert (b["format"], b["format_version"]) == ("ecgrecon-bundle", BUNDLE_VERSION)
    assert meta["inputs"] == ["I", "II", "V2"] and meta["targets"] == ["V1", "V3", "V4", "V5", "V6"]
    assert (meta["fs"], meta["window"], meta["hop"]) == (100.0, 256, 64)
    assert meta["clean"] == {k: cfg["clean"][k] for k in CLEAN_KEYS} and meta["tile_reps"] is False
    assert {"filter_form", "median_edges"} <= set(meta["clean"])  # a bundle cleans the way its training data was cleaned
    assert sorted(b["decoders"]) == sorted(meta["targets"]) and meta["h_dim"] == 16
    seg = pd.read_csv(r / "paper/tables/segment_metrics.csv").set_index(["fold", "variant", "lead"])
    rec = pd.read_csv(r / "paper/tables/record_metrics.csv").set_index(["fold", "variant", "lead"])
    for lead in meta["targets"] + ["Mean"]:
        assert meta["metrics"]["test"]["segment"][lead]["rmse"] == seg.loc[("official", "Ch", lead), "rmse"]
        assert meta["metrics"]["test"]["record"][lead]["pearson_mean"] == rec.loc[("official", "Ch", lead), "pearson_mean"]
    for lead in meta["targets"]:
        ck = torch.load(r / f"paper/decoders/Ch/official/{lead}.pt", weights_only=True)
        val = meta["metrics"]["validation"][lead]
        assert val["val_loss"] == ck["best_val_loss"] and val["best_epoch"] == ck["best_epoch"]
        curve = pd.read_csv(r / f"paper/decoders/Ch/official/{lead}_val.csv").set_index("epoch")
        assert val["val_rmse_mv"] == curve.loc[ck["best_epoch"], "val_rmse_mv"]
        assert torch.equal(b["decoders"][lead]["fuse.weight"], ck["state_dict"]["fuse.weight"])
    with h5py.File(r / "encoders/I-II-V2/reps.h5") as f:
        np.testing.assert_array_equal(b["h_norm"]["mean"].numpy(), f["norm/official/mean"][...])
        np.testing.assert_array_equal(b["h_norm"]["std"].numpy(), f["norm/official/std"][...])
    c = torch.load(trained_run["bundles"]["C"], weights_only=True)
    assert c["encoder"] is None and c["h_norm"] is None and c["meta"]["h_dim"] == 0  # C never uses h


@pytest.mark.parametrize("variant", ["C", "Ch", "ChA"])
def test_loaded_bundle_reproduces_the_pipeline_test_predictions(trained_run, variant):
    r = trained_run["results"]
    model = load_model(trained_run["bundles"][variant])
    seg = r / "segments/segments.h5"
    with h5py.File(r / "paper/predictions/predictions.h5") as f:
        win = f["official/records/win_id"][...]
        want = f[f"official/records/{variant}"][...]
    rmeta, _ = read_segment_meta(seg, "records")
    windows = read_leads(seg, model.inputs, win, group="records")
    got = predict_windows(model, windows, groups=rmeta["ecg_id"].to_numpy()[win])
    assert got.shape == want.shape and len(win) >= 20
    np.testing.assert_allclose(got, want, atol=1e-5)


def _resave(bundle: dict, path: Path) -> Path:
    torch.save(bundle, path)
    return path


def test_bundle_from_before_the_clean_forms_loads_with_the_forms_it_was_cleaned_with(trained_run, tmp_path):
    old = torch.load(trained_run["bundles"]["C"], weights_only=True)
    for key in ("filter_form", "median_edges"):
        del old["meta"]["clean"][key]
    model = load_model(_resave(old, tmp_path / "old.pt"))
    assert (model.meta["clean"]["filter_form"], model.meta["clean"]["median_edges"]) == ("sos", "replicate")
    del old["meta"]["clean"]["filter_order"]
    with pytest.raises(BundleError, match=r"bundle cleaning settings lack \['filter_order'\]"):
        load_model(_resave(old, tmp_path / "older.pt"))


def test_foreign_incompatible_and_damaged_bundles_are_refused(trained_run, tmp_path):
    good = torch.load(trained_run["bundles"]["Ch"], weights_only=True)
    newer = copy.deepcopy(good)
    newer["format_version"] = BUNDLE_VERSION + 1
    cases = {
        _resave(newer, tmp_path / "newer.pt"): f"incompatible bundle format version {BUNDLE_VERSION + 1}",
        trained_run["results"] / "paper/decoders/Ch/official/V1.pt": "not an ecgrecon model bundle",
        tmp_path / "missing.pt": "model bundle not found",
    }
    (tmp_path / "garbage.pt").write_bytes(b"PK\x03\x04 definitely not a zip archive")
    cases[tmp_path / "garbage.pt"] = "not a readable ecgrecon model bundle"
    damaged = copy.deepcopy(good)
    del damaged["decoders"]["V4"]["fuse.weight"]
    cases[_resave(damaged, tmp_path / "damaged.pt")] = "bundle weights do not fit its architecture"
    short = copy.deepcopy(good)
    del short["meta"]["window"]
    cases[_resave(short, tmp_path / "short.pt")] = "bundle meta lacks ['window']"
    for path, reason in cases.items():
        with pytest.raises(BundleError) as exc:
            load_model(path)
        assert str(exc.value).startswith(f"{path}: ") and reason in str(exc.value), str(exc.value)
    assert read_bundle(trained_run["bundles"]["C"])["meta"]["variant"] == "C"


def test_export_refuses_artifacts_that_do_not_match_the_settings(trained_run, tmp_path):
    cfg, r = trained_run["cfg"], trained_run["results"]
    settings = settings_from_config(cfg, "paper")
    paths = artifact_paths(r, "paper", "Ch", "official", settings["inputs"], settings["targets"])
    with pytest.raises(ArtifactError, match="made with tile=False, config says encoder.tile_reps=True"):
        build_bundle(variant="Ch", fold="official", settings={**settings, "tile_reps": True}, **paths)
    with pytest.raises(ArtifactError, match="trained on 256-sample segments, config window is 512"):
        build_bundle(variant="Ch", fold="official", settings={**settings, "window": 512}, **paths)
    with pytest.raises(ArtifactError, match=r"expected \('C', 'official', 'V1'"):
        build_bundle(
            variant="C",
            fold="official",
            settings=settings,
            **{
                **artifact_paths(r, "paper", "C", "official", settings["inputs"], settings["targets"]),
                "decoder_paths": paths["decoder_paths"],
            },
        )
    seg = pd.read_csv(r / "paper/tables/segment_metrics.csv")
    seg[seg["variant"] != "Ch"].to_csv(tmp_path / "seg.csv", index=False)
    with pytest.raises(ArtifactError, match="no rows for fold 'official', variant 'Ch'"):
        build_bundle(variant="Ch", fold="official", settings=settings, **{**paths, "segment_csv": tmp_path / "seg.csv"})
    assert not list(tmp_path.glob("*.pt"))
