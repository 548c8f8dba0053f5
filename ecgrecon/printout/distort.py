"""Seeded image distortions of a printout, from a clean render to a phone photo (OpenCV).

:data:`LEVELS` names the level sets; each parameter is a (low, high) range drawn uniformly per
image (or a count / probability), so one ``rng`` per record makes the distortion reproducible.
Applied in paper-then-camera order: grid colour, creases and folds, rotation, perspective,
cropping, illumination and colour, blur, sensor noise, JPEG compression.
"""

from __future__ import annotations

import cv2
import numpy as np

LEVELS: dict[str, dict] = {
    "clean": {},
    "scan": {
        "rotation_deg": (-1.5, 1.5),
        "crop_frac": (0.0, 0.01),
        "brightness": (-0.04, 0.04),
        "contrast": (0.92, 1.05),
        "blur_sigma_px": (0.3, 0.8),
        "noise_std": (1.0, 3.0),
        "jpeg_quality": (75, 95),
    },
    "photo": {
        "grid_hue_deg": (-25.0, 25.0),
        "creases": (1, 2),
        "crease_depth": (0.08, 0.2),
        "rotation_deg": (-4.0, 4.0),
        "perspective_frac": (0.0, 0.006),
        "crop_frac": (0.0, 0.02),
        "brightness": (-0.12, 0.05),
        "contrast": (0.8, 1.0),
        "colour_gain": (0.9, 1.08),
        "vignette": (0.05, 0.2),
        "blur_sigma_px": (0.6, 1.2),
        "noise_std": (3.0, 7.0),
        "jpeg_quality": (55, 80),
    },
}
"""Named distortion levels: parameter -> (low, high). Missing parameters are not applied (``clean``: none)."""


def _draw(rng: np.random.Generator, spec, integer: bool = False):
    lo, hi = spec
    return int(rng.integers(lo, hi + 1)) if integer else float(rng.uniform(lo, hi))


def shift_grid_hue(img: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate the hue of coloured pixels (the grid; black ink and white paper have no hue) by ``degrees``."""
    hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)  # OpenCV's 8-bit hue runs 0-179 (2 degrees per step)
    hsv[..., 0] = ((hsv[..., 0].astype(np.int32) + int(round(degrees / 2))) % 180).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def add_crease(img: np.ndarray, rng: np.random.Generator, depth: float) -> np.ndarray:
    """A fold line across the page: a soft dark band (shadow) beside a thin bright ridge, at a random position and angle."""
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    theta = rng.uniform(0, np.pi)
    cx, cy = rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h
    dist = (xx - cx) * np.cos(theta) + (yy - cy) * np.sin(theta)
    width = 0.01 * max(h, w)
    shade = 1.0 - depth * np.exp(-((dist + width) ** 2) / (2 * width**2)) + 0.5 * depth * np.exp(-(dist**2) / (0.5 * width**2))
    return np.clip(img.astype(np.float32) * shade[..., None], 0, 255).astype(np.uint8)


def rotate_image(img: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate about the centre (counter-clockwise as displayed for positive ``degrees``), paper-white fill."""
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), degrees, 1.0)
    return cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_CONSTANT, borderValue=(255, 255, 255))


def perspective(img: np.ndarray, rng: np.random.Generator, frac: float) -> np.ndarray:
    """Move each corner by up to ``frac`` of the image size (a camera not square to the page)."""
    h, w = img.shape[:2]
    src = np.float32([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]])
    dst = src + rng.uniform(-frac, frac, size=(4, 2)).astype(np.float32) * np.float32([w, h])
    m = cv2.getPerspectiveTransform(src, dst)
    return cv2.warpPerspective(img, m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_CONSTANT, borderValue=(255, 255, 255))


