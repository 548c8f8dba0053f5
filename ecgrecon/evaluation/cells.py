"""Table cells shared by every markdown report of ``ecgrecon.evaluation``."""

from __future__ import annotations

import numpy as np


def fmt(v, digits: int = 3, missing: str = "n/a") -> str:
    """A table cell: ``v`` to ``digits`` decimals, ``missing`` when it is None or not finite."""
    return missing if v is None or not np.isfinite(v) else f"{v:.{digits}f}"
