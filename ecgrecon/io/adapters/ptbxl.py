"""PTB-XL-shaped folders (real PTB-XL, a local copy, the synthetic cohort).

Metadata and labels come from ``ptbxl_database.csv`` / ``scp_statements.csv``
(:mod:`ecgrecon.io.discover`, :mod:`ecgrecon.io.metadata`); ``strat_fold`` is PTB-XL's own. ``records``
is the rate folder, ``records100`` (default) or ``records500``, and the header rate must match it.
"""

from __future__ import annotations

from pathlib import Path

from ecgrecon.io.adapters.base import Adapter, Candidates
from ecgrecon.io.discover import build_candidates
from ecgrecon.io.metadata import load_statements
from ecgrecon.io.wfdbio import Record, read_record

DEFAULT_RECORDS = "records100"


def candidates(root: Path, records: str | None, min_likelihood: float) -> Candidates:
    """Union of record files and metadata rows (see :func:`ecgrecon.io.discover.build_candidates`)."""
    return build_candidates(root, records or DEFAULT_RECORDS, load_statements(root), min_likelihood)


def read(root: Path, rel: str) -> Record:
    """The lean WFDB reader, checking the rate declared by the ``recordsNNN`` folder."""
    return read_record(root, rel)


ADAPTER = Adapter("ptbxl", candidates, read, DEFAULT_RECORDS)
