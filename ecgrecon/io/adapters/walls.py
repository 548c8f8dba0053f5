"""Infarct / ischemia localisation text -> PTB-XL-style code and subclass.

The first wall named in the text decides, as PTB-XL files combined sites (ILMI, IPMI -> IMI;
ALMI -> AMI): ``infero-lateral`` -> IMI, ``antero-septal`` -> ASMI (subclass AMI).
"""

from __future__ import annotations

import re

from ecgrecon.io.adapters.base import Statement

# word stem -> ((MI code, MI subclass), (ischemia code, ischemia subclass))
WALLS = {
    "anter": (("AMI", "AMI"), ("ISCAN", "ISCA")),
    "sept": (("ASMI", "AMI"), ("ISCAS", "ISCA")),
    "apic": (("AMI", "AMI"), ("ISCAN", "ISCA")),
    "later": (("LMI", "LMI"), ("ISCLA", "ISCA")),
    "infer": (("IMI", "IMI"), ("ISCIN", "ISCI")),
    "poster": (("PMI", "PMI"), ("ISC_", "ISC_")),
}
_STEM = re.compile("|".join(WALLS))


def first_wall(text: str) -> str | None:
    """The stem of the first wall named in ``text`` (lower-case), or None."""
    m = _STEM.search(text.lower())
    return m.group(0) if m else None


def infarct(text: str) -> Statement:
    """MI statement localised by ``text`` (code ``MI`` without subclass when no wall is named)."""
    wall = first_wall(text)
    if wall is None:
        return Statement("MI", "MI", None)
    code, sub = WALLS[wall][0]
    return Statement(code, "MI", sub)


def ischemia(text: str) -> Statement:
    """Ischemic ST-T statement (STTC) localised by ``text`` (``ISC_`` when no wall is named)."""
    wall = first_wall(text)
    code, sub = WALLS[wall][1] if wall else ("ISC_", "ISC_")
    return Statement(code, "STTC", sub)
