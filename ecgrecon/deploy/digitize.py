"""``ecgrecon digitize``: a printout image -> a WFDB record of the 12 leads and an overlay of the traces read.

The classical digitiser (:func:`ecgrecon.printout.digitize.digitize_classical`; docs/printout.md) reads the page of
a known layout; the record holds the 12 leads in mV at ``fs`` for the page's 10 s, in LEADS12 order. Samples the
layout does not plot (3x4: each lead but II shows 2.5 s) are stored as WFDB's invalid sample (-32768 in format 16),
which ``wfdb.rdsamp`` reads back as NaN. ``<name>_overlay.png`` shows the image as the digitiser read it (its skew
undone) with the traces on top: check it before trusting the numbers.

With ``complete``, ``<name>_completed.hea/.dat`` holds the completed 12 x 10 s record as well
(:mod:`ecgrecon.printout.complete`): the digitised samples as read, every other sample from lead II (the rhythm
strip) by PPM, the per-patient map fitted on each lead's window, shrunk toward a GL completion map (``gl``, e.g. the
pipeline's results/printout/completion_gl.json; without one, plain ridge and no fallback for a lead whose window
was not read: that lead stays NaN, and a header comment says so).
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
from ecgrecon.printout.complete import Completion, complete_record, visible_mask
from ecgrecon.printout.digitize import digitize_classical, read_image

OVERLAY_SUFFIX = "_overlay"
COMPLETED_SUFFIX = "_completed"
CONTEXT = 2
"""PPM's +-K lead-II samples without a GL map (config.yaml's printout.completion.context; with a map: the map's)."""
PPM_ALPHAS = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)
"""PPM's shrinkage grid (config.yaml's printout.completion.ppm_alphas), chosen per lead inside its window."""
MIN_COVERAGE = 0.5
"""Share of a window's plotted samples that must be read (config.yaml's printout.completion.min_coverage)."""


@dataclass
class Digitized:
    """What ``ecgrecon digitize`` wrote for one image."""

    files: list[Path]
    signals: np.ndarray  # (n, 12) mV, NaN where not plotted
    fs: float
    diagnostics: dict
    completed: np.ndarray | None = None  # (n, 12) mV, the completed record (``complete``)
    completion: Completion | None = None

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


def completion_comments(gl_path, res: Completion, context: int) -> list[str]:
    """Header comments of the completed record: what was filled, how, and every fallback."""
    lines = [
        f"completed by ecgrecon (PPM: per-lead ridge map from lead II, +-{context} samples, fitted on the lead's digitised window, "
        + (f"shrunk toward the GL map {Path(gl_path).name})" if gl_path else "plain ridge, no GL map)"),
        "digitised samples kept as read; every other sample predicted from the lead-II rhythm strip",
    ]
    return lines + [f"note: {n}" for n in res.notes]


def digitize_file(image, out_dir, layout: str = "3x4", fs: float = 100.0, complete: bool = False, gl=None, gl_path=None) -> Digitized:
    """Digitise ``image`` into ``out_dir``/<stem>.hea/.dat and <stem>_overlay.png (all at once or none); with
    ``complete`` also <stem>_completed.hea/.dat, PPM toward ``gl`` (a checked completion map, or None).

    Raises :class:`~ecgrecon.printout.layout.PrintoutError` (one line naming the file) for an unreadable image, one
    without a grid or of another layout, or (``complete``) one whose rhythm strip was not read; :class:`RecordError`
    when the output cannot be written."""
    image = Path(image)
    img, _ = read_image(image)
    signals, diag = digitize_classical(img, layout, fs=fs, name=str(image))
    out_dir = Path(out_dir)
    name = image.stem
    header, data = wfdb_files(name, signals, list(LEADS12), fs, comment_lines(image, layout, diag))
    completed = done = None
    if complete:  # before anything is written: a page that cannot be completed writes nothing
        context = int(gl.context) if gl is not None else CONTEXT
        done = complete_record(signals.T, visible_mask(layout, len(signals)), gl, context=context, alphas=PPM_ALPHAS,
                               min_coverage=MIN_COVERAGE, name=str(image))  # fmt: skip
        completed = done.signals["PPM"].T
        c_header, c_data = wfdb_files(f"{name}{COMPLETED_SUFFIX}", completed, list(LEADS12), fs,
                                      comment_lines(image, layout, diag)[:2] + completion_comments(gl_path, done, context))  # fmt: skip
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
        if complete:
            (tmp / f"{name}{COMPLETED_SUFFIX}.dat").write_bytes(c_data)
            (tmp / f"{name}{COMPLETED_SUFFIX}.hea").write_text(c_header)
            files += [out_dir / f"{name}{COMPLETED_SUFFIX}.dat", out_dir / f"{name}{COMPLETED_SUFFIX}.hea"]
        for final in files:
            os.replace(tmp / final.name, final)
    except OSError as exc:
        raise RecordError(out_dir, f"cannot write the output ({exc.strerror or exc})") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return Digitized(files, signals, float(fs), diag, completed, done)
