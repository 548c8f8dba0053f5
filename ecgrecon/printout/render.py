"""Render ECG printout images with matplotlib (Agg), keeping the exact truth of what was drawn where.

- :func:`render_printout`: a standard 12-lead page (25 mm/s, 10 mm/mV, pink 1 mm / red 5 mm grid,
  a calibration pulse per row, lead labels; layout ``3x4`` + lead-II rhythm strip by default,
  ``6x2`` and ``12x1`` as options) at any dpi and any sampling rate.
- :func:`render_single_lead`: the source's single-lead image (10 s of lead I, 0.5-40 Hz
  band-passed, 1968 x 472 px = 250 mm x 60 mm at 200 dpi; any size, e.g. 384 x 96 for CPU training).

The axes fill the figure and their limits are the page in mm, so paper mm maps to pixels by one
scale per axis with no margin: the transform stored in :class:`~ecgrecon.printout.layout.PrintoutTruth`
is the one Agg applied (checked in tests/printout). Traces are drawn unsnapped (``snap=False``) so
that sub-pixel positions survive, and so is the grid (the digitiser's ruler).
"""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from ecgrecon import LEADS12
from ecgrecon.printout.layout import (
    DURATION_S,
    LABEL_DX_MM,
    LABEL_DY_MM,
    LEAD_NAMES,
    LEFT_MM,
    MAJOR_MM,
    MINOR_MM,
    MM_PER_MV,
    MM_PER_S,
    PULSE_HEIGHT_MV,
    PULSE_LEAD_MM,
    PULSE_TAIL_MM,
    PULSE_WIDTH_MM,
    SIGNAL_X_MM,
    Layout,
    Panel,
    PrintoutTruth,
    get_layout,
    panels_of,
)
from ecgrecon.signal.filters import bandpass

MINOR_RGB = (1.0, 0.80, 0.80)  # light pink 1 mm lines
MAJOR_RGB = (0.94, 0.50, 0.50)  # red 5 mm lines
PAPER_RGB = (1.0, 1.0, 1.0)
INK_RGB = (0.0, 0.0, 0.0)
TRACE_MM = 0.3  # trace width
MINOR_LINE_MM = 0.1
MAJOR_LINE_MM = 0.2
LABEL_MM = 3.5  # lead-label font size (cap height is ~70 % of it)
SINGLE_LEAD_PX = (1968, 472)  # the source's single-lead image: 10 s of lead I at 200 dpi, 60 mm high
SINGLE_LEAD_BAND_HZ = (0.5, 40.0)
SINGLE_LEAD_HEIGHT_MM = 60.0


def _pt(mm: float, px_per_mm: float, min_px: float = 1.0) -> float:
    """Line width in points for ``mm`` on paper, at least ``min_px`` pixels (figure dpi = 72 pt per inch)."""
    return max(mm * px_per_mm, min_px) * 72.0 / (px_per_mm * 25.4)


def _canvas(width: int, height: int, width_mm: float, height_mm: float, px_per_mm: float):
    dpi = px_per_mm * 25.4
    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi, facecolor=PAPER_RGB)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_xlim(0.0, width_mm)
    ax.set_ylim(height_mm, 0.0)
    ax.set_axis_off()
    return fig, canvas, ax


def _grid(ax, width_mm: float, height_mm: float, px_per_mm: float, x0_mm: float = 0.0, y0_mm: float = 0.0) -> None:
    """1 mm / 5 mm lines through (x0_mm, y0_mm) (a major crossing) covering the page."""
    for step, rgb, lw, z in ((MINOR_MM, MINOR_RGB, MINOR_LINE_MM, 1), (MAJOR_MM, MAJOR_RGB, MAJOR_LINE_MM, 2)):
        xs = x0_mm + step * np.arange(np.ceil(-x0_mm / step), np.floor((width_mm - x0_mm) / step) + 1)
        ys = y0_mm + step * np.arange(np.ceil(-y0_mm / step), np.floor((height_mm - y0_mm) / step) + 1)
        segs = [((x, 0.0), (x, height_mm)) for x in xs] + [((0.0, y), (width_mm, y)) for y in ys]
        ax.add_collection(LineCollection(segs, colors=[rgb], linewidths=_pt(lw, px_per_mm, 0.8), zorder=z, antialiased=True, snap=False))


def _image(fig, canvas, width: int, height: int) -> np.ndarray:
    canvas.draw()
    img = np.asarray(canvas.buffer_rgba())[..., :3].copy()
    if img.shape[:2] != (height, width):  # figsize * dpi rounded differently: never seen, refuse rather than mislead
        raise RuntimeError(f"rendered {img.shape[1]} x {img.shape[0]} px, expected {width} x {height}")
    return img


