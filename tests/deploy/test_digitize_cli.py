"""``ecgrecon digitize``: a rendered record comes back as a WFDB record (NaN where not plotted) with an overlay;
bad images end in one line naming the file and exit code 2."""

import cv2
import numpy as np
import pytest
import wfdb

from ecgrecon import LEADS12
from ecgrecon.deploy.cli import EXIT_BAD_INPUT, main
from ecgrecon.printout.render import render_printout
from ecgrecon.printout.scoring import snr_challenge

FS = 100.0


def beats(fs: float = FS, seconds: float = 10.0) -> np.ndarray:
    """(n, 12) mV: Gaussian P, QRS and T waves at 72 bpm with per-lead amplitudes (limb leads follow Einthoven)."""
    t = np.arange(int(seconds * fs)) / fs
    phase = (t + 0.3) % (60 / 72)

    def wave(centre, width, amp):
        return amp * np.exp(-0.5 * ((phase - centre) / width) ** 2)

    def lead(p, r, s, tw):
        return wave(0.10, 0.025, p) + wave(0.24, 0.012, r) + wave(0.27, 0.012, -s) + wave(0.50, 0.05, tw)

    i, ii = lead(0.08, 0.7, 0.15, 0.2), lead(0.12, 1.1, 0.2, 0.3)
    iii = ii - i
    limb = [i, ii, iii, -(i + ii) / 2, i - ii / 2, ii - i / 2]
    chest = [lead(0.05, 0.2 + 0.25 * k, 1.0 - 0.15 * k, 0.1 + 0.06 * k) for k in range(6)]
    return np.stack(limb + chest, axis=1)


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    x = beats()
    img, truth = render_printout(x, FS, dpi=200)
    path = tmp_path_factory.mktemp("page") / "page.png"
    cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    return path, x, truth


def test_digitize_writes_a_wfdb_record_and_an_overlay(page, tmp_path, capsys):
    path, x, truth = page
    assert main(["digitize", str(path), "--layout", "3x4", "--fs", "100", "--output", str(tmp_path / "out")]) == 0
    assert "wrote" in capsys.readouterr().out
    sig, fields = wfdb.rdsamp(str(tmp_path / "out" / "page"))
    assert fields["sig_name"] == list(LEADS12) and fields["fs"] == FS and sig.shape == x.shape
    assert np.array_equal(np.isfinite(sig), truth.plotted().T)  # NaN exactly where the page plots nothing
    snr = snr_challenge(x, sig, truth.plotted())
    assert np.mean(snr) > 15.0, snr
    overlay = cv2.imread(str(tmp_path / "out" / "page_overlay.png"))
    assert overlay is not None and overlay.shape[1] == truth.width


@pytest.mark.parametrize("what", ["garbage", "missing", "grayscale"])
def test_bad_image_is_one_line_naming_the_file(page, tmp_path, capsys, what):
    bad = tmp_path / "bad.png"
    if what == "garbage":
        bad.write_bytes(b"\x89PNG not really")
    elif what == "grayscale":
        grey = cv2.cvtColor(cv2.imread(str(page[0])), cv2.COLOR_BGR2GRAY)
        cv2.imwrite(str(bad), grey)
    assert main(["digitize", str(bad), "--output", str(tmp_path / "out")]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"ecgrecon: error: {bad}:") and "Traceback" not in err, err
    assert not (tmp_path / "out" / "bad.hea").exists()


def test_wrong_layout_is_refused(page, tmp_path, capsys):
    assert main(["digitize", str(page[0]), "--layout", "12x1", "--output", str(tmp_path / "out")]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(page[0]) in err and "layout" in err, err
