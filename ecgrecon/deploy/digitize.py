"""``ecgrecon digitize``: a printout image -> a WFDB record of the 12 leads and an overlay of the traces read.

The classical digitiser (:func:`ecgrecon.printout.digitize.digitize_classical`; docs/printout.md) reads the page of
a known layout; the record holds the 12 leads in mV at ``fs`` for the page's 10 s, in LEADS12 order. Samples the
layout does not plot (3x4: each lead but II shows 2.5 s) are stored as WFDB's invalid sample (-32768 in format 16),
which ``wfdb.rdsamp`` reads back as NaN. ``<name>_overlay.png`` shows the image as the digitiser read it (its skew
undone) with the traces on top: check it before trusting the numbers.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ecgrecon import LEADS12
from ecgrecon.deploy.reconstruct import wfdb_files
from ecgrecon.evaluation.printout_report import draw_overlay
from ecgrecon.io.atomic import save_png
from ecgrecon.io.wfdbio import RecordError
from ecgrecon.printout.digitize import digitize_classical, read_image

OVERLAY_SUFFIX = "_overlay"


@dataclass
class Digitized:
    """What ``ecgrecon digitize`` wrote for one image."""

    files: list[Path]
    signals: np.ndarray  # (n, 12) mV, NaN where not plotted
    fs: float
    diagnostics: dict

    @property
    def coverage(self) -> dict[str, float]:
        """Share of the 10 s read per lead (3x4: 0.25 for every lead but II)."""
        return {lead: float(np.isfinite(self.signals[:, j]).mean()) for j, lead in enumerate(LEADS12)}


def comment_lines(image: Path, layout: str, diag: dict) -> list[str]:
    return [
        f"digitised from {image.name} by ecgrecon's classical digitiser (layout {layout})",
        f"skew {diag['skew_deg']:.3f} deg, grid {diag['px_per_mm_x']:.3f} x {diag['px_per_mm_y']:.3f} px/mm, "
        f"mean pulse {np.mean(diag['px_per_mv']):.2f} px/mV",
        "samples not plotted on the page are invalid (-32768 in format 16; NaN in wfdb.rdsamp)",
    ]


def digitize_file(image, out_dir, layout: str = "3x4", fs: float = 100.0) -> Digitized:
    """Digitise ``image`` into ``out_dir``/<stem>.hea/.dat and <stem>_overlay.png (all at once or none).

    Raises :class:`~ecgrecon.printout.layout.PrintoutError` (one line naming the file) for an unreadable image, one
    without a grid or of another layout; :class:`RecordError` when the output cannot be written."""
    image = Path(image)
    img, _ = read_image(image)
    signals, diag = digitize_classical(img, layout, fs=fs, name=str(image))
    out_dir = Path(out_dir)
    name = image.stem
    header, data = wfdb_files(name, signals, list(LEADS12), fs, comment_lines(image, layout, diag))
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".ecgrecon-", dir=out_dir))
    except OSError as exc:
        raise RecordError(out_dir, f"cannot write into the output folder ({exc.strerror or exc})") from None
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        (tmp / f"{name}.dat").write_bytes(data)
        (tmp / f"{name}.hea").write_text(header)
        h, w = img.shape[:2]
        fig, ax = plt.subplots(figsize=(w / 100, h / 100), dpi=100)
        fig.subplots_adjust(0, 0, 1, 1)
        draw_overlay(ax, img, signals, diag, layout, fs)
        save_png(fig, tmp / f"{name}{OVERLAY_SUFFIX}.png", dpi=100)
        files = [out_dir / f"{name}.dat", out_dir / f"{name}{OVERLAY_SUFFIX}.png", out_dir / f"{name}.hea"]  # header last
        for final in files:
            os.replace(tmp / final.name, final)
    except OSError as exc:
        raise RecordError(out_dir, f"cannot write the output ({exc.strerror or exc})") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return Digitized(files, signals, float(fs), diag)
