"""Decoder training: resume after a kill, early stopping, checkpoints, clear input errors."""

import h5py
import pandas as pd
import pytest
import torch

from defaults import section
from ecgrecon.data.datasets import ArtifactError
from ecgrecon.learn.train_decoder import load_decoder, load_decoder_data, train_decoder
from learning_cohort import one_torch_thread, write_cohort  # noqa: F401 (autouse fixture)

INPUTS = ["I", "II", "V2"]
CFG = section(
    "decoder",
    **{
        "proj": 16,
        "hidden": 16,
        "stride": 4,
        "out_channels": 8,
        "batch_size": 32,
        "lr": 0.003,
        "weight_decay": 1e-4,
        "loss_weights": {"mse": 1.0, "mae": 1.0},
        "max_epochs": 5,
        "patience": 10,
        "lr_schedule": "cosine",
        "epoch_fraction": 1.0,
        "precision": "fp32",
    },
)


class Killed(Exception):
    """Stands in for the job being killed between two epochs."""


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return write_cohort(tmp_path_factory.mktemp("cohort"), n_records=80, seed=0)


def _train(cohort, out, cfg=CFG, hook=None, logs=None, variant="C", reps=None):
    seg, folds = cohort
    return train_decoder(
        seg,
        folds,
        reps,
        out / "V1.pt",
        out / "V1_val.csv",
        variant=variant,
        fold="official",
        lead="V1",
        inputs=INPUTS,
        cfg=cfg,
        seed=3,
        log=(logs.append if logs is not None else (lambda m: None)),
        epoch_hook=hook,
    )


