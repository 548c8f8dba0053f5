"""Distortions: seeded, one named level set from clean to photo, each level still digitisable."""

import numpy as np
import pytest
from conftest_printout import FS, mean_snr

from ecgrecon.printout.digitize import digitize_classical, ink_and_grid
from ecgrecon.printout.distort import LEVELS, distort, shift_grid_hue


def test_levels_are_seeded_and_clean_is_identity(clean_renders):
    img, _ = clean_renders[0]
    out, applied = distort(img, "clean", np.random.default_rng(0))
    assert np.array_equal(out, img) and applied == {}
    a, pa = distort(img, "photo", np.random.default_rng(3))
    b, pb = distort(img, "photo", np.random.default_rng(3))
    c, _ = distort(img, "photo", np.random.default_rng(4))
    assert np.array_equal(a, b) and pa == pb and a.dtype == np.uint8 and a.ndim == 3
    assert not np.array_equal(a, c)
    assert set(pa) >= {"rotation_deg", "jpeg_quality", "noise_std", "grid_hue_deg", "creases", "crop_frac"}
    assert set(LEVELS) == {"clean", "scan", "photo"}
    with pytest.raises(ValueError, match="unknown distortion level"):
        distort(img, "fax", np.random.default_rng(0))
    with pytest.raises(ValueError, match="unknown distortion parameter"):
        distort(img, {"wobble": (0, 1)}, np.random.default_rng(0))


def test_grid_hue_shift_keeps_ink_and_paper(clean_renders):
    img, _ = clean_renders[0]
    shifted = shift_grid_hue(img, 120.0)
    ink0, chroma0 = ink_and_grid(img)
    ink1, chroma1 = ink_and_grid(shifted)
    assert np.abs(ink0 - ink1).max() < 0.05 and chroma1.mean() == pytest.approx(chroma0.mean(), rel=0.1)
    assert not np.array_equal(shifted, img)


def test_scan_level_is_digitised_with_modest_loss(records, clean_renders):
    x, (img, truth) = records[0], clean_renders[0]
    scanned, _ = distort(img, "scan", np.random.default_rng(1))
    sig, _ = digitize_classical(scanned, fs=FS)
    assert mean_snr(x, sig, truth) > 12.0
