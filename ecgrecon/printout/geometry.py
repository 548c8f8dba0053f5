"""Perspective of a printout photo: the homography that makes the grid's 5 mm lines parallel and evenly spaced.

:func:`grid_homography` works on the grid (chroma) map of an image already deskewed by rotation:

1. **major line positions**: the map is cut into ``STRIPS`` vertical strips (for the horizontal lines) and as
   many horizontal ones (for the vertical lines); in each strip the averaged profile is high-passed and its peaks at
   least ~0.7 x 5 mm apart (``scipy.signal.find_peaks``) are the 5 mm lines (twice the chroma of the 1 mm ones);
2. **line tracking**: the lines of the central strip are followed strip by strip outwards (nearest peak within a
   third of the 5 mm pitch of the position predicted from the previous strips), which gives every line its index;
3. **lines and crossings**: each tracked line is fitted by a straight line (a homography keeps lines straight) and
   the crossings of the horizontal with the vertical lines are the image points of the lattice (i, j);
4. **homography**: ``cv2.findHomography`` (RANSAC) from the crossings to the lattice, scaled and shifted so that
   the image centre and the local scale there stay put.

The *non-parallelism* is how much the homography's projective part changes the scale across the image
(``|h31| w + |h32| h`` once ``h33 = 1``): 0 for a rotation or an affine view, ~1e-5 measured on clean renders, up to
~1e-2 for the ``photo`` level's corner shifts (0.6 % of the size per corner). The digitiser warps the image only above
``MIN_NONPARALLEL``, so clean and scanned pages are not resampled.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.signal import find_peaks

STRIPS = 12  # strips per direction in which the 5 mm lines are located
MAJOR_MM = 5.0
MIN_LINES = 4  # tracked lines per direction needed for an estimate
MIN_POINTS = 40  # crossings needed for an estimate
MIN_NONPARALLEL = 2e-3  # scale change across the image below which no homography is applied
RANSAC_PX = 0.15  # RANSAC reprojection threshold, in 5 mm pitches
MAX_CORNER_SHIFT = 0.03  # an estimate moving a corner by more than this share of the size is not trusted


def _major_peaks(profile: np.ndarray, pitch5: float) -> np.ndarray:
    """Sub-pixel positions of the 5 mm lines in a strip's averaged grid profile."""
    p = np.asarray(profile, dtype=np.float64)
    k = max(3, int(2 * pitch5) | 1)
    p = p - cv2.blur(p.reshape(-1, 1), (1, k), borderType=cv2.BORDER_REFLECT).ravel()  # high-pass: paper shading out
    spread = np.percentile(p, 98) - np.percentile(p, 50)
    peaks, _ = find_peaks(p, distance=max(1, int(0.7 * pitch5)), prominence=0.3 * spread)
    peaks = peaks[(peaks > 0) & (peaks < len(p) - 1)]
    a, b, c = p[peaks - 1], p[peaks], p[peaks + 1]
    den = a - 2 * b + c
    return peaks + np.where(den < 0, 0.5 * (a - c) / np.where(den < 0, den, -1.0), 0.0)