def test_killed_run_resumes_from_saved_epoch_and_ends_identical(cohort, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    _train(cohort, a)

    def kill_after_second_epoch(epoch):
        if epoch == 1:
            raise Killed

    with pytest.raises(Killed):
        _train(cohort, b, hook=kill_after_second_epoch)
    assert not (b / "V1.pt").exists() and not (b / "V1_val.csv").exists()  # nothing Snakemake would take as done
    assert sorted(p.name for p in b.iterdir()) == ["V1.resume.pt"]  # no half-written temp files either
    assert torch.load(b / "V1.resume.pt", weights_only=True)["epochs_done"] == 2

    logs = []
    _train(cohort, b, logs=logs)
    assert any("resuming" in m and "2 epoch(s) done" in m for m in logs)
    epochs_run = [m.split()[1].rstrip(":") for m in logs if m.startswith("epoch ")]
    assert epochs_run == ["3/5", "4/5", "5/5"]
    assert not (b / "V1.resume.pt").exists()
    ca, cb = (torch.load(p / "V1.pt", weights_only=True) for p in (a, b))
    assert ca["state_dict"].keys() == cb["state_dict"].keys()
    assert all(torch.equal(ca["state_dict"][k], cb["state_dict"][k]) for k in ca["state_dict"])
    cols = ["epoch", "train_loss", "val_loss", "val_rmse_mv", "best"]
    pd.testing.assert_frame_equal(pd.read_csv(a / "V1_val.csv")[cols], pd.read_csv(b / "V1_val.csv")[cols])


def test_stale_or_corrupt_resume_state_restarts_cleanly(cohort, tmp_path):
    def kill(epoch):
        raise Killed

    with pytest.raises(Killed):
        _train(cohort, tmp_path, hook=kill)
    logs = []
    _train(cohort, tmp_path, cfg={**CFG, "lr": 0.001, "max_epochs": 2}, logs=logs)  # other settings
    assert any("restarting from scratch" in m for m in logs)
    assert [m.split()[1].rstrip(":") for m in logs if m.startswith("epoch ")] == ["1/2", "2/2"]
    (tmp_path / "V1.resume.pt").write_bytes(b"half a checkpoint")
    logs = []
    _train(cohort, tmp_path, cfg={**CFG, "max_epochs": 1}, logs=logs)
    assert any("unreadable" in m for m in logs)


def test_checkpoint_loads_weights_only_and_keeps_best_epoch(cohort, tmp_path):
    cfg = {**CFG, "max_epochs": 12, "patience": 2, "lr": 0.01}
    _train(cohort, tmp_path, cfg=cfg)
    ckpt = torch.load(tmp_path / "V1.pt", weights_only=True)
    curve = pd.read_csv(tmp_path / "V1_val.csv")
    best = int(curve.loc[curve["val_loss"].idxmin(), "epoch"])
    assert ckpt["best_epoch"] == best
    assert len(curve) == 12 or len(curve) == best + 2  # early stop after `patience` epochs without a gain
    model, meta = load_decoder(tmp_path / "V1.pt")
    assert meta["n_params"] == sum(p.numel() for p in model.parameters())
    data = load_decoder_data(*cohort, None, variant="C", fold="official", lead="V1", inputs=INPUTS)
    with torch.no_grad():
        err = model(torch.from_numpy(data.x_val)) - torch.from_numpy(data.y_val)
    val_loss = float((err**2).mean() + err.abs().mean())
    assert val_loss == pytest.approx(ckpt["best_val_loss"], rel=1e-5)
    assert ckpt["train_target_mean"].shape == (256,)


def test_clear_errors_for_bad_inputs(cohort, tmp_path):
    seg, folds = cohort
    with pytest.raises(ArtifactError, match="nowhere.h5: file not found"):
        load_decoder_data(tmp_path / "nowhere.h5", folds, None, variant="C", fold="official", lead="V1", inputs=INPUTS)
    with pytest.raises(ArtifactError, match=r"folds.json: fold 'cv9' not found"):
        load_decoder_data(seg, folds, None, variant="C", fold="cv9", lead="V1", inputs=INPUTS)
    with pytest.raises(ValueError, match="Ch needs reps"):
        load_decoder_data(seg, folds, None, variant="Ch", fold="official", lead="V1", inputs=INPUTS)
    broken = tmp_path / "broken.h5"
    with h5py.File(seg) as src, h5py.File(broken, "w") as dst:
        dst.create_dataset("x", data=src["x"][...])
        meta = dst.create_group("meta")
        cols = [c for c in src["meta"].attrs["columns"] if c != "patient_id"]
        meta.attrs["columns"] = cols
        for c in cols:
            src.copy(src[f"meta/{c}"], meta, c)
        dst.attrs.update(dict(src.attrs))
    with pytest.raises(ArtifactError, match=r"broken.h5: /meta lacks columns \['patient_id'\]"):
        load_decoder_data(broken, folds, None, variant="C", fold="official", lead="V1", inputs=INPUTS)
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(ArtifactError, match="text.h5: not a readable HDF5 file"):
        load_decoder_data(tmp_path / "text.h5", folds, None, variant="C", fold="official", lead="V1", inputs=INPUTS)


def test_encoder_resumes_identically_after_a_kill(cohort, tmp_path):
    from ecgrecon.learn.train_encoder import train_encoder

    seg, folds = cohort
    cfg = section(
        "encoder",
        **{
            "embed_dim": 16,
            "proj_dim": 8,
            "width": 4,
            "temperature": 0.1,
            "batch_size": 40,
            "lr": 0.003,
            "weight_decay": 1e-4,
            "max_epochs": 3,
            "patience": 5,
            "lr_schedule": "cosine",
            "augment": {"scale": [0.8, 1.2], "noise_mv": 0.02, "wander_mv": 0.1, "max_shift": 8},
        },
    )

    def run(out, hook=None):
        return train_encoder(
            seg,
            folds,
            out / "encoder.pt",
            out / "log.csv",
            out / "loss.png",
            inputs=INPUTS,
            level="superclass",
            cfg=cfg,
            seed=4,
            log=lambda m: None,
            epoch_hook=hook,
        )

    def kill(epoch):
        if epoch == 0:
            raise Killed

    full = run(tmp_path / "a")
    with pytest.raises(Killed):
        run(tmp_path / "b", kill)
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["encoder.resume.pt"]
    resumed = run(tmp_path / "b")
    assert all(torch.equal(full["encoder"][k], resumed["encoder"][k]) for k in full["encoder"])
    assert pd.read_csv(tmp_path / "a" / "log.csv")["val_loss"].tolist() == pd.read_csv(tmp_path / "b" / "log.csv")["val_loss"].tolist()


def test_unreadable_checkpoints_name_the_file(tmp_path):
    from ecgrecon.data.datasets import ArtifactError
    from ecgrecon.learn.train_decoder import load_decoder
    from ecgrecon.learn.train_encoder import load_encoder

    missing = tmp_path / "missing.pt"
    with pytest.raises(ArtifactError, match=r"missing\.pt: decoder checkpoint not found"):
        load_decoder(missing)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a torch file")
    with pytest.raises(ArtifactError, match=r"garbage\.pt: not a readable encoder checkpoint"):
        load_encoder(garbage)


def test_epoch_fraction_trains_on_a_seeded_subset_and_one_means_every_segment(cohort, tmp_path):
    base = {**CFG, "max_epochs": 2}
    _train(cohort, tmp_path / "all", cfg=base)
    _train(cohort, tmp_path / "one", cfg={**base, "epoch_fraction": 1.0})
    _train(cohort, tmp_path / "quarter", cfg={**base, "epoch_fraction": 0.25})
    _train(cohort, tmp_path / "quarter2", cfg={**base, "epoch_fraction": 0.25})
    w = {k: torch.load(tmp_path / k / "V1.pt", weights_only=True)["state_dict"] for k in ("all", "one", "quarter", "quarter2")}
    assert all(torch.equal(w["all"][k], w["one"][k]) for k in w["all"])  # 1.0 = the full pass, bit for bit
    assert all(torch.equal(w["quarter"][k], w["quarter2"][k]) for k in w["all"])  # same seed, same subsets
    assert not all(torch.equal(w["all"][k], w["quarter"][k]) for k in w["all"])
    curve = pd.read_csv(tmp_path / "quarter" / "V1_val.csv")
    assert curve["val_loss"].notna().all() and len(curve) == 2
    with pytest.raises(ValueError, match=r"epoch_fraction must be in \(0, 1\], got 1.5"):
        _train(cohort, tmp_path / "bad", cfg={**base, "epoch_fraction": 1.5})
