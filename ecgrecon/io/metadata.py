"""PTB-XL metadata: ``ptbxl_database.csv`` rows and SCP-code labels from ``scp_statements.csv``."""

from __future__ import annotations

import ast
import json
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

DATABASE_CSV = "ptbxl_database.csv"
STATEMENTS_CSV = "scp_statements.csv"
_FILENAME_COLUMN = {"records100": "filename_lr", "records500": "filename_hr"}
_REQUIRED = ("ecg_id", "patient_id", "strat_fold", "scp_codes")


class MetadataError(ValueError):
    """A metadata file that cannot be used at all (missing, unreadable, missing columns)."""


@dataclass(frozen=True)
class Statements:
    """Per SCP code: diagnostic superclass and subclass (only for diagnostic codes)."""

    superclass: dict[str, str]
    subclass: dict[str, str]
    known: frozenset[str]


def filename_column(records_subdir: str) -> str:
    """Column of ptbxl_database.csv that points at records in ``records_subdir``."""
    try:
        return _FILENAME_COLUMN[records_subdir]
    except KeyError:
        raise MetadataError(f"records folder {records_subdir!r} unknown: expected one of {sorted(_FILENAME_COLUMN)}") from None


def _read_csv(path: Path, **kwargs) -> pd.DataFrame:
    if not path.is_file():
        raise MetadataError(f"{path}: missing metadata file")
    try:
        return pd.read_csv(path, **kwargs)
    except (ValueError, OSError) as exc:
        raise MetadataError(f"{path}: unreadable CSV ({exc})") from None


def load_database(raw_dir: Path, records_subdir: str) -> pd.DataFrame:
    """The rows of ptbxl_database.csv with the columns this project needs (raw strings kept)."""
    path = Path(raw_dir) / DATABASE_CSV
    df = _read_csv(path, dtype=str, keep_default_na=False)
    col = filename_column(records_subdir)
    missing = [c for c in (*_REQUIRED, col) if c not in df.columns]
    if missing:
        raise MetadataError(f"{path}: missing column(s) {missing}")
    out = df[list(_REQUIRED)].copy()
    out["filename"] = df[col].str.strip()
    return out.reset_index(drop=True)


def load_statements(raw_dir: Path) -> Statements:
    """Superclass / subclass per diagnostic SCP code (``diagnostic == 1``)."""
    path = Path(raw_dir) / STATEMENTS_CSV
    df = _read_csv(path, index_col=0)
    missing = [c for c in ("diagnostic", "diagnostic_class", "diagnostic_subclass") if c not in df.columns]
    if missing:
        raise MetadataError(f"{path}: missing column(s) {missing}")
    diag = df[pd.to_numeric(df["diagnostic"], errors="coerce") == 1]
    sup = {str(k): str(v) for k, v in diag["diagnostic_class"].items() if isinstance(v, str) and v}
    sub = {str(k): str(v) for k, v in diag["diagnostic_subclass"].items() if isinstance(v, str) and v}
    return Statements(sup, sub, frozenset(map(str, df.index)))


def _as_int(value: str, what: str) -> int:
    try:
        f = float(value)
    except ValueError:
        raise ValueError(f"invalid {what} {value!r}") from None
    if not math.isfinite(f) or f != int(f):
        raise ValueError(f"invalid {what} {value!r}")
    return int(f)


def parse_scp_codes(text: str) -> dict[str, float]:
    """Parse the python-dict string of ``scp_codes`` (``ast.literal_eval``, never ``eval``)."""
    try:
        codes = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise ValueError(f"unparsable scp_codes {text[:80]!r}") from None
    if not isinstance(codes, dict):
        raise ValueError(f"scp_codes is not a dict: {text[:80]!r}")
    out = {}
    for k, v in codes.items():
        if not isinstance(k, str) or isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValueError(f"invalid scp_codes entry {k!r}: {v!r}")
        out[k] = float(v)
    return out


def derive_labels(codes: dict[str, float], st: Statements, min_likelihood: float):
    """(labels, superclasses, subclasses): sorted lists; labels are codes >= min_likelihood."""
    labels = sorted(c for c, lik in codes.items() if lik >= min_likelihood)
    sup = sorted({st.superclass[c] for c in labels if c in st.superclass})
    sub = sorted({st.subclass[c] for c in labels if c in st.subclass})
    return labels, sup, sub


def row_metadata(row: dict, st: Statements, min_likelihood: float) -> dict:
    """Validated meta fields of one database row; raises ValueError with the reason."""
    codes = parse_scp_codes(row["scp_codes"])
    labels, sup, sub = derive_labels(codes, st, min_likelihood)
    return {
        "ecg_id": _as_int(row["ecg_id"], "ecg_id"),
        "patient_id": _as_int(row["patient_id"], "patient_id"),
        "strat_fold": _as_int(row["strat_fold"], "strat_fold"),
        "scp_codes": json.dumps(dict(sorted(codes.items()))),
        "labels": json.dumps(labels),
        "superclass": json.dumps(sup),
        "subclass": json.dumps(sub),
        "filename": row["filename"],
    }
