"""PTB-XL: which records to consider: every record file found UNION every metadata row.

A file without a row is quarantined ("no metadata row"); a row with unusable fields is
quarantined with the reason; a row whose file is absent is left to the reader, which reports
"missing file". ``n_input`` counts rows plus row-less files, so kept + quarantined = n_input.
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path

from ecgrecon.io.adapters.base import METADATA_STAGE, Candidates
from ecgrecon.io.metadata import Statements, load_database, row_metadata

__all__ = ["METADATA_STAGE", "Candidates", "build_candidates", "find_record_files"]


def find_record_files(raw_dir: Path, records_subdir: str) -> list[str]:
    """Record paths (relative, no extension) from ``RECORDS`` if present, else all ``*.hea``."""
    sub = Path(raw_dir) / records_subdir
    for listing, prefix in ((sub / "RECORDS", records_subdir + "/"), (Path(raw_dir) / "RECORDS", "")):
        if listing.is_file():
            names = (ln.strip() for ln in listing.read_text(errors="replace").splitlines())
            rels = [prefix + n.removesuffix(".hea") for n in names if n and not n.startswith("#")]
            return sorted({r for r in rels if r.startswith(records_subdir + "/")})
    found = []
    for dirpath, dirnames, files in os.walk(sub):
        dirnames.sort()
        rel_dir = Path(dirpath).relative_to(raw_dir).as_posix()
        found += [f"{rel_dir}/{f[:-4]}" for f in files if f.endswith(".hea")]
    return sorted(found)


def _norm(rel: str) -> str:
    return posixpath.normpath(rel.replace("\\", "/")) if rel else rel


def build_candidates(raw_dir: Path, records_subdir: str, statements: Statements, min_likelihood: float) -> Candidates:
    """Union of record files and metadata rows, rows first in ecg_id order."""
    db = load_database(raw_dir, records_subdir)
    files = find_record_files(raw_dir, records_subdir)
    out = Candidates(n_input=len(db))
    seen: dict[str, str] = {}  # normalised file -> ecg_id of the row kept for it
    ids: set[int] = set()
    for row in db.to_dict("records"):
        key = _norm(row["filename"])
        name = row["filename"] or f"ecg_id={row['ecg_id']}"
        if key in seen:
            reason = f"duplicate metadata row for this file: ecg_id {row['ecg_id']} dropped (the first row for it: ecg_id {seen[key]})"
            out.quarantine.append(_q(name, reason))
            continue
        seen[key] = row["ecg_id"]
        try:
            meta = row_metadata(row, statements, min_likelihood)
        except ValueError as exc:
            out.quarantine.append(_q(name, f"bad metadata row: {exc}"))
            continue
        if meta["ecg_id"] in ids:
            out.quarantine.append(_q(name, f"duplicate ecg_id {meta['ecg_id']}"))
            continue
        ids.add(meta["ecg_id"])
        out.records.append((row["filename"], meta))
    orphans = [f for f in files if _norm(f) not in seen]
    out.n_input += len(orphans)
    out.quarantine += [_q(f, "no metadata row") for f in orphans]
    out.records.sort(key=lambda r: r[1]["ecg_id"])
    return out


def _q(record: str, reason: str) -> dict:
    return {"record": record, "stage": METADATA_STAGE, "reason": reason}
