"""The renderer draws what its truth says, where it says (pixel <-> s / mV), and the truth survives JSON."""

import json

import numpy as np
import pytest

from ecgrecon import LEADS12
from ecgrecon.printout.digitize import ink_and_grid
from ecgrecon.printout.layout import LAYOUTS, PrintoutTruth
from ecgrecon.printout.render import SINGLE_LEAD_PX, render_printout, render_single_lead


def test_page_size_and_panels_of_the_3x4_layout(clean_renders):
    img, truth = clean_renders[0]
    assert img.dtype == np.uint8 and img.shape == (truth.height, truth.width, 3) == (1496, 2205, 3)
    plotted = truth.plotted()
    counts = dict(zip(LEADS12, plotted.sum(axis=1)))
    assert counts["II"] == 1000 and all(counts[k] == 250 for k in LEADS12 if k != "II")
    spans = {(p.lead, p.row): (p.start, p.stop) for p in truth.panels}
    assert spans[("I", 0)] == (0, 250) and spans[("AVR", 0)] == (250, 500) and spans[("V3", 2)] == (500, 750)
    assert spans[("V6", 2)] == (750, 1000) and spans[("II", 3)] == (0, 1000)


@pytest.mark.parametrize("fs", [100.0, 500.0, 257.0])
def test_trace_lies_at_the_truth_transform(fs):
    """A flat record with one 1-mV square bump in lead I: its rows and columns are where the truth puts them."""
    n = int(10 * fs)
    x = np.zeros((n, 12))
    a, b = int(0.8 * fs), int(1.2 * fs)
    x[a:b, 0] = 1.0
    img, truth = render_printout(x, fs, dpi=150, labels=False)
    ink, _ = ink_and_grid(img)
    panel = next(p for p in truth.panels if p.lead == "I")

    def centre_row(col, lo, hi):
        w = np.where(ink[lo:hi, col] > 0.3, ink[lo:hi, col], 0.0)  # the trace, not the grid
        return lo + float((w * np.arange(hi - lo)).sum() / w.sum())

    base, top = float(truth.row_px(panel, 0.0)), float(truth.row_px(panel, 1.0))
    half = int(0.3 * truth.px_per_mv)
    for n_at, want in ((int(0.42 * fs), base), (int(1.02 * fs), top), (int(2.02 * fs), base)):  # off the grid's major lines
        col = int(round(float(truth.column(n_at))))
        got = centre_row(col, int(want) - half, int(want) + half)
        assert abs(got - want) < 0.35, (fs, n_at, got, want)
    # the bump's edges: the segments from sample a-1 to a and b-1 to b cross the middle row halfway between their columns
    mid = int(round((base + top) / 2))
    for n_at in (a - 1, b - 1):
        want = float(truth.column(n_at) + truth.column(n_at + 1)) / 2
        cols = np.arange(int(want) - 4, int(want) + 6)
        w = np.where(ink[mid, cols] > 0.3, ink[mid, cols], 0.0)
        assert abs(float((w * cols).sum() / w.sum()) - want) < 0.5, (fs, n_at)


def test_truth_round_trips_through_json(clean_renders):
    _, truth = clean_renders[0]
    back = PrintoutTruth.from_dict(json.loads(json.dumps(truth.to_dict())))
    assert back == truth
    assert np.allclose(back.sample_at(back.column(np.arange(0, 1000, 37))), np.arange(0, 1000, 37))
    p = back.panels[0]
    assert np.allclose(back.mv_at(p, back.row_px(p, [-1.0, 0.0, 2.5])), [-1.0, 0.0, 2.5])


def test_other_layouts_and_the_single_lead_image(records):
    img, truth = render_printout(records[0], 100.0, layout="6x2", dpi=100)
    assert truth.layout == "6x2" and len(truth.panels) == 13 and img.shape[0] == truth.height
    assert LAYOUTS["6x2"].n_rows == 7
    img1, t1, drawn = render_single_lead(records[0][:, 0], 100.0)
    assert img1.shape == (SINGLE_LEAD_PX[1], SINGLE_LEAD_PX[0], 3) and t1.n_samples == 1000 and drawn.shape == (1000,)
    assert abs(drawn.mean()) < 0.02  # band-passed: no offset left
    img2, t2, _ = render_single_lead(records[0][:, 0], 100.0, size=(384, 96))
    assert img2.shape == (96, 384, 3) and t2.px_per_mm_x != t2.px_per_mm_y
    with pytest.raises(ValueError, match="n_samples, 12"):
        render_printout(records[0][:, :3], 100.0)
