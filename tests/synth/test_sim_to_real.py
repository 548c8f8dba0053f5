"""Sim-to-real measure (ecgrecon.evaluation.sim_to_real) and the lead-field calibration (ecgrecon.synth.calibrate).

Real computations on small inputs; the tests that need the real records use the ``shared_data``
fixture (it fails, not skips, when ../shared/data is absent).
"""

import importlib.util
import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from ecgrecon.evaluation import sim_to_real as s2r
from ecgrecon.signal.filters import bandpass
from ecgrecon.synth import calibrate, simulate_cohort, write_cohort
from ecgrecon.synth.cohort import simulate_signals
from ecgrecon.synth.leadfield import DOWER, LeadFieldModel, draw_anatomy, leadfield_model
from ecgrecon.synth.record import patient_rng

ROOT = Path(__file__).resolve().parents[2]
IDX8 = s2r.IDX8


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def calibrated(shared_data, tmp_path_factory) -> Path:
    """A calibrated lead-field file made here at a tiny budget (the fitted file is derived from the real records: it
    is made where they are, results/calibration/, and never shipped)."""
    out = tmp_path_factory.mktemp("calibration") / "leadfield_calibrated.json"
    args = ["--n-records", "30", "--maxiter", "3", "--fit", "PTB-XL", "--shared", str(shared_data), "--seed", "5"]
    assert _script("calibrate_cohort").main([*args, "--out", str(out)]) == 0
    return out


def test_leadfield_option_changes_the_field_and_nothing_else(calibrated, tmp_path, monkeypatch):
    rng_args = (40.0, 1, 27.0, False)
    dower = draw_anatomy(patient_rng(3, 7), *rng_args)
    same = draw_anatomy(patient_rng(3, 7), *rng_args, LeadFieldModel())
    assert np.array_equal(dower.field8, same.field8) and np.array_equal(dower.local8, same.local8)
    cal = leadfield_model(calibrated)
    assert cal.name == "calibrated" and not np.allclose(cal.precordial, DOWER[2:])
    monkeypatch.chdir(tmp_path)  # `calibrated` is results/calibration/leadfield_calibrated.json of the working directory
    with pytest.raises(FileNotFoundError, match="run bench/calibrate_cohort.py"):
        leadfield_model("calibrated")
    (tmp_path / "results" / "calibration").mkdir(parents=True)
    (tmp_path / "results" / "calibration" / "leadfield_calibrated.json").write_text(calibrated.read_text())
    assert np.array_equal(leadfield_model("calibrated").precordial, cal.precordial)
    other = draw_anatomy(patient_rng(3, 7), *rng_args, cal)
    assert not np.allclose(other.field8, dower.field8)
    # same number of draws: the physiology and rhythm drawn after the anatomy are unchanged
    sim_d = simulate_cohort(12, 4, ecg_ids=range(1, 5), bad_per_thousand=0)
    sim_c = simulate_cohort(12, 4, ecg_ids=range(1, 5), bad_per_thousand=0, leadfield=cal)
    assert not np.allclose(sim_d["lead_field"], sim_c["lead_field"]) and not np.allclose(sim_d["lr"], sim_c["lr"])
    for key in ("hr_bpm", "n_beats", "qrs_s", "qtc_s", "t_mag_mv"):
        assert [t[key] for t in sim_d["truth"]] == [t[key] for t in sim_c["truth"]], key
    with pytest.raises(ValueError, match="unknown leadfield"):
        leadfield_model("dowr")
    with pytest.raises(ValueError, match="unknown keys"):
        LeadFieldModel.from_dict({"frontal_sdd": 3.0})


def test_calibrated_file_is_a_fitted_model_with_provenance(calibrated):
    d = json.loads(calibrated.read_text())
    cal = d["calibration"]
    assert cal["script"] == "bench/calibrate_cohort.py" and isinstance(cal["seed"], int)
    assert cal["objective_end"] < cal["objective_start"]
    m = LeadFieldModel.from_dict(d["model"])
    assert np.allclose(calibrate.theta_to_model(np.array(cal["theta"])).precordial, m.precordial, atol=1e-5)


def test_write_cohort_records_the_leadfield(calibrated, tmp_path):
    summary = write_cohort(tmp_path / "c", 6, seed=1, leadfield=calibrated, progress=lambda s: None)
    assert summary["leadfield"] == "calibrated"  # the model's name, from the file
    with h5py.File(tmp_path / "c" / "ground_truth.h5") as f:
        assert f.attrs["leadfield"] == "calibrated"
    write_cohort(tmp_path / "d", 6, seed=1, progress=lambda s: None)
    with h5py.File(tmp_path / "d" / "ground_truth.h5") as f:
        assert "leadfield" not in f.attrs  # the default's files are as before


def test_moment_cohort_gives_the_exact_lead_covariances():
    model = calibrate.theta_to_model(np.r_[np.full(24, 0.1), np.full(8, 0.3)])
    mc = calibrate.moment_cohort(15, seed=9)
    records, lr = simulate_signals(15, 9, bad_per_thousand=0, leadfield=model)
    direct = calibrate.record_covariances(bandpass(lr[..., IDX8], 100.0, 0.5, 45.0, 2, axis=1))
    fast = calibrate.lead_covariances(mc, model)
    assert np.abs(direct - fast).max() < 1e-3 * np.abs(direct).max()  # files are quantised to 1 uV
    assert np.abs(calibrate.lead_covariances(mc, LeadFieldModel()) - fast).max() > 0.05 * np.abs(direct).max()


