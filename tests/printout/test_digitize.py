"""Classical digitiser: accuracy on clean renders, exact timing and calibration, deskew, one-line errors naming the file."""

import cv2
import numpy as np
import pytest
from conftest_printout import FS, mean_snr

from ecgrecon import LEADS12
from ecgrecon.printout.digitize import digitize_classical
from ecgrecon.printout.distort import rotate_image
from ecgrecon.printout.layout import PrintoutError
from ecgrecon.printout.render import render_printout


@pytest.fixture(scope="module")
def clean_digitised(clean_renders):
    return [digitize_classical(img, "3x4", fs=FS) for img, _ in clean_renders]


def test_clean_render_is_recovered_above_20_db(records, clean_renders, clean_digitised):
    for x, (_, truth), (sig, diag) in zip(records, clean_renders, clean_digitised):
        assert sig.shape == (1000, 12)
        plotted = truth.plotted().T
        assert np.isnan(sig[~plotted]).all() and np.isfinite(sig[plotted]).mean() > 0.99  # NaN exactly where not plotted
        assert mean_snr(x, sig, truth) > 20.0, diag


def test_timing_is_exact(records, clean_renders, clean_digitised):
    """No offset beyond one pixel column anywhere in the 10 s, and no lag between digitised and true samples."""
    for x, (_, truth), (sig, diag) in zip(records, clean_renders, clean_digitised):
        for t0 in diag["t0_column"]:
            assert abs(t0 - float(truth.column(0))) < 1.0
        assert abs(diag["px_per_s"] - truth.px_per_s) * 10.0 < 1.0  # the scale error accumulated over the page
        ii = LEADS12.index("II")
        y, p = x[:, ii] - x[:, ii].mean(), sig[:, ii] - np.nanmean(sig[:, ii])
        lags = range(-3, 4)
        xc = [np.nansum(y[max(0, -k) : len(y) - max(0, k)] * p[max(0, k) : len(p) - max(0, -k)]) for k in lags]
        assert list(lags)[int(np.argmax(xc))] == 0


def test_calibration_matches_the_renderers_transform(clean_renders, clean_digitised):
    for (_, truth), (_, diag) in zip(clean_renders, clean_digitised):
        assert diag["px_per_mm_x"] == pytest.approx(truth.px_per_mm_x, rel=2e-4)
        assert diag["px_per_mm_y"] == pytest.approx(truth.px_per_mm_y, rel=2e-4)
        assert diag["px_per_s"] == pytest.approx(truth.px_per_s, rel=2e-4)
        for mv in diag["px_per_mv"]:
            assert mv == pytest.approx(truth.px_per_mv, rel=5e-3)  # the pulse height, 1 mV
        first = {p.row: p for p in truth.panels if p.start == 0}
        for r, base in enumerate(diag["baseline_row"]):
            assert base == pytest.approx(float(truth.row_px(first[r], 0.0)), abs=0.3)
        assert abs(diag["skew_deg"]) < 0.02


def test_a_3_degree_rotation_costs_under_3_db_after_deskew(records, clean_renders, clean_digitised):
    for x, (img, truth), (sig, _) in zip(records, clean_renders, clean_digitised):
        rot_sig, diag = digitize_classical(rotate_image(img, 3.0), "3x4", fs=FS)
        assert diag["skew_deg"] == pytest.approx(3.0, abs=0.05)
        assert mean_snr(x, sig, truth) - mean_snr(x, rot_sig, truth) < 3.0


def _one_line(err, path):
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg, msg
    return msg


def test_unreadable_and_empty_images(tmp_path):
    bad = tmp_path / "garbage.png"
    bad.write_bytes(b"not an image at all")
    with pytest.raises(PrintoutError) as err:
        digitize_classical(bad)
    assert "unreadable" in _one_line(err, bad)
    missing = tmp_path / "missing.png"
    with pytest.raises(PrintoutError) as err:
        digitize_classical(missing)
    _one_line(err, missing)
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((800, 1100, 3), 255, np.uint8))
    with pytest.raises(PrintoutError) as err:
        digitize_classical(blank)
    assert "empty" in _one_line(err, blank)
    with pytest.raises(PrintoutError, match="<array>: (empty|not an image)"):
        digitize_classical(np.zeros((0, 0, 3), np.uint8))


def test_grayscale_without_grid_is_refused(tmp_path, clean_renders):
    img, _ = clean_renders[0]
    gray = tmp_path / "gray.png"
    cv2.imwrite(str(gray), cv2.cvtColor(img, cv2.COLOR_RGB2GRAY))
    with pytest.raises(PrintoutError) as err:
        digitize_classical(gray)
    assert "no grid" in _one_line(err, gray)


def test_wrong_layout_is_refused(tmp_path, records):
    img, _ = render_printout(records[0], FS, layout="6x2", dpi=100)
    path = tmp_path / "six_by_two.png"
    cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    with pytest.raises(PrintoutError) as err:
        digitize_classical(path, layout="3x4")
    assert "layout 3x4" in _one_line(err, path)
