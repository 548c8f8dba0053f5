"""Printout geometry shared by the renderer and the digitisers, the truth kept beside each image, and the error class.

Paper coordinates are millimetres from the top-left corner of the page, y downwards (image
convention). The paper standard: 25 mm/s, 10 mm/mV, a 1 mm minor / 5 mm major grid. Each row
starts with a 1 mV x 0.2 s calibration pulse; the row's time axis starts ``SIGNAL_X_MM`` from the
left edge, so sample ``n`` of a record at ``fs`` Hz is drawn at ``x = SIGNAL_X_MM + 25 * n / fs``
mm in every panel (panels of a row share the time axis; each draws its own span of the record).

Pixel convention: pixel column ``c`` covers ``[c, c + 1) / px_per_mm`` mm, so its centre is at
``(c + 0.5) / px_per_mm`` and paper position ``x`` mm sits at fractional column ``x * px_per_mm - 0.5``
(rows alike). Every fractional pixel position in this package (truth, digitiser diagnostics) is
in that index convention.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from ecgrecon import LEADS12

MM_PER_S = 25.0
MM_PER_MV = 10.0
MINOR_MM = 1.0
MAJOR_MM = 5.0
DURATION_S = 10.0

LEFT_MM = 10.0  # page edge -> the pulse's lead-in
PULSE_LEAD_MM = 1.0  # baseline before the pulse rises
PULSE_WIDTH_MM = 5.0  # 0.2 s at 25 mm/s
PULSE_TAIL_MM = 1.0  # baseline after the pulse falls
PULSE_HEIGHT_MV = 1.0
SIGNAL_X_MM = 20.0  # t = 0 of every row (a major grid line)
RIGHT_MM = 10.0
TOP_MM = 20.0
BOTTOM_MM = 10.0
LABEL_DX_MM = 1.5  # lead label: right of the panel start ...
LABEL_DY_MM = -9.0  # ... and above the baseline (0.9 mV up)

LEAD_NAMES = {lead: ("aVR" if lead == "AVR" else "aVL" if lead == "AVL" else "aVF" if lead == "AVF" else lead) for lead in LEADS12}
"""Printed spelling of each LEADS12 lead (aVR, aVL, aVF)."""


class PrintoutError(ValueError):
    """An image the digitiser cannot read: unreadable or empty, no grid, a layout other than the one expected.

    The message is one line and names the file (or ``<array>`` for an in-memory image)."""


@dataclass(frozen=True)
class Layout:
    """Rows of panels: each row of ``k`` leads splits the record into ``k`` equal spans; rhythm rows show one lead throughout."""

    name: str
    rows: tuple[tuple[str, ...], ...]
    rhythm: tuple[str, ...]
    row_pitch_mm: float

    @property
    def n_rows(self) -> int:
        return len(self.rows) + len(self.rhythm)

    def all_rows(self) -> list[tuple[str, ...]]:
        return [*self.rows, *((lead,) for lead in self.rhythm)]

    def baseline_mm(self, row: int) -> float:
        """Paper y (mm) of row ``row``'s 0 mV line."""
        return TOP_MM + (row + 0.5) * self.row_pitch_mm

    def page_mm(self) -> tuple[float, float]:
        """(width, height) of the page in mm."""
        return SIGNAL_X_MM + MM_PER_S * DURATION_S + RIGHT_MM, TOP_MM + self.n_rows * self.row_pitch_mm + BOTTOM_MM


LAYOUTS = {
    "3x4": Layout(
        "3x4", (("I", "AVR", "V1", "V4"), ("II", "AVL", "V2", "V5"), ("III", "AVF", "V3", "V6")), rhythm=("II",), row_pitch_mm=40.0
    ),
    "6x2": Layout(
        "6x2", (("I", "V1"), ("II", "V2"), ("III", "V3"), ("AVR", "V4"), ("AVL", "V5"), ("AVF", "V6")), rhythm=("II",), row_pitch_mm=30.0
    ),
    "12x1": Layout("12x1", tuple((lead,) for lead in LEADS12), rhythm=(), row_pitch_mm=25.0),
}
"""Built-in layouts. ``3x4``: I, II, III 0-2.5 s; aVR, aVL, aVF 2.5-5 s; V1-V3 5-7.5 s; V4-V6 7.5-10 s; lead-II rhythm strip."""


