"""Classical digitiser: a printout image (layout known) -> the 12 leads in mV, NaN where not plotted.

Steps of :func:`digitize_classical`:

1. **read** the image (a path or an array); unreadable, empty, uniform -> :class:`PrintoutError`;
2. **ink and grid maps**: the paper's brightness is estimated by a grey-level closing (OpenCV), the
   ink map is the darkness relative to it (black trace and text) and the grid map the chroma
   (max - min of R, G, B) relative to it: the grid is coloured, the trace and the paper are not,
   whatever the grid's hue. No chroma -> no grid -> :class:`PrintoutError`;
3. **deskew**: OpenCV's Hough transform on the binarised grid map (downscaled) finds the grid lines
   near 0 and 90 degrees; their median deviation, refined by the sub-pixel shift of the grid's row
   profile between the page's left and right thirds (:func:`residual_skew`), is the rotation undone
   (``cv2.warpAffine``, one resampling);
   **perspective** (:func:`ecgrecon.printout.geometry.grid_homography`): the grid's 5 mm lines, located and tracked
   in strips of the deskewed grid map, give the homography (``cv2.findHomography``) that makes them parallel and
   evenly spaced; where its projective part changes the scale across the image by more than ``MIN_NONPARALLEL``
   (0.2 %), the input image is warped once by it and the rotation together (``cv2.warpPerspective``), and the
   rows' time axes are then linear (no per-row ruler). Clean renders and scans measure ~1e-4 and are not resampled;
4. **grid pitch** (px per mm, x and y separately) from the spectrum of the grid map's column and row
   profiles: the peak near the pitch the page width implies (the layout fixes the page in mm, which
   picks the 1 mm line family rather than a harmonic), refined by parabolic interpolation on a
   zero-padded FFT;
5. **calibration pulses** by template matching (``cv2.matchTemplate``) on the ink map with text and
   specks removed (connected components smaller than ``MAX_GLYPH_MM``); their number, alignment and
   spacing must match the layout's rows (else :class:`PrintoutError`: wrong layout). Each pulse gives
   its row's 0 mV line (baseline stroke), the mV scale (pulse height = 1 mV) and the time origin
   (the rising edge, a fixed distance before t = 0);
6. **per row**: the tilt of its horizontal grid lines (:func:`row_tilt`) and its time axis from the
   grid's own ruler (:func:`grid_ruler`: the vertical lines crossing the row, a cubic x(mm); else
   the row's grid pitch): what a perspective view leaves after the global deskew, to first order;
7. **trace**: per row, a column-wise minimum-cost path through the ink (:func:`trace_path`: cost
   1 - ink, ``JUMP_COST`` per pixel moved between columns, free along a dark run and at panel
   starts); in each column the run the path crosses gives the stroke's centre, edges and skeleton
   (:func:`stroke_centres`); samples are read at their columns (:func:`sample_rows`), peaks and
   troughs from the run's outer edge, and where samples lie a pixel or more apart each vertex of
   the drawn polyline is fitted in its own column (:func:`_fit_vertices`).

The layout geometry (:mod:`ecgrecon.printout.layout`) is the only prior: the digitiser never reads
the renderer's truth. Traces of neighbouring rows that touch (a 4-mV R wave reaching the row above) are not
separated.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from scipy.signal import find_peaks
from skimage.filters import threshold_otsu
from skimage.morphology import skeletonize

from ecgrecon import LEADS12
from ecgrecon.printout.geometry import MIN_NONPARALLEL, grid_homography, warp_perspective
from ecgrecon.printout.layout import (
    DURATION_S,
    LEFT_MM,
    MM_PER_MV,
    MM_PER_S,
    PULSE_HEIGHT_MV,
    PULSE_LEAD_MM,
    PULSE_TAIL_MM,
    PULSE_WIDTH_MM,
    SIGNAL_X_MM,
    Layout,
    PrintoutError,
    get_layout,
    panels_of,
)

MIN_SIDE_PX = 64  # smaller images are refused as empty
MIN_GRID_SHARE = 0.01  # share of pixels with visible chroma below which there is no grid
GRID_CHROMA = 0.06  # chroma (relative to the paper) counted as grid
MIN_PEAK_RATIO = 8.0  # grid spectrum peak / median of its neighbourhood: below, no regular grid
PITCH_SEARCH = 0.2  # the 1 mm pitch is looked for within +-20 % of the page-size estimate
HOUGH_MAX_SIDE = 1200  # grid map downscaled to this longer side for the Hough transform
HOUGH_RANGE_DEG = 8.0  # skew searched in +-8 degrees
HOUGH_STEP_DEG = 0.05
MIN_SKEW_DEG = 0.02  # below this the image is not resampled
MAX_GLYPH_MM = 4.0  # ink components smaller than this (both sides) are text or specks
JUMP_COST = 0.1  # trace path: cost per pixel moved between columns (missing ink costs 1 per column)
BASELINE_PULL = 1e-3  # weak pull to the row's baseline per pixel (breaks ties where there is no ink)
RUN_INK = 0.25  # ink level that belongs to a stroke when its centre is measured
BAND_ROWS = 0.7  # trace searched within +-0.7 row pitches of the baseline
PULSE_MIN_SCORE = 0.35  # normalised template correlation of a calibration pulse
RULER_MIN_LINES = 50  # grid lines a row needs for its own ruler (x -> mm), else its pitch is used
TILT_STRIPS = 8  # vertical strips in which each row's grid tilt is measured
VERTEX_MIN_PX = 1.0  # samples this far apart (px) or more: each vertex of the drawn polyline is fitted in its column
VERTEX_SWEEPS = 20  # damped Jacobi sweeps of the vertex fit
EXTREME_TOL = 0.6  # in half line widths (tuned on clean and 3-degree rotated renders of synthetic records)


def _fail(name: str, why: str):
    raise PrintoutError(f"{name}: {why}")


def read_image(image, name: str | None = None) -> tuple[np.ndarray, str]:
    """(H, W, 3) uint8 RGB from a path or an array (grayscale is stacked to three channels); ``name`` for messages."""
    if isinstance(image, (str, Path)):
        name = name or str(image)
        img = cv2.imread(str(image), cv2.IMREAD_COLOR) if Path(image).is_file() else None
        if img is None:
            _fail(name, "unreadable image (missing, empty or not an image file)")
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    else:
        name = name or "<array>"
        img = np.asarray(image)
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        if img.ndim != 3 or img.shape[2] not in (3, 4) or img.size == 0:
            _fail(name, f"not an image (array of shape {img.shape})")
        img = img[..., :3]
        if img.dtype != np.uint8:
            img = np.clip(img * (255.0 if np.issubdtype(img.dtype, np.floating) and img.max() <= 1 else 1.0), 0, 255).astype(np.uint8)
    if min(img.shape[:2]) < MIN_SIDE_PX:
        _fail(name, f"empty image ({img.shape[1]} x {img.shape[0]} px)")
    if float(img.std()) < 2.0:
        _fail(name, "empty image (uniform, nothing printed)")
    return np.ascontiguousarray(img), name


def ink_and_grid(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ink, chroma) float32 maps in [0, 1]: darkness and colourfulness relative to the local paper brightness."""
    r, g, b = cv2.split(img)
    vmax, vmin = cv2.max(cv2.max(r, g), b), cv2.min(cv2.min(r, g), b)
    h, w = vmax.shape
    k = max(5, int(min(h, w) / 80) | 1)
    # the paper: a closing wider than any line erases the dark strokes; a blur (at 1/8 size: cheaper) evens out the grid
    closed = cv2.morphologyEx(vmax, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    small = cv2.resize(closed, (max(1, w // 8), max(1, h // 8)), interpolation=cv2.INTER_AREA)
    paper = cv2.resize(cv2.GaussianBlur(small, (0, 0), max(1.0, k / 8)), (w, h), interpolation=cv2.INTER_LINEAR)
    paper = np.maximum(paper.astype(np.float32), 12.0)
    ink = np.clip(1.0 - vmax.astype(np.float32) / paper, 0.0, 1.0)
    chroma = np.clip(cv2.subtract(vmax, vmin).astype(np.float32) / paper, 0.0, 1.0)
    return ink, chroma


def skew_angle(chroma: np.ndarray) -> float:
    """Rotation of the grid in degrees (positive: counter-clockwise as displayed), from Hough lines near 0 and 90 degrees."""
    scale = min(1.0, HOUGH_MAX_SIDE / max(chroma.shape))
    small = cv2.resize(chroma, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else chroma
    binary = (small > max(GRID_CHROMA, threshold_otsu(small))).astype(np.uint8) * 255
    step, rng = np.deg2rad(HOUGH_STEP_DEG), np.deg2rad(HOUGH_RANGE_DEG)
    devs = []
    for lo, hi, ref, side in (
        (0.0, rng, 0.0, small.shape[0]),
        (np.pi - rng, np.pi, np.pi, small.shape[0]),
        (np.pi / 2 - rng, np.pi / 2 + rng, np.pi / 2, small.shape[1]),
    ):
        lines = cv2.HoughLines(binary, 1, step, int(0.4 * side), min_theta=lo, max_theta=hi)
        if lines is not None:
            devs += list(lines[:200, 0, 1] - ref)
    if not devs:
        return 0.0
    return -float(np.rad2deg(np.median(devs)))


def _profile_shift(a: np.ndarray, b: np.ndarray, max_lag: int) -> float:
    """Sub-pixel lag (b relative to a) of the cross-correlation peak within +-max_lag."""
    a, b = a - a.mean(), b - b.mean()
    n = 1 << int(np.ceil(np.log2(2 * a.size)))
    xc = np.fft.irfft(np.conj(np.fft.rfft(a, n)) * np.fft.rfft(b, n), n)
    lags = np.r_[np.arange(0, max_lag + 1), np.arange(-max_lag, 0)]
    vals = xc[lags]
    i = int(np.argmax(vals))
    if 0 < i < len(vals) - 1 and lags[i - 1] == lags[i] - 1 and lags[i + 1] == lags[i] + 1:
        p, q, r = vals[i - 1], vals[i], vals[i + 1]
        return float(lags[i] + (0.5 * (p - r) / (p - 2 * q + r) if p - 2 * q + r < 0 else 0.0))
    return float(lags[i])


def residual_skew(chroma: np.ndarray, pitch_px: float) -> float:
    """Rotation left after a coarse deskew, in degrees (rotate()'s convention), from how far the grid's row profile of
    the left third is shifted against the right third (and the column profiles of top against bottom).

    Written out: the Hough accumulator resolves about 1 / line length in angle (0.05 degrees here,
    1.5 px over a page); a sub-pixel shift between profiles of the grid's own periodic lines is ~10x finer."""
    h, w = chroma.shape
    lag = max(1, int(0.45 * pitch_px))
    dy = _profile_shift(chroma[:, : w // 3].mean(axis=1), chroma[:, -(w // 3) :].mean(axis=1), lag)
    dx = _profile_shift(chroma[: h // 3].mean(axis=0), chroma[-(h // 3) :].mean(axis=0), lag)
    a_h = np.rad2deg(np.arctan2(-dy, w - w // 3))  # lines lower on the right: turned clockwise as displayed (negative)
    a_v = np.rad2deg(np.arctan2(dx, h - h // 3))
    return float(0.5 * (a_h + a_v))


def rotate(img: np.ndarray, angle_deg: float) -> np.ndarray:
    """``img`` rotated by ``angle_deg`` about its centre (same size, edges replicated)."""
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), angle_deg, 1.0)
    return cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)


def grid_pitch(profile: np.ndarray, expected_px: float) -> tuple[float, float]:
    """(pitch in px, peak ratio) of the grid lines in a 1-D profile, searched within +-PITCH_SEARCH of ``expected_px``."""
    p = np.asarray(profile, dtype=np.float64)
    p = (p - p.mean()) * np.hanning(p.size)
    nfft = 1 << int(np.ceil(np.log2(p.size * 32)))
    power = np.abs(np.fft.rfft(p, nfft)) ** 2
    freqs = np.fft.rfftfreq(nfft)
    band = (freqs >= 1 / (expected_px * (1 + PITCH_SEARCH))) & (freqs <= 1 / (expected_px * (1 - PITCH_SEARCH)))
    if not band.any() or power[band].max() <= 0:
        return float("nan"), 0.0
    i = int(np.flatnonzero(band)[np.argmax(power[band])])
    a, b, c = np.log(power[i - 1 : i + 2] + 1e-300)
    shift = 0.5 * (a - c) / (a - 2 * b + c) if (a - 2 * b + c) < 0 else 0.0
    f = (i + shift) * (freqs[1] - freqs[0])
    near = (freqs >= f / 3) & (freqs <= 3 * f)
    return float(1.0 / f), float(power[i] / max(np.median(power[near]), 1e-300))


def _keep_long_strokes(ink: np.ndarray, px_per_mm: float) -> np.ndarray:
    """Ink with text glyphs and specks (components smaller than MAX_GLYPH_MM on both sides) removed."""
    on = (ink > max(RUN_INK, min(0.5, threshold_otsu(ink[ink > 0.05]) if (ink > 0.05).sum() > 100 else 0.5))).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(on, connectivity=8)
    big = np.maximum(stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]) >= MAX_GLYPH_MM * px_per_mm
    big[0] = False
    keep = cv2.dilate(big[labels].astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    return np.where(keep, ink, 0.0).astype(np.float32)


def _pulse_template(ppx: float, ppy: float) -> tuple[np.ndarray, float, float]:
    """Template of a calibration pulse (with 1 mm of paper around it) and the (x, y) of its rising edge foot in it."""
    pad = 1.0
    w = int(np.ceil((PULSE_LEAD_MM + PULSE_WIDTH_MM + PULSE_TAIL_MM + 2 * pad) * ppx))
    h = int(np.ceil((PULSE_HEIGHT_MV * MM_PER_MV + 2 * pad) * ppy))
    xs = pad + np.array([0, PULSE_LEAD_MM, PULSE_LEAD_MM, PULSE_LEAD_MM + PULSE_WIDTH_MM, PULSE_LEAD_MM + PULSE_WIDTH_MM])
    xs = np.r_[xs, pad + PULSE_LEAD_MM + PULSE_WIDTH_MM + PULSE_TAIL_MM] * ppx
    base = (pad + PULSE_HEIGHT_MV * MM_PER_MV) * ppy
    ys = base - np.array([0, 0, 1, 1, 0, 0]) * PULSE_HEIGHT_MV * MM_PER_MV * ppy
    tpl = np.zeros((h, w), np.uint8)
    shift = 4  # cv2 draws at fixed point: 4 fractional bits
    pts = np.round(np.c_[xs, ys] * (1 << shift)).astype(np.int32)
    cv2.polylines(tpl, [pts], False, 255, thickness=max(1, int(round(0.3 * ppx))), lineType=cv2.LINE_AA, shift=shift)
    return tpl.astype(np.float32) / 255.0, (pad + PULSE_LEAD_MM) * ppx, base


def _centroid(w: np.ndarray, axis: int) -> np.ndarray:
    idx = np.arange(w.shape[axis], dtype=np.float64).reshape([-1 if a == axis else 1 for a in range(w.ndim)])
    s = w.sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(s > 0, (w * idx).sum(axis=axis) / np.where(s > 0, s, 1), np.nan)


def find_pulses(ink: np.ndarray, lay: Layout, ppx: float, ppy: float, name: str) -> list[dict]:
    """The calibration pulse of each row, top to bottom: rising-edge x, baseline y, top y (fractional px)."""
    tpl, fx, fy = _pulse_template(ppx, ppy)
    region = ink[:, : min(ink.shape[1], int(0.2 * ink.shape[1]) + tpl.shape[1])]
    if region.shape[0] < tpl.shape[0] or region.shape[1] < tpl.shape[1]:
        _fail(name, "image too small for the calibration pulses")
    score = cv2.matchTemplate(region, tpl, cv2.TM_CCOEFF_NORMED)
    energy = cv2.matchTemplate(region * region, np.ones_like(tpl), cv2.TM_CCORR)  # ink in each window
    score = np.where(energy > 0.25 * float((tpl * tpl).sum()), np.nan_to_num(score, nan=0.0), 0.0)  # blank paper correlates at random
    found = []
    best = float(score.max())
    half = int(0.5 * lay.row_pitch_mm * ppy)
    while True:
        r, c = np.unravel_index(int(np.argmax(score)), score.shape)
        s = float(score[r, c])
        if s < max(PULSE_MIN_SCORE, 0.5 * best) or len(found) > 3 * lay.n_rows:
            break
        found.append((r, c, s))
        score[max(0, r - half) : r + half + 1, :] = -1.0
    if len(found) != lay.n_rows:
        _fail(name, f"found {len(found)} calibration pulses, layout {lay.name} has {lay.n_rows} rows (wrong layout?)")
    found.sort()
    pulses = []
    for r, c, _ in found:
        x_rise, y_base = c + fx, r + fy
        y_top = y_base - PULSE_HEIGHT_MV * MM_PER_MV * ppy
        m = lambda mm: max(1, int(round(mm * ppx)))  # noqa: E731
        my = lambda mm: max(1, int(round(mm * ppy)))  # noqa: E731

        # baseline and top: centre rows of the horizontal strokes, median over their columns
        def stroke_y(x0, x1, y):
            y0 = max(0, int(y) - my(1.5))
            win = ink[y0 : int(y) + my(1.5) + 1, max(0, int(x0)) : int(x1)]
            found = _centroid(win, 0) if win.size else np.array([np.nan])
            return y0 + float(np.nanmedian(found)) if np.isfinite(found).any() else y

        y_base = stroke_y(x_rise - m(PULSE_LEAD_MM) + m(0.2), x_rise - m(0.3), y_base)
        y_top = stroke_y(x_rise + m(1.0), x_rise + m(PULSE_WIDTH_MM - 1.0), y_top)
        # rising edge: centre column of the vertical stroke, median over its middle rows
        x0 = max(0, int(x_rise) - m(1.0))
        win = ink[int(y_base - 0.7 * (y_base - y_top)) : int(y_base - 0.3 * (y_base - y_top)) + 1, x0 : int(x_rise) + m(1.0) + 1]
        found = _centroid(win, 1) if win.size else np.array([np.nan])
        x_rise = x0 + float(np.nanmedian(found)) if np.isfinite(found).any() else x_rise
        pulses.append({"x": x_rise, "baseline": y_base, "top": y_top})
    xs = np.array([p["x"] for p in pulses])
    ys = np.array([p["baseline"] for p in pulses])
    if np.ptp(xs) > 3.0 * ppx:
        _fail(name, f"calibration pulses not aligned ({np.ptp(xs) / ppx:.1f} mm apart in x; wrong layout?)")
    if len(ys) > 1:
        gap = np.diff(ys) / ppy
        if np.any(np.abs(gap - lay.row_pitch_mm) > 0.15 * lay.row_pitch_mm):
            _fail(name, f"rows {np.median(gap):.1f} mm apart, layout {lay.name} has {lay.row_pitch_mm:g} mm (wrong layout?)")
    return pulses


def _l1_envelope(d: np.ndarray, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """min over y' of d[..., y'] + lam * |y - y'| and its argmin, for each row of (R, H) (two cumulative-min passes)."""
    h = d.shape[-1]
    y = np.arange(h)
    g = d - lam * y
    cf = np.minimum.accumulate(g, axis=-1)
    af = np.maximum.accumulate(np.where(g <= cf, y, 0), axis=-1)
    gb = d + lam * y
    cb = np.minimum.accumulate(gb[..., ::-1], axis=-1)[..., ::-1]
    ab = np.minimum.accumulate(np.where(gb <= cb, y, h)[..., ::-1], axis=-1)[..., ::-1]
    fwd, bwd = cf + lam * y, cb - lam * y
    return np.minimum(fwd, bwd), np.where(fwd <= bwd, af, ab)


def _run_min(a: np.ndarray, on: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row of (R, H): each pixel of a run of ``on`` pixels gets the run's minimum of ``a`` and the row of it; others keep their own."""
    n_rows, h = a.shape
    flat, on_f = a.ravel(), on.ravel()
    idx = np.arange(flat.size)
    cont = on_f.copy()
    cont[1:] &= on_f[:-1]
    cont[::h] = False  # a run never continues into the next row
    starts = np.flatnonzero(~cont)
    lengths = np.diff(np.r_[starts, flat.size])
    m = np.repeat(np.minimum.reduceat(flat, starts), lengths)
    rep = np.repeat(np.minimum.reduceat(np.where(flat == m, idx, flat.size), starts), lengths)
    return m.reshape(n_rows, h), (rep % h).reshape(n_rows, h)


def trace_path(band: np.ndarray, reset: np.ndarray, baseline: np.ndarray) -> np.ndarray:
    """Minimum-cost path through (R, H, K) ink bands, one row of the path per column; free jumps where ``reset[:, k]``.

    Cost: 1 - ink at each visited pixel, ``JUMP_COST`` per pixel moved between neighbouring columns,
    but moving along a dark run of the current column is free (a steep stroke is one run per column,
    so climbing it costs nothing and the path never cuts under a QRS spike).
    Written out (not a library call): no image library offers a column-wise path with a
    distance-proportional jump cost, free runs and resets; it is a per-column dynamic program
    vectorised over rows (L1 envelope by cumulative minima, run minima by ``reduceat``)."""
    n_rows, h, k_cols = band.shape
    pull = BASELINE_PULL * np.abs(np.arange(h)[None, :] - baseline[:, None])
    cost = 1.0 - band
    on = band > RUN_INK
    acc, _ = _run_min(cost[:, :, 0] + pull, on[:, :, 0])
    back = np.zeros((n_rows, h, k_cols), dtype=np.int32)
    rows = np.arange(n_rows)[:, None]
    for k in range(1, k_cols):
        env, arg = _l1_envelope(acc, JUMP_COST)
        free = reset[:, k]
        if free.any():
            env[free] = acc[free].min(axis=1, keepdims=True)
            arg[free] = np.argmin(acc[free], axis=1)[:, None]
        acc, rep = _run_min(env + cost[:, :, k] + pull, on[:, :, k])
        back[:, :, k] = arg[rows, rep]
    path = np.zeros((n_rows, k_cols), dtype=np.int64)
    path[:, -1] = np.argmin(acc, axis=1)
    for k in range(k_cols - 1, 0, -1):
        path[:, k - 1] = back[np.arange(n_rows), path[:, k], k]
    return path


def stroke_centres(band: np.ndarray, skel: np.ndarray, path: np.ndarray) -> dict[str, np.ndarray]:
    """Per column of the (R, H, K) bands, the dark run each path point lies in: ``centre`` (ink-weighted), ``top`` /
    ``bottom`` (where the ink crosses ``RUN_INK``, linear between pixels) and ``sk_top`` / ``sk_bottom`` (the
    extent of the run's skeleton, the stroke's centre line); NaN off ink."""
    n_rows, h, k_cols = band.shape
    cols = np.moveaxis(band, 1, 2).reshape(-1, h)  # (R*K, H)
    sk = np.moveaxis(skel, 1, 2).reshape(-1, h)
    y = path.reshape(-1)
    on = cols > RUN_INK
    run = np.cumsum(~on, axis=1)
    rows = np.arange(len(y))
    same = on & (run == run[rows, y][:, None]) & on[rows, y][:, None]
    centre = _centroid(np.where(same, cols, 0.0), 1)
    any_ = same.any(axis=1)
    i_top = np.argmax(same, axis=1)
    i_bot = h - 1 - np.argmax(same[:, ::-1], axis=1)
    above = cols[rows, np.maximum(i_top - 1, 0)] * (i_top > 0)
    below = cols[rows, np.minimum(i_bot + 1, h - 1)] * (i_bot < h - 1)
    at_top, at_bot = cols[rows, i_top], cols[rows, i_bot]
    with np.errstate(invalid="ignore", divide="ignore"):
        top = i_top - np.clip((at_top - RUN_INK) / (at_top - above), 0, 1)
        bottom = i_bot + np.clip((at_bot - RUN_INK) / (at_bot - below), 0, 1)
    sks = same & sk
    has_sk = sks.any(axis=1)
    sk_top = np.where(has_sk, np.argmax(sks, axis=1), np.nan)
    sk_bot = np.where(has_sk, h - 1 - np.argmax(sks[:, ::-1], axis=1), np.nan)
    out = {"centre": centre, "top": np.where(any_, top, np.nan), "bottom": np.where(any_, bottom, np.nan)}
    out |= {"sk_top": np.where(any_, sk_top, np.nan), "sk_bottom": np.where(any_, sk_bot, np.nan)}
    return {key: v.reshape(n_rows, k_cols) for key, v in out.items()}


def sample_rows(cols: np.ndarray, runs: dict[str, np.ndarray], at: np.ndarray) -> np.ndarray:
    """Trace row at fractional columns ``at`` (one per sample, in order) from one band row's ``runs`` (:func:`stroke_centres`).

    Each column's value at its centre is its stroke's centre line, except in a column holding a
    peak or trough (its run reaches above / below both neighbours' by more than the line is wide),
    where the centre of the run lies inside the spike: there it is the run's outer edge minus half
    the line width (the tip). Samples are interpolated between column centres. Where samples lie
    ``VERTEX_MIN_PX`` or more apart, each is a vertex of the drawn polyline inside its own column
    and is fitted there (:func:`_fit_vertices`)."""
    centre, top, bottom = runs["centre"], runs["top"], runs["bottom"]
    ok = np.isfinite(centre)
    if ok.sum() < 2:
        return np.full(at.shape, np.nan)
    half = 0.5 * float(np.nanmedian(bottom[ok] - top[ok]))  # most columns are flat stretches: their run is the line width
    prev_t, next_t = np.r_[np.nan, top[:-1]], np.r_[top[1:], np.nan]
    prev_b, next_b = np.r_[np.nan, bottom[:-1]], np.r_[bottom[1:], np.nan]
    tall = (bottom - top) > 2 * half + 1.0
    with np.errstate(invalid="ignore"):
        peak = tall & (top < np.fmin(prev_t, next_t) - 0.25)
        trough = tall & (bottom > np.fmax(prev_b, next_b) + 0.25)
    tip = np.where(peak & ~trough, top + half, np.where(trough & ~peak, bottom - half, np.nan))
    value = np.where(np.isfinite(tip), tip, centre)
    ok = np.isfinite(value)
    y = np.interp(at, cols[ok], value[ok])
    if len(at) > 2 and np.median(np.diff(at)) >= VERTEX_MIN_PX:
        y = _fit_vertices(y, at, runs, half)
    return y


def _fit_vertices(v: np.ndarray, at: np.ndarray, runs: dict[str, np.ndarray], half: float) -> np.ndarray:
    """Vertex rows of the drawn polyline (one vertex per sample column ``at``) fitted to the ink of their columns.

    A vertex whose column's run reaches at least as high as both neighbouring columns' is a peak: the
    run's top plus half the line width (the stroke's round cap); one reaching lowest is a trough,
    alike. Elsewhere the line is monotone through the column and its centre line (the run's
    skeleton) spans [yL, yR], the line's rows at the column's edges, on the segments to the
    neighbouring vertices: damped Jacobi sweeps solve those for the vertex. Flat stretches keep the
    stroke centre. Written out: this inverts the renderer's geometry (straight segments between
    sample columns), which no library offers."""
    top, bottom, sk_t, sk_b = runs["top"], runs["bottom"], runs["sk_top"], runs["sk_bottom"]
    n_cols = len(top)
    k = np.clip(np.round(at).astype(int), 1, n_cols - 2)
    eps = EXTREME_TOL * max(0.5, half)  # a vertex this close to its neighbours' extreme still is the extreme
    with np.errstate(invalid="ignore"):
        is_top = top[k] <= np.fmin(top[k - 1], top[k + 1]) + eps
        is_bot = bottom[k] >= np.fmax(bottom[k - 1], bottom[k + 1]) - eps
        flat = (bottom[k] - top[k]) <= 2 * half + 1.0
    peak, trough = is_top & ~is_bot & ~flat, is_bot & ~is_top & ~flat
    mono = ~is_top & ~is_bot & np.isfinite(sk_t[k]) & np.isfinite(sk_b[k])
    v = np.where(peak, top[k] + half, np.where(trough, bottom[k] - half, v))
    d_left, d_right = np.r_[np.inf, np.diff(at)], np.r_[np.diff(at), np.inf]
    a_l = np.clip((at - (k - 0.5)) / d_left, 0.0, 0.95)
    a_r = np.clip(((k + 0.5) - at) / d_right, 0.0, 0.95)
    T, B = sk_t[k], sk_b[k]
    for _ in range(VERTEX_SWEEPS):
        prev, nxt = np.r_[v[0], v[:-1]], np.r_[v[1:], v[-1]]
        rising = prev <= nxt  # rows grow downwards: the left neighbour is the higher one, yL at the top of the range
        from_l = (np.where(rising, T, B) - a_l * prev) / (1 - a_l)
        from_r = (np.where(rising, B, T) - a_r * nxt) / (1 - a_r)
        w_l, w_r = (1 - a_l) ** 2, (1 - a_r) ** 2
        new = (from_l * w_l + from_r * w_r) / (w_l + w_r)
        v = np.where(mono & np.isfinite(new), 0.5 * v + 0.5 * new, v)
    v = np.where(mono, np.clip(v, top[k] + half, np.maximum(top[k] + half, bottom[k] - half)), v)  # inside its column's ink
    return v


def row_tilt(chroma: np.ndarray, base: float, half: int, x_lo: float, x_hi: float, pitch: float) -> float:
    """Slope (px per px) of a row's horizontal grid lines: what a perspective view leaves after the global deskew.

    The band's row profile of the grid in each of ``TILT_STRIPS`` vertical strips is compared with the next strip's
    (sub-pixel cross-correlation shift, under half a grid pitch); the chained shifts are fitted by a line.
    Written out for the same reason as :func:`residual_skew`: per-row precision finer than Hough's."""
    h = chroma.shape[0]
    lo, hi = max(0, int(base) - half), min(h, int(base) + half + 1)
    edges = np.linspace(max(0, x_lo), x_hi, TILT_STRIPS + 1).astype(int)
    if hi - lo < 8 or np.any(np.diff(edges) < 8):
        return 0.0
    prof = [chroma[lo:hi, a:b].mean(axis=1) for a, b in zip(edges[:-1], edges[1:])]
    lag = max(1, int(0.45 * pitch))
    shifts = np.r_[0.0, np.cumsum([_profile_shift(a, b, lag) for a, b in zip(prof[:-1], prof[1:])])]
    centres = 0.5 * (edges[:-1] + edges[1:])
    return float(np.polyfit(centres, shifts, 1)[0])


def grid_ruler(profile: np.ndarray, pitch: float) -> tuple[np.ndarray, np.ndarray]:
    """(column, mm) of the vertical grid lines crossing a row band: the page's own ruler, which follows a smooth
    stretch of the x axis (a perspective view). Lines are the profile's peaks (sub-pixel by a parabola); each gap
    counts round(gap / pitch) mm, so a line lost under the trace does not shift the count. The caller fits a cubic
    through them: single lines may sit off by a fraction of a pixel (a renderer snapping lines to pixels, print jitter)."""
    p = np.asarray(profile, dtype=np.float64)
    peaks, _ = find_peaks(p, distance=max(1, int(0.6 * pitch)), prominence=0.2 * (np.percentile(p, 95) - np.percentile(p, 5)))
    peaks = peaks[(peaks > 0) & (peaks < len(p) - 1)]
    if len(peaks) < 4:
        return np.zeros(0), np.zeros(0)
    a, b, c = p[peaks - 1], p[peaks], p[peaks + 1]
    den = a - 2 * b + c
    x = peaks + np.where(den < 0, 0.5 * (a - c) / np.where(den < 0, den, -1.0), 0.0)
    steps = np.maximum(1, np.round(np.diff(x) / pitch))
    return x, np.r_[0.0, np.cumsum(steps)]


def as_read(img: np.ndarray, diagnostics: dict) -> np.ndarray:
    """The image as :func:`digitize_classical` read it (skew, and perspective where corrected, undone), so that the
    diagnostics' rows and columns fit it."""
    if diagnostics.get("homography") is not None:
        return warp_perspective(img, np.asarray(diagnostics["homography"]))
    return rotate(img, -diagnostics["skew_deg"]) if abs(diagnostics.get("skew_deg", 0.0)) >= MIN_SKEW_DEG else img


def digitize_classical(image, layout: str | Layout = "3x4", fs: float = 100.0, n_samples: int | None = None, name: str | None = None):
    """Digitise a printout image of a known layout.

    ``image``: a file path or an (H, W, 3) RGB / (H, W) array. ``fs`` / ``n_samples``: the rate and
    length of the signals to return (default: 10 s at ``fs``). ``name``: used in error messages
    (default: the path). Returns ``(signals, diagnostics)``: signals (n_samples, 12) in mV, LEADS12
    order, NaN where the layout plots nothing (lead II from the rhythm strip where there is one);
    diagnostics: skew angle, grid pitch, pulses, the px <-> s / mV transform of each row, the
    share of columns without ink on the path and the short-panel copy of rhythm leads.
    Raises :class:`PrintoutError` (one line, naming the file) for an unreadable / empty image, an
    image without a colour grid, or one whose rows do not match ``layout``.
    """
    img, name = read_image(image, name)
    lay = get_layout(layout)
    n = int(round(DURATION_S * fs)) if n_samples is None else int(n_samples)
    page_w, page_h = lay.page_mm()
    ink, chroma = ink_and_grid(img)
    if (chroma > GRID_CHROMA).mean() < MIN_GRID_SHARE:
        _fail(name, "no grid found (no coloured grid lines: grayscale or blank paper)")
    h, w = ink.shape
    angle = skew_angle(chroma)
    if abs(angle) >= MIN_SKEW_DEG:
        chroma = ink_and_grid(rotate(img, -angle))[1]
    angle += residual_skew(chroma, w / page_w)
    original = img
    if abs(angle) >= MIN_SKEW_DEG:
        img = rotate(original, -angle)
        ink, chroma = ink_and_grid(img)
    hom, nonparallel = grid_homography(chroma, w / page_w)
    if hom is not None and nonparallel > MIN_NONPARALLEL:  # a perspective view: undo it (rotation included, one resampling)
        rot = np.eye(3)
        if abs(angle) >= MIN_SKEW_DEG:
            rot[:2] = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), -angle, 1.0)
        hom = hom @ rot
        img = warp_perspective(original, hom)
        ink, chroma = ink_and_grid(img)
    else:
        hom = None
    ppx, ratio_x = grid_pitch(chroma.mean(axis=0), w / page_w)
    ppy, ratio_y = grid_pitch(chroma.mean(axis=1), h / page_h)
    if not (min(ratio_x, ratio_y) >= MIN_PEAK_RATIO):
        _fail(name, f"no regular grid found (grid spectrum peak ratio {min(ratio_x, ratio_y):.1f} < {MIN_PEAK_RATIO:g})")
    strokes = _keep_long_strokes(ink, min(ppx, ppy))
    pulses = find_pulses(strokes, lay, ppx, ppy, name)
    skel = skeletonize(strokes > RUN_INK)
    px_per_s = MM_PER_S * ppx
    row_s = np.full(lay.n_rows, px_per_s)  # per row: a perspective view scales the rows differently
    base = np.array([p["baseline"] for p in pulses])
    px_per_mv = np.array([(p["baseline"] - p["top"]) / PULSE_HEIGHT_MV for p in pulses])

    # bands of rows around each baseline, columns over each row's 10 s (+1 column either side)
    half = int(round(BAND_ROWS * lay.row_pitch_mm * ppy))
    x_pulse = np.array([p["x"] for p in pulses])
    slope = np.array(
        [row_tilt(chroma, b, half, x, min(w, x + (SIGNAL_X_MM - LEFT_MM + MM_PER_S * n / fs) * ppx), ppy) for b, x in zip(base, x_pulse)]
    )
    for r, b in enumerate(base):
        lo, hi = max(0, int(b) - half), min(h, int(b) + half + 1)
        pitch_r, ratio_r = grid_pitch(chroma[lo:hi].mean(axis=0), ppx)
        if ratio_r >= MIN_PEAK_RATIO and abs(pitch_r / ppx - 1) < 0.05:
            row_s[r] = MM_PER_S * pitch_r
    t0 = x_pulse + (SIGNAL_X_MM - LEFT_MM - PULSE_LEAD_MM) * row_s / MM_PER_S  # column of t = 0 per row
    rulers = []  # per row: cubic x(mm) through the grid's vertical lines, mm counted from t = 0 (None: linear)
    for r, b in enumerate(base):
        lo, hi = max(0, int(b) - half), min(h, int(b) + half + 1)
        xr, mm = grid_ruler(chroma[lo:hi].mean(axis=0), row_s[r] / MM_PER_S)
        if hom is not None or len(xr) < RULER_MIN_LINES:  # rectified: the x axis is linear, the pitch is the ruler
            rulers.append(None)
            continue
        poly = np.polyfit(mm, xr, 3)
        dense = np.linspace(mm[0] - 50, mm[-1] + 50, 4 * int(mm[-1] - mm[0] + 100))
        rulers.append((poly, np.interp(t0[r], np.polyval(poly, dense), dense)))

    def column_of(r: int, t_s) -> np.ndarray:
        """Image column of time(s) ``t_s`` in row ``r``: along the grid's ruler where there is one, else linear."""
        t_s = np.asarray(t_s, dtype=np.float64)
        if rulers[r] is None:
            return t0[r] + t_s * row_s[r]
        poly, mm0 = rulers[r]
        return np.polyval(poly, mm0 + MM_PER_S * t_s)

    k_cols = int(np.ceil(n / fs * row_s.max())) + 3
    c0 = np.floor(t0).astype(int) - 1
    xs = c0[:, None] + np.arange(k_cols)[None, :]  # (R, K) image columns of each row's band
    centre_row = base[:, None] + slope[:, None] * (xs - x_pulse[:, None])  # each row's 0 mV line, tilted as measured
    row0 = np.round(centre_row).astype(int) - half  # (R, K) image row of the band's first row in each column
    ys = row0[:, None, :] + np.arange(2 * half + 1)[None, :, None]  # (R, H, K)
    inside = (ys >= 0) & (ys < h) & ((xs >= 0) & (xs < w))[:, None, :]
    yi, xi = np.clip(ys, 0, h - 1), np.clip(xs, 0, w - 1)[:, None, :]
    band = strokes[yi, xi] * inside
    skel_band = skel[yi, xi] & inside
    panels = panels_of(lay, n)
    reset = np.zeros((lay.n_rows, k_cols), dtype=bool)
    for p in panels:
        if p.start > 0:
            edge = column_of(p.row, (p.start - 0.5) / fs) - c0[p.row]
            reset[p.row, int(np.ceil(edge))] = True
    path = trace_path(band, reset, np.full(lay.n_rows, float(half)))
    runs = stroke_centres(band, skel_band, path)

    signals = np.full((n, len(LEADS12)), np.nan)
    short = {}
    gaps = []
    order = sorted(panels, key=lambda p: p.row >= len(lay.rows))  # rhythm rows last: they win for their lead
    for p in order:
        cols = np.arange(k_cols)
        ok = np.isfinite(runs["centre"][p.row])
        edge_lo = column_of(p.row, (p.start - 0.5) / fs) - c0[p.row]
        edge_hi = column_of(p.row, (p.stop - 0.5) / fs) - c0[p.row]
        mine = (cols >= edge_lo - 1) & (cols <= edge_hi + 1)
        use = ok & mine
        gaps.append(1.0 - use.sum() / max(1, mine.sum()))
        if use.sum() < 2:
            continue
        idx = np.arange(p.start, p.stop)
        at = column_of(p.row, idx / fs) - c0[p.row]
        keep = np.where(use, 1.0, np.nan)
        y = sample_rows(cols, {key: (r[p.row] + row0[p.row]) * keep for key, r in runs.items()}, at)  # image rows
        mv = (np.interp(at, cols, centre_row[p.row]) - y) / px_per_mv[p.row]
        j = LEADS12.index(p.lead)
        if np.isfinite(signals[idx, j]).any():
            short[p.lead] = signals[idx, j].copy()
        signals[idx, j] = mv
    diagnostics = {
        "name": name,
        "layout": lay.name,
        "skew_deg": angle,
        "nonparallel": nonparallel,
        "homography": None if hom is None else hom.tolist(),  # input image -> image as read (rotation included)
        "px_per_mm_x": ppx,
        "px_per_mm_y": ppy,
        "grid_peak_ratio": min(ratio_x, ratio_y),
        "px_per_s": px_per_s,
        "row_px_per_s": row_s.tolist(),
        "row_tilt": slope.tolist(),
        "px_per_mv": px_per_mv.tolist(),
        "pulse_vs_grid_gain": (px_per_mv / (MM_PER_MV * ppy)).tolist(),
        "t0_column": t0.tolist(),
        "baseline_row": base.tolist(),
        "pulses": pulses,
        "gap_share": float(np.mean(gaps)) if gaps else float("nan"),
        "short_panels": short,
    }
    return signals, diagnostics
