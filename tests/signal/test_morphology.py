"""Morphology metrics (ecgrecon.signal.morphology): beat detector, delineator, errors, Bland-Altman."""

from __future__ import annotations

import numpy as np
import pytest
import wfdb

from ecgrecon import LEADS12
from ecgrecon.evaluation import morph_plots
from ecgrecon.signal import morphology
from ecgrecon.signal.filters import resample
from ecgrecon.synth import dipole
from ecgrecon.synth.leadfield import draw_anatomy

FS = 100.0
TARGETS = ["V1", "V3", "V4", "V5", "V6"]


def _gauss(t, mu, sd):
    return np.exp(-0.5 * ((t - mu) / sd) ** 2)


def _plateau(t, start, stop, ramp=0.02):
    """1 between start and stop, raised-cosine ramps of ``ramp`` s outside them."""
    up = np.clip((t - (start - ramp)) / ramp, 0, 1)
    down = np.clip(((stop + ramp) - t) / ramp, 0, 1)
    return (0.5 - 0.5 * np.cos(np.pi * up)) * (0.5 - 0.5 * np.cos(np.pi * down))


def _beats(r_times, r_amp, st, t_amp, n=1000, fs=FS):
    """(12, n) ECG: per lead an R wave (sd 12 ms) of amplitude r_amp, an ST plateau of level st
    from R+60 to R+150 ms, and a T wave (sd 40 ms) of amplitude t_amp at R+300 ms."""
    t = np.arange(n) / fs
    x = np.zeros((12, n))
    for r in r_times:
        x += r_amp[:, None] * _gauss(t, r, 0.012)[None]
        x += st[:, None] * _plateau(t, r + 0.06, r + 0.15)[None]
        x += t_amp[:, None] * _gauss(t, r + 0.30, 0.04)[None]
    return x


def _lead_amplitudes(rng):
    """R (mostly upright), ST level and T amplitude (|T| >= 0.15 mV) per lead, mV."""
    return (
        rng.uniform(0.4, 1.6, 12) * rng.choice([1.0, 1.0, -0.5], 12),
        rng.uniform(-0.1, 0.1, 12),
        rng.uniform(0.15, 0.5, 12) * rng.choice([-1.0, 1.0], 12),
    )


def _match(found, known, tol, margin=0.0, n=1000, fs=FS):
    """Match beats within ``tol`` (s): (error of each known beat, number of found beats matching
    no known one, ignoring those within ``margin`` s of the record ends)."""
    d = np.abs(found[:, None] - known[None, :])
    err = d.min(axis=0)
    used = np.zeros(len(found), bool)
    used[d.argmin(axis=0)[err <= tol]] = True
    inside = (found >= margin) & (found <= n / fs - margin)
    return err, int((~used & inside).sum())


@pytest.mark.parametrize("hr", [48, 75, 110, 140])
def test_detector_finds_known_r_peaks(hr):
    rng = np.random.default_rng(hr)
    rr = 60.0 / hr
    r_times = np.arange(rng.uniform(0.2, 0.2 + rr), 10.0 - 0.1, rr) + rng.normal(0, 0.02)
    r_amp, st, t_amp = _lead_amplitudes(rng)
    r_amp[0] = 1.2
    x = _beats(r_times, r_amp, st, t_amp)
    t = np.arange(1000) / FS
    x += rng.normal(0, 0.02, x.shape) + 0.3 * np.sin(2 * np.pi * 0.25 * t + rng.uniform(0, 6))[None]
    found = morphology.detect_r_peaks(x, FS) / FS
    err, extra = _match(found, r_times, 0.02)
    assert err.max() <= 0.02 and extra == 0


def test_detector_on_dipole_beats_with_known_positions():
    """Beats of the synthetic cohort's source model (``ecgrecon.synth.dipole``) through a drawn
    lead field, sampled at 100 Hz, plus noise and baseline wander. Known R peak of a beat: the
    instant of largest 12-lead vector magnitude of the noise-free ECG rendered at 1 kHz inside
    the beat's QRS (onset and duration given by the model). Where a QRS has two deflections of
    near-equal magnitude the detector may mark the other one, so a small share is allowed."""
    errors, extras = [], 0
    for seed in range(30):
        rng = np.random.default_rng(100 + seed)
        ph = dipole.draw_physiology(rng, 55.0, seed % 2)
        comp = dipole.morphology(ph)
        anatomy = draw_anatomy(rng, 55.0, seed % 2, 25.0, False)
        onsets = dipole.beat_onsets(rng, ph["hr"], False, ph, -1.0, 11.0)
        fine = 1000
        src = dipole.render(comp, onsets, ph["pr"], ph["qtc"], True, np.ones(len(onsets)), fine, 0.0, 10 * fine)
        x12 = src[:, :3] @ anatomy.field12.T + src[:, 3:] @ anatomy.local12.T
        mag = np.linalg.norm(x12, axis=1)
        known = []
        for o in onsets:
            a, b = int(round(o * fine)), int(round((o + ph["qrs"]) * fine))
            if a >= 0 and b <= 10 * fine:
                known.append((a + np.argmax(mag[a:b])) / fine)
        t = np.arange(1000) / FS
        x = resample(x12.T, fine, FS) + rng.normal(0, 0.015, (12, 1000)) + 0.3 * np.sin(2 * np.pi * 0.2 * t + seed)[None]
        found = morphology.detect_r_peaks(x, FS) / FS
        err, extra = _match(found, np.array(known), 0.03, margin=0.15)  # edge QRS: not in known
        errors.append(err)
        extras += extra
    errors = np.concatenate(errors)
    assert len(errors) > 250 and extras == 0
    assert np.mean(errors <= 0.02) >= 0.97 and errors.max() <= 0.03 and np.median(errors) <= 0.005


