"""The diffusion prior on whole records (``diffusion.prior.window: record``, 10.24 s): data, training, sampling."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from ecgrecon import LEADS12
from ecgrecon.data.datasets import ArtifactError, read_leads, read_segment_meta
from ecgrecon.evaluation.diffusion_report import DiffusionSettings, sample_diffusion
from ecgrecon.evaluation.prior_realism import prior_realism_from_files
from ecgrecon.learn.diffusion import prior, records
from ecgrecon.learn.diffusion.run import train_from_files
from ecgrecon.noise.bank import build_bank
from ecgrecon.noise.inputs import NoisyInputs
from ecgrecon.tasks import Task
from learning_cohort import TINY_PRIOR, one_torch_thread, write_cohort  # noqa: F401 (autouse fixture)

QUIET = {"log": lambda s: None}
LEAD_I = Task("lead_i", ("I",), ("II", "V1", "V2", "V3", "V4", "V5", "V6"), ("III", "AVR", "AVL", "AVF"), "none", ("diffusion",))


def _record_windows(seg):
    meta, _ = read_segment_meta(seg, "records")
    return meta, read_leads(seg, list(LEADS12), np.arange(len(meta)), "records")


def test_records_round_trip_through_their_windows_and_long_records_are_refused(tmp_path):
    seg, _ = write_cohort(tmp_path, n_records=6, seed=1)
    meta, x = _record_windows(seg)
    assert records.record_length(100.0) == 1024 and records.record_length(500.0) == 5120
    ids, rec, n = records.to_records(x, meta, 1024)
    assert rec.shape == (6, 12, 1024) and (n == 1000).all() and ids.tolist() == sorted(set(meta["ecg_id"]))
    np.testing.assert_array_equal(rec[:, :, 1000:], rec[:, :, 998:974:-1])  # reflected tail, no sample repeated at 1000
    back = records.to_windows(rec, ids, meta, 256)
    np.testing.assert_array_equal(back, x)  # every record window, the overlapping last one too
    stacked = records.to_windows(np.stack([rec, 2 * rec]), ids, meta, 256)  # leading sample axis (K, r, C, L)
    assert stacked.shape == (2, *x.shape) and np.array_equal(stacked[1], 2 * x)
    with pytest.raises(ValueError, match=r"record 1000 has 1000 samples, more than .* 512"):
        records.to_records(x, meta, 512)


def test_load_prior_windows_gives_whole_train_records_with_their_labels(tmp_path):
    seg, folds = write_cohort(tmp_path, n_records=20, seed=2)
    w = prior.load_prior_windows(seg, folds, "official", "train", kind="record")
    seg_w = prior.load_prior_windows(seg, folds, "official", "train")
    assert w.x.shape == (16, 8, 1024) and w.window == 1024 and len(w.meta) == 16
    assert sorted(w.meta["ecg_id"]) == sorted(set(seg_w.meta["ecg_id"]))
    first = seg_w.meta.drop_duplicates("ecg_id").set_index("ecg_id")
    assert (w.meta.set_index("ecg_id")["superclass"] == first.loc[w.meta["ecg_id"], "superclass"]).all()
    assert w.labels().shape == (16, 5)
    np.testing.assert_array_equal(w.x[:, :, :256], seg_w.x[seg_w.meta["start"].to_numpy() == 0])
    with pytest.raises(ValueError, match="window must be one of segment, record"):
        prior.load_prior_windows(seg, folds, "official", "train", kind="beats")
    with pytest.raises(ValueError, match="window must be one of"):
        prior.PriorSettings(window="10s")


@pytest.fixture(scope="module")
def record_prior(tmp_path_factory):
    work = tmp_path_factory.mktemp("record_prior")
    seg, folds = write_cohort(work, n_records=40, seed=5)
    out = work / "prior.pt"
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ckpt = train_from_files(seg, folds, out, work / "log.csv", {**TINY_PRIOR, "window": "record", "max_steps": 10},
                                fold="official", seed=4, device="cpu", **QUIET)  # fmt: skip
    finally:
        torch.set_num_threads(before)
    return work, seg, folds, out, ckpt


def test_a_record_prior_trains_on_1024_samples_and_samples_whole_records(record_prior, tmp_path):
    work, seg, folds, pt, ckpt = record_prior
    p = prior.load_prior(pt)
    assert p.window == 1024 and p.settings.window == "record" and ckpt["window"] == 1024
    s = DiffusionSettings(sampler="ddnm", samplers=("ddnm", "dps"), K=2, steps=3, records=2, seed=1, device="cpu")
    out = {"samples": tmp_path / "samples.h5", "cost": tmp_path / "cost.csv"}
    cost = sample_diffusion(task=LEAD_I, prior_pt=pt, segments=seg, folds_json=folds, s=s, out=out, **QUIET)
    assert set(cost["window"]) == {"record 1024"} and (cost["seconds_per_record"] > cost["seconds_per_window"]).all()
    meta, _ = read_segment_meta(seg, "records")
    with h5py.File(out["samples"]) as f:
        assert f.attrs["window"] == "record"
        win_id, draws = f["win_id"][...], f["clean/Diffusion/samples"][...]
    m = meta.set_index("win_id").loc[win_id].reset_index()
    assert draws.shape == (2, len(win_id), len(LEAD_I.scored), 256) and m["ecg_id"].nunique() == 2
    # The windows of a record are cut from one sampled record: the last window (start 744) and the one before
    # (start 512) agree exactly on their overlap 744 .. 767; windows sampled one by one would not.
    for _, g in m.groupby("ecg_id"):
        a, b = g.index[g["start"] == 512][0], g.index[g["start"] == 744][0]
        np.testing.assert_array_equal(draws[:, a, :, 232:], draws[:, b, :, :24])
    # A segment prior of other windows (64 samples) is refused by the run's 256-sample segment windows.
    x = np.asarray(draws[0, :8, :1, :64].repeat(8, axis=1), np.float32)
    seg_pt = tmp_path / "seg_prior.pt"
    prior.train_prior(x, x, prior.PriorSettings(**{**TINY_PRIOR, "max_steps": 2, "eval_every": 1}), seed=0, out_path=seg_pt,
                      device="cpu", fs=100.0, **QUIET)  # fmt: skip
    with pytest.raises(ArtifactError, match=r"prior trained on segment windows of 64 samples; this run's segment windows have 256"):
        sample_diffusion(task=LEAD_I, prior_pt=seg_pt, segments=seg, folds_json=folds, s=s, out=out, **QUIET)


def test_record_prior_refuses_a_run_at_another_rate_and_realism_uses_whole_records(record_prior, tmp_path):
    work, seg, folds, pt, _ = record_prior
    other = tmp_path / "seg500.h5"
    with h5py.File(seg) as src, h5py.File(other, "w") as dst:
        for k in src:
            src.copy(k, dst)
        dst.attrs.update(dict(src.attrs))
        dst.attrs["fs"] = 200.0
    s = DiffusionSettings(sampler="ddnm", samplers=("ddnm",), K=1, steps=2, records=1, seed=1, device="cpu")
    with pytest.raises(ArtifactError, match="at 100 Hz"):
        sample_diffusion(task=LEAD_I, prior_pt=pt, segments=other, folds_json=folds, s=s, out={}, **QUIET)
    out = {k: tmp_path / f"realism.{k}" for k in ("csv", "md", "png")}
    table = prior_realism_from_files(pt, seg, folds, out, n=4, steps=2, seed=0, **QUIET)
    text = out["md"].read_text()
    assert "1000 samples at 100 Hz (whole records" in text and len(table) > 0


def test_a_record_prior_denoises_whole_noisy_records(record_prior, tmp_path):
    work, seg, folds, pt, _ = record_prior
    bank = tmp_path / "bank_bw.h5"
    build_bank(bank, kinds=["bw"], fs=100.0, split=[0.6, 0.2, 0.2], source="synthetic", seed=0, log=lambda m: None)
    noise = NoisyInputs(str(bank), "denoise_bw", "bw", (0.0,), 42, 1000, 256)
    task = Task("denoise_bw", tuple(LEADS12), tuple(LEADS12), (), "noise", ("diffusion",))
    s = DiffusionSettings(sampler="ddnm", samplers=("ddnm",), K=2, steps=3, records=1, seed=1, device="cpu")
    out = {"samples": tmp_path / "samples.h5", "cost": tmp_path / "cost.csv"}
    sample_diffusion(task=task, prior_pt=pt, segments=seg, folds_json=folds, s=s, out=out, noise=noise, **QUIET)
    with h5py.File(out["samples"]) as f:
        (level,) = [k for k in f if isinstance(f[k], h5py.Group)]
        draws, truth = f[level]["Diffusion/samples"][...], f["truth"][...]
    assert draws.shape == (2, 4, 12, 256) and np.isfinite(draws).all()
    # the 4 windows of the one record: consistent on the overlap, as for a clean task
    np.testing.assert_array_equal(draws[:, 2, :, 232:], draws[:, 3, :, :24])
    assert not np.allclose(draws[0], draws[1])  # noisy observations: DDNM+ samples differ on the observed leads
    assert truth.shape == (4, 12, 256)


def test_a_conditional_prior_is_sampled_with_each_records_labels_when_asked(tmp_path):
    seg, folds = write_cohort(tmp_path, n_records=30, seed=6)
    pt = tmp_path / "cond.pt"
    train_from_files(seg, folds, pt, tmp_path / "log.csv", {**TINY_PRIOR, "conditional": True, "max_steps": 10},
                     fold="official", seed=2, device="cpu", **QUIET)  # fmt: skip
    draws = {}
    for labels in ("none", "record"):
        s = DiffusionSettings(sampler="ddnm", samplers=("ddnm",), K=2, steps=3, records=2, labels=labels, seed=1, device="cpu")
        out = {"samples": tmp_path / f"{labels}.h5", "cost": tmp_path / f"{labels}.csv"}
        lines = []
        sample_diffusion(task=LEAD_I, prior_pt=pt, segments=seg, folds_json=folds, s=s, out=out, log=lines.append)
        with h5py.File(out["samples"]) as f:
            draws[labels] = f["clean/Diffusion/samples"][...]
        assert any("conditioned on each record's superclasses" in ln for ln in lines) == (labels == "record")
    assert draws["none"].shape == draws["record"].shape and not np.allclose(draws["none"], draws["record"])  # the labels reach the net
    with pytest.raises(ValueError, match="diffusion.labels must be one of none, record"):
        DiffusionSettings(labels="scp")
    unconditional = tmp_path / "unc.pt"
    train_from_files(seg, folds, unconditional, tmp_path / "log2.csv", {**TINY_PRIOR, "max_steps": 2}, fold="official", seed=2,
                     device="cpu", **QUIET)  # fmt: skip
    s = DiffusionSettings(sampler="ddnm", samplers=("ddnm",), K=1, steps=2, records=1, labels="record", seed=1, device="cpu")
    with pytest.raises(ArtifactError, match="needs a class-conditional prior"):
        sample_diffusion(task=LEAD_I, prior_pt=unconditional, segments=seg, folds_json=folds, s=s, out={}, **QUIET)
    from ecgrecon.evaluation.diffusion_report import superclasses_of

    y = superclasses_of(seg, [1000, 1001], ["NORM", "MI", "STTC", "CD", "HYP"])
    assert y.shape == (2, 5) and set(np.unique(y)) <= {0.0, 1.0}
    with pytest.raises(ArtifactError, match="record 5"):
        superclasses_of(seg, [5], ["NORM"])
