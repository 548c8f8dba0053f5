"""Filters on known sinusoids: pass 10 Hz, remove 0.1 Hz drift and 50 Hz mains; median baseline."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi
import scipy.signal as ss

from ecgrecon.signal.filters import (
    bandpass,
    bandpass_edges,
    clean_batch,
    median_width,
    moving_median,
    notch,
    remove_baseline,
    resample,
    resample_factors,
)
from ptbxl_fixture import CLEAN_CFG


def _amp(x: np.ndarray, fs: float, f: float) -> np.ndarray:
    """Amplitude of the ``f`` Hz component along the last axis (least squares on sin/cos)."""
    t = np.arange(x.shape[-1]) / fs
    basis = np.stack([np.sin(2 * np.pi * f * t), np.cos(2 * np.pi * f * t)], axis=1)
    coef = np.linalg.lstsq(basis, x.reshape(-1, x.shape[-1]).T, rcond=None)[0]
    return np.hypot(*coef).reshape(x.shape[:-1])


def _tones(fs: float, seconds: float = 10.0) -> tuple[np.ndarray, dict]:
    t = np.arange(int(fs * seconds)) / fs
    parts = {
        10.0: 1.0 * np.sin(2 * np.pi * 10 * t),
        0.1: 2.0 * np.sin(2 * np.pi * 0.1 * t + 0.3),
        50.0: 0.5 * np.sin(2 * np.pi * 50 * t + 1.0),
    }
    return np.stack([sum(parts.values())] * 3)[None], {10.0: 1.0, 0.1: 2.0, 50.0: 0.5}


def test_notch_and_bandpass_at_500hz_keep_10hz_remove_drift_and_mains():
    fs = 500.0
    x, amps = _tones(fs)
    y, note = notch(x, fs, 50.0)
    assert note is None
    y = bandpass(y, fs, 0.5, 45.0, 2)
    mid = slice(1000, 4000)  # away from the edges
    assert np.allclose(_amp(y[..., mid], fs, 10.0), amps[10.0], rtol=0.02)
    assert (_amp(y[..., mid], fs, 0.1) < 0.02 * amps[0.1]).all()
    assert (_amp(y[..., mid], fs, 50.0) < 0.02 * amps[50.0]).all()
    # without the notch the 45 Hz band edge alone leaves much of the mains: the notch matters
    y_bp = bandpass(x, fs, 0.5, 45.0, 2)
    assert (_amp(y_bp[..., mid], fs, 50.0) > 0.2 * amps[50.0]).all()


def test_full_clean_chain_500_to_100hz():
    x, amps = _tones(500.0)
    y, notes = clean_batch(np.swapaxes(x, 1, 2), 500.0, CLEAN_CFG)
    assert notes == [] and y.shape == (1, 1000, 3) and y.dtype == np.float32
    core = np.swapaxes(y, 1, 2)[..., 100:900]
    assert np.allclose(_amp(core, 100.0, 10.0), amps[10.0], rtol=0.03)
    assert (_amp(core, 100.0, 0.1) < 0.02 * amps[0.1]).all()
    assert np.abs(core).max() < 1.1  # nothing left but the 10 Hz tone


def test_notch_skipped_at_nyquist_with_note():
    x = np.random.default_rng(0).standard_normal((2, 3, 1000))
    y, note = notch(x, 100.0, 50.0)
    assert y is x
    assert "skipped" in note and "50 Hz" in note and "100 Hz" in note
    _, notes = clean_batch(np.swapaxes(x, 1, 2), 100.0, CLEAN_CFG)
    assert len(notes) == 1 and "skipped" in notes[0]


def test_notch_switched_off_leaves_mains_and_says_so():
    fs = 500.0
    t = np.arange(5000) / fs
    x = np.sin(2 * np.pi * 50.0 * t)[None, None]
    y, note = notch(x, fs, None)
    assert y is x and "switched off" in note
    cleaned, notes = clean_batch(np.swapaxes(x, 1, 2), fs, {**CLEAN_CFG, "notch_hz": None})
    assert any("switched off" in n for n in notes) and cleaned.shape[1] == 1000


def test_zero_phase_keeps_peak_position():
    fs = 100.0
    t = np.arange(1000) / fs
    pulse = np.exp(-0.5 * ((t - 5.0) / 0.02) ** 2)[None]
    y = bandpass(pulse, fs, 0.5, 45.0, 2)
    assert int(np.argmax(y)) == 500


def test_upper_edge_clipped_below_nyquist_and_impossible_band():
    assert bandpass_edges(100.0, 0.5, 45.0) == (0.5, 45.0)
    lo, hi = bandpass_edges(80.0, 0.5, 45.0)
    assert lo == 0.5 and 30 < hi < 40
    with pytest.raises(ValueError, match="impossible"):
        bandpass_edges(1.0, 0.5, 45.0)


def test_resampling_factors_and_values():
    assert resample_factors(500, 100) == (1, 5)
    assert resample_factors(250, 100) == (2, 5)
    assert resample_factors(100, 100) == (1, 1)
    with pytest.raises(ValueError, match="not a small fraction"):
        resample_factors(257.3, 100)
    t = np.arange(5000) / 500.0
    y = resample(np.sin(2 * np.pi * 3 * t)[None], 500.0, 100.0)
    assert y.shape == (1, 1000)
    np.testing.assert_allclose(y[0, 50:950], np.sin(2 * np.pi * 3 * np.arange(1000) / 100.0)[50:950], atol=1e-3)


def test_moving_median_matches_rowwise_reference():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 4, 300)).astype(np.float32)
    assert median_width(100.0, 0.6) == 61
    got = moving_median(x, 61)
    ref = np.stack([[ndi.median_filter(r, size=61, mode="nearest") for r in rec] for rec in x])
    np.testing.assert_array_equal(got, ref)
    np.testing.assert_allclose(got[1, 2, 150], np.median(x[1, 2, 120:181]), rtol=0, atol=0)


def test_remove_baseline_removes_slow_wander_keeps_spikes():
    fs = 100.0
    t = np.arange(1000) / fs
    spikes = np.zeros_like(t)
    spikes[::80] = 1.0  # narrow beats
    wander = 0.8 * np.sin(2 * np.pi * 0.15 * t) + 0.3 * t
    y = remove_baseline((spikes + wander)[None, None].astype(np.float32), fs, 0.6)[0, 0]
    assert np.abs(y - spikes)[50:950].max() < 0.03


def test_ba_form_is_the_authors_filtfilt_and_agrees_with_sos_up_to_rounding():
    rng = np.random.default_rng(4)
    fs, lo, hi = 100.0, 0.5, 45.0
    x = rng.standard_normal((2, 12, 1000)).cumsum(axis=-1) * 0.05 + rng.standard_normal((2, 12, 1000))
    b, a = ss.butter(4, [lo, hi], btype="band", fs=fs)
    got = bandpass(x, fs, lo, hi, 4, form="ba")
    np.testing.assert_array_equal(got, ss.filtfilt(b, a, x, axis=-1, padlen=3 * max(len(a), len(b))))
    # the authors' own call: normalised edges, (samples, leads) per record, time on axis 0
    bn, an = ss.butter(4, [lo / (fs / 2), hi / (fs / 2)], btype="band")
    theirs = np.stack([ss.filtfilt(bn, an, rec.T, axis=0, padlen=3 * max(len(an), len(bn))).T for rec in x])
    np.testing.assert_allclose(got, theirs, rtol=0, atol=1e-9)
    # sosfiltfilt pads by the same 3 * (2 * sections + 1) = 3 * len(a) samples with the same odd
    # extension and steady-state start, so the two forms differ by rounding only, edges included
    sos = bandpass(x, fs, lo, hi, 4)
    assert 0 < np.abs(got - sos).max() < 1e-8 and np.abs(got - sos)[..., :30].max() < 1e-8
    # ... until the (b, a) polynomial of an order-4 band-pass loses precision (0.5 Hz at 1 kHz)
    x1k = rng.standard_normal((1, 12, 10000))
    assert np.abs(bandpass(x1k, 1000.0, lo, hi, 4, form="ba") - bandpass(x1k, 1000.0, lo, hi, 4)).max() > 1e-3
    with pytest.raises(ValueError, match="unknown band-pass form 'zpk'"):
        bandpass(x, fs, lo, hi, 4, form="zpk")


def test_zero_median_edges_equal_medfilt_per_lead_and_differ_from_replicate_only_at_the_edges():
    rng = np.random.default_rng(5)
    x = rng.uniform(1.0, 3.0, (3, 12, 1000)).astype(np.float32)  # all positive: zero padding pulls the edge medians down
    zero = moving_median(x, 61, "zero")
    ref = np.stack([[ss.medfilt(lead, 61) for lead in rec] for rec in x])
    assert ref.dtype == np.float32
    np.testing.assert_array_equal(zero, ref)
    rep = moving_median(x, 61)
    np.testing.assert_array_equal(zero[..., 30:-30], rep[..., 30:-30])  # same windows away from the ends
    for edge, end in ((slice(0, 30), 0), (slice(-30, None), -1)):  # zeros instead of the end sample: never above, mostly below
        assert (zero[..., edge] <= rep[..., edge]).all() and (zero[..., end] < rep[..., end]).mean() > 0.9
    np.testing.assert_array_equal(remove_baseline(x, 100.0, 0.6, "zero"), x - ref)
    with pytest.raises(ValueError, match="unknown median edges 'mirror'"):
        moving_median(x, 61, "mirror")