def crop(img: np.ndarray, rng: np.random.Generator, frac: float) -> np.ndarray:
    """Cut up to ``frac`` of the size off each side (independently)."""
    h, w = img.shape[:2]
    t, b = (int(rng.uniform(0, frac) * h) for _ in range(2))
    left, right = (int(rng.uniform(0, frac) * w) for _ in range(2))
    return np.ascontiguousarray(img[t : h - b, left : w - right])


def lighting(img: np.ndarray, rng: np.random.Generator, params: dict, applied: dict) -> np.ndarray:
    """Brightness, contrast, per-channel colour gain and a vignette (uneven illumination)."""
    x = img.astype(np.float32) / 255.0
    if "contrast" in params or "brightness" in params:
        c = applied["contrast"] = _draw(rng, params.get("contrast", (1.0, 1.0)))
        b = applied["brightness"] = _draw(rng, params.get("brightness", (0.0, 0.0)))
        x = (x - 0.5) * c + 0.5 + b
    if "colour_gain" in params:
        g = applied["colour_gain"] = [_draw(rng, params["colour_gain"]) for _ in range(3)]
        x = x * np.float32(g)
    if "vignette" in params:
        v = applied["vignette"] = _draw(rng, params["vignette"])
        h, w = x.shape[:2]
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        cx, cy = rng.uniform(0.3, 0.7) * w, rng.uniform(0.3, 0.7) * h
        r2 = ((xx - cx) / w) ** 2 + ((yy - cy) / h) ** 2
        x = x * (1.0 - v * r2 / r2.max())[..., None]
    return (np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8)


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    """Encode and decode as JPEG at ``quality``."""
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def distort(image: np.ndarray, level: str | dict, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Distort an (H, W, 3) uint8 RGB printout at ``level`` (a name of :data:`LEVELS` or a parameter dict).

    Returns ``(image, applied)``: the distorted uint8 RGB image (cropping changes its size) and the
    drawn value of every parameter applied. ``rng``: seed it per record for reproducible images.
    """
    if isinstance(level, str):
        if level not in LEVELS:
            raise ValueError(f"unknown distortion level {level!r} (one of {', '.join(LEVELS)})")
        params = LEVELS[level]
    else:
        params = dict(level)
    unknown = set(params) - {k for spec in LEVELS.values() for k in spec}
    if unknown:
        raise ValueError(f"unknown distortion parameter(s) {sorted(unknown)}")
    img = np.ascontiguousarray(np.asarray(image, dtype=np.uint8))
    applied: dict = {}
    if "grid_hue_deg" in params:
        img = shift_grid_hue(img, applied.setdefault("grid_hue_deg", _draw(rng, params["grid_hue_deg"])))
    if "creases" in params:
        n = applied["creases"] = _draw(rng, params["creases"], integer=True)
        for _ in range(n):
            img = add_crease(img, rng, _draw(rng, params.get("crease_depth", (0.1, 0.1))))
    if "rotation_deg" in params:
        img = rotate_image(img, applied.setdefault("rotation_deg", _draw(rng, params["rotation_deg"])))
    if "perspective_frac" in params:
        img = perspective(img, rng, applied.setdefault("perspective_frac", _draw(rng, params["perspective_frac"])))
    if "crop_frac" in params:
        img = crop(img, rng, applied.setdefault("crop_frac", _draw(rng, params["crop_frac"])))
    img = lighting(img, rng, params, applied)
    if "blur_sigma_px" in params:
        img = cv2.GaussianBlur(img, (0, 0), applied.setdefault("blur_sigma_px", _draw(rng, params["blur_sigma_px"])))
    if "noise_std" in params:
        sd = applied["noise_std"] = _draw(rng, params["noise_std"])
        img = np.clip(img.astype(np.float32) + rng.normal(0.0, sd, img.shape).astype(np.float32), 0, 255).astype(np.uint8)
    if "jpeg_quality" in params:
        img = jpeg(img, applied.setdefault("jpeg_quality", _draw(rng, params["jpeg_quality"], integer=True)))
    return img, applied