def test_detector_on_real_ludb_annotations(shared_data):
    """LUDB cardiologists' R peaks (lead II 'N' marks): every beat found, nothing extra.

    The detector marks the largest spatial deflection over 12 leads, which is not always the
    lead II R peak, so the agreement is checked in distribution."""
    ludb = shared_data / "ludb" / "data"
    errors, extras = [], 0
    for rid in range(1, 161, 8):
        rec = wfdb.rdrecord(str(ludb / str(rid)))
        names = [n.upper() for n in rec.sig_name]
        x = resample(rec.p_signal[:, [names.index(k) for k in LEADS12]].T, rec.fs, FS)
        ann = wfdb.rdann(str(ludb / str(rid)), "ii")
        r = np.array([s for s, sym in zip(ann.sample, ann.symbol) if sym == "N"]) / ann.fs
        found = morphology.detect_r_peaks(x, FS) / FS
        found = found[(found >= r.min() - 0.2) & (found <= r.max() + 0.2)]  # annotated span only
        err, extra = _match(found, r, 0.1)
        errors.append(err)
        extras += extra
    errors = np.concatenate(errors)
    assert len(errors) > 150
    assert errors.max() <= 0.1 and extras == 0
    assert np.median(errors) <= 0.01 and np.mean(errors <= 0.02) >= 0.85


def test_measures_known_amplitudes():
    rng = np.random.default_rng(7)
    r_amp, st, t_amp = _lead_amplitudes(rng)
    r_amp[:2] = [1.5, 1.2]
    r_times = np.arange(0.45, 9.5, 0.9)
    m = morphology.measure_ecg(_beats(r_times, r_amp, st, t_amp), FS)
    assert m["n_beats"] == len(r_times)  # every [-300, +500] ms window fits in the record
    pos = r_amp > 0
    np.testing.assert_allclose(m["r_amp"][pos], r_amp[pos], atol=0.03)
    np.testing.assert_allclose(m["st60"], st, atol=0.02)
    np.testing.assert_allclose(m["t_amp"], t_amp, atol=0.02)
    assert 0.0 < m["j_s"] - morphology.BEAT_BEFORE_S < 0.06


def test_errors_zero_for_truth_and_local_for_a_changed_lead(tmp_path):
    rng = np.random.default_rng(8)
    truth, changed = [], []
    for _ in range(6):
        r_amp, st, t_amp = _lead_amplitudes(rng)
        r_amp[:2] = [1.4, 1.1]
        t_amp[LEADS12.index("V4")] = rng.uniform(0.1, 0.4)  # upright: the T peak stays the peak
        r_times = np.arange(rng.uniform(0.3, 0.9), 9.6, rng.uniform(0.7, 1.1))
        truth.append(_beats(r_times, r_amp, st, t_amp))
        extra = np.zeros(12)
        extra[LEADS12.index("V4")] = 0.3  # a taller T wave in V4 only
        changed.append(truth[-1] + _beats(r_times, np.zeros(12), np.zeros(12), extra))
    truth, changed = np.stack(truth), np.stack(changed)
    targets = truth[:, [LEADS12.index(k) for k in TARGETS]]
    same = morphology.replace_leads(truth, targets, TARGETS)
    summary, long = morphology.morphology_table(truth, {"exact": same, "V4 T+0.3": changed}, FS, TARGETS)
    exact = summary[summary["method"] == "exact"]
    assert (exact[["bias_mv", "mae_mv"]].abs().to_numpy() < 1e-6).all() and (exact["n"] == 6).all()
    bad = summary[summary["method"] == "V4 T+0.3"].set_index(["lead", "quantity"])
    assert abs(bad.loc[("V4", "t_amp"), "bias_mv"] - 0.3) < 0.02
    others = bad.drop(index=("V4", "t_amp"))
    assert others["mae_mv"].max() < 0.01
    stats = morph_plots.bland_altman_figure(long, "V4", tmp_path / "ba.png")
    assert (tmp_path / "ba.png").stat().st_size > 10_000
    assert stats[("V4 T+0.3", "t_amp")]["bias"] == pytest.approx(bad.loc[("V4", "t_amp"), "bias_mv"])


def test_flat_signal_and_bad_input():
    m = morphology.measure_ecg(np.zeros((12, 1000)), FS)
    assert m["n_beats"] == 0 and np.isnan(m["r_amp"]).all()
    with pytest.raises(ValueError, match="expected 12 leads"):
        morphology.measure_ecg(np.zeros((8, 1000)), FS)
    x = np.zeros((12, 1000))
    x[3, 10] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        morphology.measure_ecg(x, FS)
    with pytest.raises(ValueError, match="does not fit"):
        morphology.replace_leads(np.zeros((2, 12, 100)), np.zeros((2, 4, 100)), TARGETS)