def _track(strip_peaks: list[np.ndarray], pitch5: float) -> dict[int, list[tuple[int, float]]]:
    """Lines followed across strips from the central one: {line index: [(strip, position)]}."""
    mid = len(strip_peaks) // 2
    ref = strip_peaks[mid]
    if len(ref) < MIN_LINES:
        return {}
    lines = {j: [(mid, float(y))] for j, y in enumerate(ref)}
    tol = pitch5 / 3
    for order in (range(mid + 1, len(strip_peaks)), range(mid - 1, -1, -1)):
        for s in order:
            cand = strip_peaks[s]
            if len(cand) == 0:
                continue
            for pts in lines.values():
                near = [q for q in pts if (q[0] > mid) == (s > mid) or q[0] == mid]
                near.sort(key=lambda q: abs(q[0] - s))
                if len(near) >= 2:
                    (s1, y1), (s2, y2) = near[0], near[1]
                    pred = y1 + (y1 - y2) / (s1 - s2) * (s - s1)
                else:
                    pred = near[0][1]
                i = int(np.argmin(np.abs(cand - pred)))
                if abs(cand[i] - pred) < tol:
                    pts.append((s, float(cand[i])))
    return {j: pts for j, pts in lines.items() if len(pts) >= len(strip_peaks) // 2}


def _fit_lines(chroma: np.ndarray, pitch5: float, axis: int) -> list[tuple[int, np.ndarray]]:
    """Tracked 5 mm lines across ``axis`` (0: horizontal lines, position y(x); 1: vertical lines, x(y)), each as
    (index, polyfit coefficients of position against the strip coordinate)."""
    m = chroma if axis == 0 else chroma.T
    n_along = m.shape[1]
    edges = np.linspace(0, n_along, STRIPS + 1).astype(int)
    centres = 0.5 * (edges[:-1] + edges[1:])
    peaks = [_major_peaks(m[:, a:b].mean(axis=1), pitch5) for a, b in zip(edges[:-1], edges[1:])]
    tracked = _track(peaks, pitch5)
    out = []
    for j, pts in sorted(tracked.items()):
        s, pos = np.array(pts).T
        out.append((j, np.polyfit(centres[s.astype(int)], pos, 1)))
    return out


def grid_homography(chroma: np.ndarray, px_per_mm: float) -> tuple[np.ndarray | None, float]:
    """(H, non-parallelism): the 3x3 homography (image -> rectified image, same size and scale at the centre) that
    makes the grid's 5 mm lines parallel and evenly spaced, and the scale change across the image it undoes.

    ``chroma``: the grid map (:func:`ecgrecon.printout.digitize.ink_and_grid`) of an image deskewed to within a
    degree or so; ``px_per_mm``: a rough grid pitch (the page size's, +-10 %). ``(None, 0.0)`` where too few lines
    or crossings are found or the estimate moves a corner by more than ``MAX_CORNER_SHIFT`` of the size (no
    estimate: the caller leaves the image alone)."""
    h, w = chroma.shape
    pitch5 = MAJOR_MM * px_per_mm
    hor = _fit_lines(chroma, pitch5, 0)  # y = a x + b
    ver = _fit_lines(chroma, pitch5, 1)  # x = c y + d
    if len(hor) < MIN_LINES or len(ver) < MIN_LINES:
        return None, 0.0
    src, dst = [], []
    for j, (a, b) in hor:
        for i, (c, d) in ver:
            y = (a * d + b) / (1 - a * c)
            x = c * y + d
            if 0 <= x < w and 0 <= y < h:
                src.append((x, y))
                dst.append((i, j))
    if len(src) < MIN_POINTS:
        return None, 0.0
    src, dst = np.float64(src), np.float64(dst)
    h_idx, inliers = cv2.findHomography(src, dst, cv2.RANSAC, RANSAC_PX)
    if h_idx is None or inliers.sum() < MIN_POINTS:
        return None, 0.0
    # back to pixels: the image centre stays put and keeps its scale (lattice units per px there)
    c = np.array([(w - 1) / 2, (h - 1) / 2])
    ci = cv2.perspectiveTransform(np.float64([[c, c + [1, 0], c + [0, 1]]]), h_idx)[0]
    sx, sy = 1.0 / np.linalg.norm(ci[1] - ci[0]), 1.0 / np.linalg.norm(ci[2] - ci[0])
    scale = np.array([[sx, 0, c[0] - sx * ci[0, 0]], [0, sy, c[1] - sy * ci[0, 1]], [0, 0, 1.0]])
    hom = scale @ h_idx
    hom /= hom[2, 2]
    corners = np.float64([[[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]]])
    if np.abs(cv2.perspectiveTransform(corners, hom) - corners).max() > MAX_CORNER_SHIFT * max(w, h):
        return None, 0.0  # far beyond a camera's tilt on a deskewed page: mis-tracked lines
    return hom, float(abs(hom[2, 0]) * w + abs(hom[2, 1]) * h)


def warp_perspective(img: np.ndarray, hom: np.ndarray) -> np.ndarray:
    """``img`` resampled through the 3x3 homography ``hom`` (same size, cubic, edges replicated as in the deskew)."""
    h, w = img.shape[:2]
    return cv2.warpPerspective(img, hom, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