def _as_leads_last(signal: np.ndarray) -> np.ndarray:
    x = np.asarray(signal, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != len(LEADS12):
        raise ValueError(f"signal must be (n_samples, 12) in LEADS12 order, got shape {x.shape}")
    return x


def render_printout(
    signal12: np.ndarray, fs: float, layout: str | Layout = "3x4", dpi: float = 200.0, labels: bool = True, pulse: bool = True
) -> tuple[np.ndarray, PrintoutTruth]:
    """Render a 12-lead record as a printout page.

    ``signal12``: (n_samples, 12) in mV, LEADS12 order, any rate ``fs`` (10 s is the page's length;
    a shorter record leaves the rest blank, a longer one is cut to 10 s). Returns ``(image, truth)``:
    an (H, W, 3) uint8 RGB image and the :class:`PrintoutTruth` (panels with their sample spans, the
    pixel <-> s / mV transform; ``truth.plotted()`` is the (12, n) mask of drawn samples).
    """
    x = _as_leads_last(signal12)
    lay = get_layout(layout)
    n = min(x.shape[0], int(round(DURATION_S * fs)))
    x = x[:n]
    px_per_mm = float(dpi) / 25.4
    width_mm, height_mm = lay.page_mm()
    width, height = int(round(width_mm * px_per_mm)), int(round(height_mm * px_per_mm))
    width_mm, height_mm = width / px_per_mm, height / px_per_mm  # page edges on whole pixels: one scale, no margin
    fig, canvas, ax = _canvas(width, height, width_mm, height_mm, px_per_mm)
    _grid(ax, width_mm, height_mm, px_per_mm, SIGNAL_X_MM, 0.0)
    truth = PrintoutTruth(lay.name, float(fs), n, width, height, px_per_mm, px_per_mm)
    lw = _pt(TRACE_MM, px_per_mm)
    pulse_x = np.array([0.0, PULSE_LEAD_MM, PULSE_LEAD_MM, PULSE_LEAD_MM + PULSE_WIDTH_MM, PULSE_LEAD_MM + PULSE_WIDTH_MM])
    pulse_x = LEFT_MM + np.r_[pulse_x, PULSE_LEAD_MM + PULSE_WIDTH_MM + PULSE_TAIL_MM]
    pulse_y = np.array([0.0, 0.0, 1.0, 1.0, 0.0, 0.0]) * PULSE_HEIGHT_MV * MM_PER_MV
    for r in range(lay.n_rows):
        base = lay.baseline_mm(r)
        if pulse:
            ax.plot(pulse_x, base - pulse_y, color=INK_RGB, lw=lw, snap=False, solid_joinstyle="miter", zorder=5)
            truth.pulses.append((LEFT_MM + PULSE_LEAD_MM, base))
    for p in panels_of(lay, n):
        idx = np.arange(p.start, p.stop)
        ax.plot(
            SIGNAL_X_MM + MM_PER_S * idx / fs, p.baseline_mm - MM_PER_MV * x[idx, LEADS12.index(p.lead)],
            color=INK_RGB, lw=lw, snap=False, solid_joinstyle="round", solid_capstyle="round", zorder=5,
        )  # fmt: skip
        if labels:
            ax.text(
                SIGNAL_X_MM + MM_PER_S * p.start / fs + LABEL_DX_MM, p.baseline_mm + LABEL_DY_MM, LEAD_NAMES[p.lead],
                fontsize=LABEL_MM * 72 / 25.4, color=INK_RGB, ha="left", va="baseline", zorder=6,
            )  # fmt: skip
        truth.panels.append(p)
    return _image(fig, canvas, width, height), truth


def render_single_lead(
    signal: np.ndarray,
    fs: float,
    size: tuple[int, int] = SINGLE_LEAD_PX,
    band_hz: tuple[float, float] | None = SINGLE_LEAD_BAND_HZ,
    filter_order: int = 2,
    grid: bool = True,
    lead: str = "I",
) -> tuple[np.ndarray, PrintoutTruth, np.ndarray]:
    """The source's single-lead image: 10 s of one lead on a 250 mm x 60 mm strip (0 mV in the middle).

    ``signal``: (n_samples,) in mV at ``fs``; band-passed (zero-phase Butterworth of ``filter_order``,
    ``band_hz``; None: as given) before drawing. ``size``: (width, height) px; 1968 x 472 is the
    source's (200 dpi); other sizes scale x and y separately (e.g. 384 x 96 for a CPU-sized model).
    Returns ``(image, truth, drawn)``: the uint8 RGB image, its truth (one panel, no pulse) and the
    drawn (band-passed) signal, the learned digitiser's target.
    """
    y = np.asarray(signal, dtype=np.float64).ravel()
    n = min(y.size, int(round(DURATION_S * fs)))
    y = y[:n]
    if band_hz is not None:
        y = bandpass(y, fs, band_hz[0], band_hz[1], filter_order)
    width, height = int(size[0]), int(size[1])
    width_mm, height_mm = MM_PER_S * DURATION_S, SINGLE_LEAD_HEIGHT_MM
    ppx, ppy = width / width_mm, height / height_mm
    fig, canvas, ax = _canvas(width, height, width_mm, height_mm, ppx)
    if grid:
        _grid(ax, width_mm, height_mm, min(ppx, ppy), 0.0, height_mm / 2)
    t = np.arange(n)
    ax.plot(MM_PER_S * t / fs, height_mm / 2 - MM_PER_MV * y, color=INK_RGB, lw=_pt(TRACE_MM, ppx), snap=False, zorder=5)
    truth = PrintoutTruth("single", float(fs), n, width, height, ppx, ppy, t0_mm=0.0)
    truth.panels.append(Panel(lead, 0, 0, n, height_mm / 2))
    return _image(fig, canvas, width, height), truth, y
