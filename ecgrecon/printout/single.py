"""Classical digitiser of the source's single-lead image (one 10-s strip, no calibration pulse, 0 mV in the middle).

The strip's geometry is the only prior (as the page layout is for :func:`~ecgrecon.printout.digitize.digitize_classical`):
250 mm x 60 mm, t = 0 at the left edge, 0 mV half-way down, 25 mm/s and 10 mm/mV. The steps reuse the page digitiser's:
ink and grid maps, Hough deskew (+ its sub-pixel residual), then one column-wise minimum-cost path through the ink
(:func:`~ecgrecon.printout.digitize.trace_path`) and the stroke's centre / tip per column
(:func:`~ecgrecon.printout.digitize.sample_rows`). There is no calibration pulse, and at a CPU-sized 384 x 96 px image
the 1 mm grid is finer than two pixels, so the ruler is the 5 mm (major) grid: its pitch along each axis (spectrum of the
grid map's profiles, :func:`~ecgrecon.printout.digitize.grid_pitch`) gives px per mm, its phase the column of t = 0 (a
major line; a crop moves it by less than one pitch) and the row of 0 mV (the major line nearest the strip's middle).
Where the major grid is not regular enough the strip's nominal scale (the image size) and origin are used.
"""

from __future__ import annotations

import numpy as np
from skimage.morphology import skeletonize

from ecgrecon.printout.digitize import (
    GRID_CHROMA,
    MIN_GRID_SHARE,
    MIN_PEAK_RATIO,
    MIN_SKEW_DEG,
    RUN_INK,
    _fail,
    _keep_long_strokes,
    grid_pitch,
    ink_and_grid,
    read_image,
    residual_skew,
    rotate,
    sample_rows,
    skew_angle,
    stroke_centres,
    trace_path,
)
from ecgrecon.printout.layout import DURATION_S, MAJOR_MM, MM_PER_MV, MM_PER_S
from ecgrecon.printout.render import SINGLE_LEAD_HEIGHT_MM

STRIP_WIDTH_MM = MM_PER_S * DURATION_S  # 250 mm


def _phase(profile: np.ndarray, pitch: float) -> float:
    """Fractional index (mod ``pitch``) of the lines of period ``pitch`` px in a 1-D profile (its Fourier phase)."""
    x = np.arange(profile.size, dtype=np.float64)
    z = np.sum((profile - profile.mean()) * np.exp(-2j * np.pi * x / pitch))
    return float(-np.angle(z) / (2 * np.pi) * pitch) % pitch


def major_ruler(chroma: np.ndarray) -> tuple[float, float, float, float, bool]:
    """(px per mm x, px per mm y, column of t = 0, row of 0 mV, measured) of a (deskewed) strip's grid map; ``measured``
    False: the major grid was not regular enough and the strip's nominal geometry is returned."""
    h, w = chroma.shape
    ppx, ppy = w / STRIP_WIDTH_MM, h / SINGLE_LEAD_HEIGHT_MM
    col0, row0 = -0.5, (SINGLE_LEAD_HEIGHT_MM / 2) * ppy - 0.5
    px, ratio_x = grid_pitch(chroma.mean(axis=0), MAJOR_MM * ppx)
    py, ratio_y = grid_pitch(chroma.mean(axis=1), MAJOR_MM * ppy)
    if not (min(ratio_x, ratio_y) >= MIN_PEAK_RATIO):
        return ppx, ppy, col0, row0, False
    ppx, ppy = px / MAJOR_MM, py / MAJOR_MM
    # a left crop of c px puts t = 0 at column -0.5 - c; the grid's phase gives c modulo the pitch, and the width cut off
    # (250 mm at the measured scale minus the image's width) bounds it: the candidate nearest half of that cut is taken
    c_mod = (-0.5 - _phase(chroma.mean(axis=0), px)) % px
    cut = max(0.0, STRIP_WIDTH_MM * ppx - w)
    cands = c_mod + px * np.arange(-1, int(cut // px) + 2)
    col0 = -0.5 - float(cands[np.argmin(np.abs(cands - cut / 2))])
    phase_y = _phase(chroma.mean(axis=1), py)
    mid = (SINGLE_LEAD_HEIGHT_MM / 2) * ppy - 0.5
    row0 = phase_y + py * np.round((mid - phase_y) / py)
    return ppx, ppy, col0, float(row0), True


def digitize_single_classical(image, fs: float = 100.0, n_samples: int | None = None, name: str | None = None) -> tuple[np.ndarray, dict]:
    """Digitise a single-lead strip image (:func:`~ecgrecon.printout.render.render_single_lead`'s format).

    ``image``: a path or an (H, W, 3) / (H, W) array. Returns ``(signal, diagnostics)``: (n_samples,) mV (default 10 s
    at ``fs``; NaN where the path found no ink) and the skew, scale and share of columns without ink. Raises
    :class:`~ecgrecon.printout.layout.PrintoutError` (one line naming the file) for an unreadable, empty or grid-less image.
    """
    img, name = read_image(image, name)
    n = int(round(DURATION_S * fs)) if n_samples is None else int(n_samples)
    ink, chroma = ink_and_grid(img)
    if (chroma > GRID_CHROMA).mean() < MIN_GRID_SHARE:
        _fail(name, "no grid found (no coloured grid lines: grayscale or blank paper)")
    h, w = ink.shape
    ppx = w / STRIP_WIDTH_MM
    angle = skew_angle(chroma)
    if abs(angle) >= MIN_SKEW_DEG:
        chroma = ink_and_grid(rotate(img, -angle))[1]
    angle += residual_skew(chroma, ppx)
    if abs(angle) >= MIN_SKEW_DEG:
        img = rotate(img, -angle)
        ink, chroma = ink_and_grid(img)
    ppx, ppy, col0, base, measured = major_ruler(chroma)
    strokes = _keep_long_strokes(ink, min(ppx, ppy))
    skel = skeletonize(strokes > RUN_INK)
    path = trace_path(strokes[None], np.zeros((1, w), dtype=bool), np.array([base]))
    runs = stroke_centres(strokes[None], skel[None], path)
    cols = np.arange(w, dtype=np.float64)
    at = col0 + MM_PER_S * np.arange(n) / fs * ppx
    ok = np.isfinite(runs["centre"][0])
    rows = sample_rows(cols, {k: v[0] for k, v in runs.items()}, at)
    signal = (base - rows) / (MM_PER_MV * ppy)
    diagnostics = {
        "name": name,
        "skew_deg": float(angle),
        "px_per_mm_x": ppx,
        "px_per_mm_y": ppy,
        "t0_column": col0,
        "baseline_row": base,
        "grid_measured": measured,
        "gap_share": float(1.0 - ok.mean()),
    }
    return signal, diagnostics