def get_layout(layout: str | Layout) -> Layout:
    """A :class:`Layout` by name (or itself)."""
    if isinstance(layout, Layout):
        return layout
    if layout not in LAYOUTS:
        raise ValueError(f"unknown printout layout {layout!r} (one of {', '.join(LAYOUTS)})")
    return LAYOUTS[layout]


@dataclass
class Panel:
    """One drawn span: samples ``[start, stop)`` of ``lead`` in row ``row`` (0 mV at paper y ``baseline_mm``)."""

    lead: str
    row: int
    start: int
    stop: int
    baseline_mm: float


@dataclass
class PrintoutTruth:
    """What the renderer drew where: the panels and the exact pixel <-> (s, mV) transform of the image.

    ``px_per_mm_x`` / ``px_per_mm_y`` may differ (a single-lead image resized to a model's input).
    ``t0_mm``: paper x of t = 0. Pixel positions follow the index convention of the module docstring.
    """

    layout: str
    fs: float
    n_samples: int
    width: int
    height: int
    px_per_mm_x: float
    px_per_mm_y: float
    t0_mm: float = SIGNAL_X_MM
    mm_per_s: float = MM_PER_S
    mm_per_mv: float = MM_PER_MV
    panels: list[Panel] = field(default_factory=list)
    pulses: list[tuple[float, float]] = field(default_factory=list)
    """(x of the rising edge, y of the baseline) of each row's calibration pulse, in mm."""

    @property
    def px_per_s(self) -> float:
        return self.mm_per_s * self.px_per_mm_x

    @property
    def px_per_mv(self) -> float:
        return self.mm_per_mv * self.px_per_mm_y

    def column(self, n) -> np.ndarray:
        """Fractional pixel column where sample(s) ``n`` are drawn (the same for every panel)."""
        return (self.t0_mm + self.mm_per_s * np.asarray(n, dtype=np.float64) / self.fs) * self.px_per_mm_x - 0.5

    def sample_at(self, column) -> np.ndarray:
        """Inverse of :meth:`column`: fractional sample index at pixel column(s)."""
        return ((np.asarray(column, dtype=np.float64) + 0.5) / self.px_per_mm_x - self.t0_mm) / self.mm_per_s * self.fs

    def row_px(self, panel: Panel, mv) -> np.ndarray:
        """Fractional pixel row of value(s) ``mv`` in ``panel``."""
        return (panel.baseline_mm - self.mm_per_mv * np.asarray(mv, dtype=np.float64)) * self.px_per_mm_y - 0.5

    def mv_at(self, panel: Panel, row) -> np.ndarray:
        """Inverse of :meth:`row_px`: mV at fractional pixel row(s) of ``panel``."""
        return (panel.baseline_mm - (np.asarray(row, dtype=np.float64) + 0.5) / self.px_per_mm_y) / self.mm_per_mv

    def plotted(self, leads=LEADS12) -> np.ndarray:
        """(len(leads), n_samples) bool: which samples of each lead appear on the image."""
        mask = np.zeros((len(leads), self.n_samples), dtype=bool)
        for p in self.panels:
            if p.lead in leads:
                mask[list(leads).index(p.lead), p.start : p.stop] = True
        return mask

    def to_dict(self) -> dict:
        """JSON-ready form (``from_dict`` reads it back)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> PrintoutTruth:
        d = dict(d)
        d["panels"] = [Panel(**p) for p in d["panels"]]
        d["pulses"] = [tuple(p) for p in d["pulses"]]
        return cls(**d)


def panels_of(layout: Layout, n_samples: int) -> list[Panel]:
    """The panels of ``layout`` for a record of ``n_samples`` samples (row spans split as evenly as integers allow)."""
    out = []
    for r, leads in enumerate(layout.all_rows()):
        edges = np.round(np.linspace(0, n_samples, len(leads) + 1)).astype(int)
        for k, lead in enumerate(leads):
            out.append(Panel(lead, r, int(edges[k]), int(edges[k + 1]), layout.baseline_mm(r)))
    return out