def test_structure_distance_is_zero_for_the_same_sample_and_grows_with_a_change():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(200, 5))
    assert abs(s2r.energy_distance(a, a)) < 1e-12
    assert s2r.energy_distance(a, a + 0.5) > s2r.energy_distance(a, a + 0.1) > 0.0
    records, lr = simulate_signals(40, 3, bad_per_thousand=0)
    cov = calibrate.record_covariances(bandpass(lr[..., IDX8], 100.0, 0.5, 45.0, 2, axis=1))
    feats = calibrate.structure_features(cov)
    target = calibrate.Target.from_covariances("self", cov)
    assert calibrate.distance(feats, target) < 1e-12
    swapped = cov[:, [0, 1, 7, 6, 5, 4, 3, 2]][:, :, [0, 1, 7, 6, 5, 4, 3, 2]]  # V1..V6 reversed
    assert calibrate.distance(calibrate.structure_features(swapped), target) > 1.0


@pytest.fixture(scope="module")
def ptbxl(shared_data):
    return {"PTB-XL": s2r.load_real(shared_data, "PTB-XL")}


def test_measure_detects_a_wrong_lead_field(ptbxl):
    records, lr = simulate_signals(150, 21)
    right = s2r.synthetic_set(records, lr, "right")
    wrong = s2r.synthetic_set(records, lr[..., [0, 1, 2, 3, 4, 5, 11, 10, 9, 8, 7, 6]], "wrong")  # V1..V6 reversed
    good = s2r.map_transfer(right, ptbxl, tasks=("paper",))
    bad = s2r.map_transfer(wrong, ptbxl, tasks=("paper",))
    assert len(ptbxl["PTB-XL"].records) == 63 and good["n_windows"].iloc[0] == 189
    assert bad["cohort_rmse"].iloc[0] > 1.3 * good["cohort_rmse"].iloc[0]
    assert bad["cohort_r2"].iloc[0] < good["cohort_r2"].iloc[0] - 0.2
    # the real-fitted reference is computed on the real windows, whatever the cohort
    assert good["real_cv_rmse"].iloc[0] == bad["real_cv_rmse"].iloc[0]
    assert 0.5 < good["real_cv_r2"].iloc[0] < 0.95 and good["real_cv_rmse"].iloc[0] < good["cohort_rmse"].iloc[0] * 1.5
    dist_good = s2r.structure_distances(right, ptbxl)
    dist_bad = s2r.structure_distances(wrong, ptbxl)
    for col in ("energy_corr", "moment_corr", "mean_abs_corr12_diff"):
        assert dist_bad[col].iloc[0] > 2 * dist_good[col].iloc[0], col


def test_calibration_script_is_deterministic_for_a_seed(shared_data, tmp_path):
    cal = _script("calibrate_cohort")
    args = ["--n-records", "30", "--maxiter", "2", "--fit", "PTB-XL", "--shared", str(shared_data)]
    outs = []
    for name, seed in (("a", "5"), ("b", "5"), ("c", "6")):
        assert cal.main([*args, "--seed", seed, "--out", str(tmp_path / f"{name}.json")]) == 0
        outs.append(json.loads((tmp_path / f"{name}.json").read_text()))
    a, b, c = outs
    assert a["model"] == b["model"] and a["calibration"]["theta"] == b["calibration"]["theta"]
    assert a["model"] != c["model"]
    assert a["calibration"]["objective_end"] < a["calibration"]["objective_start"]
    assert a["calibration"]["seed"] == 5 and a["calibration"]["fit"][0]["n_records"] == 63
    m = leadfield_model(tmp_path / "a.json")
    assert np.allclose(m.precordial, np.array(a["model"]["precordial"]))


def test_the_calibrated_cohort_is_made_by_the_dag(shared_data, tmp_path):
    """synth.leadfield: calibrated -> rule calibrate_leadfield (on the real records) before synthesize; dower: neither."""
    from snakemake_helpers import scheduled_rules, snakemake, write_config

    truth = "results/raw/synthetic/ground_truth.h5"
    cal = {"data": str(shared_data), "fit": ["PTB-XL"], "seed": 5, "n_records": 30, "maxiter": 2}
    cfg = write_config(tmp_path / "cal.yaml", {"synth": {"n_records": 12, "leadfield": "calibrated", "calibration": cal}})
    assert scheduled_rules(tmp_path, cfg, truth) == {"calibrate_leadfield": 1, "synthesize": 1}
    snakemake(tmp_path, truth, configfile=cfg)
    model = tmp_path / "results/calibration/leadfield_calibrated.json"
    doc = json.loads(model.read_text())
    assert doc["calibration"]["seed"] == 5 and doc["calibration"]["fit"][0]["n_records"] == 63
    with h5py.File(tmp_path / truth) as f:
        assert f.attrs["leadfield"] == "calibrated"
        field = f["lead_field"][...]
    assert (tmp_path / "logs/calibrate_leadfield.log").stat().st_size > 0 and (tmp_path / "benchmarks/calibrate_leadfield.tsv").exists()
    back = write_config(tmp_path / "dower.yaml", {"synth": {"n_records": 12, "leadfield": "dower", "calibration": cal}})
    assert scheduled_rules(tmp_path, back, truth) == {"synthesize": 1}  # a changed leadfield reruns the cohort only
    snakemake(tmp_path, truth, configfile=back)
    with h5py.File(tmp_path / truth) as f:
        assert not np.allclose(f["lead_field"][...], field)
