"""Denoising methods: the classical filter removes baseline wander; the learned per-lead denoiser DN beats it on
electrode motion at 0 dB (real NSTDB em, derived from the shared copy) on the synthetic learning cohort."""

import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from ecgrecon import LEADS12
from ecgrecon import methods as registry
from ecgrecon.data.datasets import load_folds, read_leads, read_segment_meta, split_rows, zscore_segments
from ecgrecon.learn.train_decoder import train_decoder
from ecgrecon.methods.denoise import filter_leads
from ecgrecon.noise import build_bank
from ecgrecon.noise.inputs import NoisyInputs

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from learning_cohort import BASE_FIELD, _beat_sources, one_torch_thread, write_cohort  # noqa: E402, F401

ROOT = Path(__file__).resolve().parents[2]
CLEAN = yaml.safe_load((ROOT / "config.yaml").read_text())["clean"]


def _clean_record(seed=0):
    """A 10-s 12-lead record at 100 Hz as the clean stage leaves it (the pipeline's filters applied once)."""
    rng = np.random.default_rng(seed)
    t = np.arange(1000) / 100
    raw = (BASE_FIELD @ _beat_sources(["NORM"], t, rng)[:3]).astype(np.float32)
    return filter_leads(raw[None], 100.0, CLEAN)[0], t


def test_filter_removes_a_0_3_hz_baseline_wander_below_0_02_mv():
    clean, t = _clean_record()
    wander = 0.5 * np.sin(2 * np.pi * 0.3 * t + 0.7)
    noisy = (clean + wander[None]).astype(np.float32)
    out = filter_leads(noisy[None], 100.0, CLEAN)[0]
    rmse = np.sqrt(np.mean((out - clean) ** 2))
    assert rmse < 0.02, rmse
    assert np.sqrt(np.mean((noisy - clean) ** 2)) > 0.3  # there was wander to remove


def test_neighbours_of_a_denoiser_are_the_lead_and_its_adjacent_leads():
    dn = registry.get("DN")
    assert dn.input_leads(LEADS12, "V3") == ["V2", "V3", "V4"]
    assert dn.input_leads(LEADS12, "V1") == ["V1", "V2"]
    assert dn.input_leads(LEADS12, "II") == ["I", "II", "III", "AVF"]
    assert registry.get("C").input_leads(["I", "II"], "V1") == ["I", "II"]
    with pytest.raises(ValueError, match="no neighbour of V1"):
        dn.input_leads(["I", "II"], "V1")


@pytest.fixture(scope="module")
def em_setup(shared_data, tmp_path_factory):
    work = tmp_path_factory.mktemp("denoise")
    seg, folds = write_cohort(work, n_records=200, seed=3)
    bank = work / "bank_em.h5"
    build_bank(bank, kinds=["em"], fs=100.0, split=[0.6, 0.2, 0.2], source="nstdb", folder=shared_data / "nstdb", log=lambda m: None)
    return work, seg, folds, NoisyInputs(str(bank), "denoise_em", "em", (0.0,), 42, 1000, 256)


def test_learned_denoiser_beats_the_classical_filter_on_em_at_0_db(em_setup):
    work, seg, folds, noise = em_setup
    cfg = dict(yaml.safe_load((ROOT / "config.yaml").read_text())["decoder_denoise"], max_epochs=8, epoch_fraction=1.0)
    dn = registry.get("DN")
    meta, _ = read_segment_meta(seg)
    rows = split_rows(meta, load_folds(folds, "official"), seg)["test"]
    m = meta.iloc[rows]
    results = {}
    for lead in ("II", "V3"):
        inputs = dn.input_leads(LEADS12, lead)
        out = work / f"DN_{lead}.pt"
        train_decoder(
            seg,
            folds,
            None,
            out,
            work / f"DN_{lead}.csv",
            variant="DN",
            fold="official",
            lead=lead,
            inputs=inputs,
            cfg=cfg,
            seed=0,
            device="cpu",
            log=lambda s: None,
            noise=noise,
        )
        clean = read_leads(seg, inputs, rows)
        noisy, _ = noise.apply(clean, inputs, m["ecg_id"].to_numpy(), m["start"].to_numpy(), "test", 0.0)
        data = registry.EvalData(
            fold="official",
            inputs=inputs,
            targets=[lead],
            raw_in=noisy,
            x=zscore_segments(noisy),
            h=None,
            r_raw=None,
            rx=None,
            rh=None,
            device="cpu",
            clean={**CLEAN, "fs": 100.0},
        )
        y = clean[:, inputs.index(lead)]
        dn_pred = registry.predict("DN", [out], data).segments[:, 0]
        filt = registry.predict("filter", None, registry.EvalData(**{**data.__dict__, "targets": [lead]})).segments[:, 0]
        rmse = {
            k: float(np.sqrt(np.mean((p - y) ** 2)))
            for k, p in (("DN", dn_pred), ("filter", filt), ("noisy", noisy[:, inputs.index(lead)]))
        }
        results[lead] = rmse
        assert rmse["DN"] < rmse["filter"] < rmse["noisy"], (lead, rmse)
    print(results)
