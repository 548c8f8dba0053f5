"""The shared adapter interface: what every database adapter lists and reads.

An :class:`Adapter` turns one database folder into (a) :class:`Candidates`: the records to
read, each with its metadata row, plus the records already rejected at the metadata stage,
and (b) a reader ``read(root, rel) -> Record`` (signal ``(n, 12)`` float32 mV in
``LEADS12`` order, sampling rate) that raises :class:`~ecgrecon.io.wfdbio.RecordError`.

Metadata rows carry exactly the ``meta`` columns of ``results/clean/{dataset}.h5``
(docs/artifacts.md). Helpers here build them for databases without PTB-XL's tables:

- :func:`patient_fold`: a deterministic patient-wise ``strat_fold`` 1-10 from a hash of the
  patient id, for databases that ship no folds (LUDB, PTB DB, CinC 2021).
- :func:`label_fields`: ``scp_codes`` / ``labels`` / ``superclass`` / ``subclass`` from the
  :class:`Statement` objects an adapter's table maps a record's diagnoses to.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ecgrecon.io.wfdbio import Record, read_header_text

METADATA_STAGE = "clean.metadata"
N_FOLDS = 10
NORM = "NORM"


@dataclass
class Candidates:
    """Records to read (with their metadata) and the records already quarantined.

    ``n_input`` counts every input record (kept + quarantined must equal it); ``unmapped``
    counts, per diagnosis statement outside the adapter's label table, the records with it.
    """

    records: list[tuple[str, dict]] = field(default_factory=list)
    quarantine: list[dict] = field(default_factory=list)
    n_input: int = 0
    unmapped: Counter = field(default_factory=Counter)
    seen: dict = field(default_factory=dict)  # ecg_id -> the record that has it

    def reject(self, rel: str, exc: Exception) -> None:
        """Quarantine ``rel`` for the reason of ``exc`` (a RecordError's reason, else its message)."""
        self.quarantine.append(quarantine_entry(rel, getattr(exc, "reason", str(exc))))

    def is_duplicate(self, ecg_id: int, rel: str) -> bool:
        """True, and ``rel`` quarantined, when another record already has ``ecg_id``; else it is remembered."""
        if ecg_id in self.seen:
            self.quarantine.append(quarantine_entry(rel, f"duplicate ecg_id {ecg_id} (also {self.seen[ecg_id]})"))
            return True
        self.seen[ecg_id] = rel
        return False


@dataclass(frozen=True)
class Adapter:
    """One database kind: ``candidates(root, records, min_likelihood)`` and ``read(root, rel)``.

    ``root`` is the resolved database folder; ``records`` an optional sub-folder (``None``:
    ``default_records``). Both callables are module-level functions, so an adapter pickles
    into the clean stage's worker processes.
    """

    kind: str
    candidates: Callable[[Path, str | None, float], Candidates]
    read: Callable[[Path, str], Record]
    default_records: str | None = None


@dataclass(frozen=True)
class Statement:
    """A diagnosis mapped to a label ``code``, its diagnostic ``superclass`` and ``subclass``.

    ``superclass == "NORM"`` means *compatible with a normal ECG* (sinus rhythm, normal axis);
    ``None`` means abnormal but outside the five superclasses (rhythm, ectopy, pacing, axis
    deviation...); ``code is None`` marks a statement that adds no label (e.g. normal axis).
    """

    code: str | None
    superclass: str | None = None
    subclass: str | None = None


def patient_fold(patient_id: int) -> int:
    """Fold 1-10 of a patient: ``sha256(str(patient_id))`` (first 8 bytes, big-endian) mod 10 + 1.

    Independent of the seed and of which other records exist, so every record of a patient
    lands in the same fold and adding records never moves a patient.
    """
    digest = hashlib.sha256(str(int(patient_id)).encode()).digest()
    return int.from_bytes(digest[:8], "big") % N_FOLDS + 1


def label_fields(statements: list[Statement], min_likelihood: float) -> dict[str, str]:
    """JSON ``scp_codes``, ``labels``, ``superclass``, ``subclass`` of one record.

    Every statement is certain (likelihood 100). The superclass is ``["NORM"]`` when the
    record has at least one statement and all are normal-compatible; otherwise the sorted set
    of the statements' MI / STTC / CD / HYP classes (possibly empty).
    """
    codes = {s.code: 100.0 for s in statements if s.code}
    labels = sorted(c for c, lik in codes.items() if lik >= min_likelihood)
    if statements and all(s.superclass == NORM for s in statements):
        sup, sub = [NORM], [NORM]
    else:
        sup = sorted({s.superclass for s in statements if s.superclass not in (None, NORM)})
        sub = sorted({s.subclass for s in statements if s.subclass and s.superclass != NORM})
    return {
        "scp_codes": json.dumps(dict(sorted(codes.items()))),
        "labels": json.dumps(labels),
        "superclass": json.dumps(sup),
        "subclass": json.dumps(sub),
    }


def meta_row(ecg_id: int, patient_id: int, statements: list[Statement], min_likelihood: float, filename: str) -> dict:
    """A full meta row; ``strat_fold`` from :func:`patient_fold`."""
    return {
        "ecg_id": int(ecg_id),
        "patient_id": int(patient_id),
        "strat_fold": patient_fold(patient_id),
        **label_fields(statements, min_likelihood),
        "filename": filename,
    }


def quarantine_entry(record: str, reason: str) -> dict:
    """A ``clean.metadata`` quarantine row."""
    return {"record": record, "stage": METADATA_STAGE, "reason": reason}


def start_candidates(root: Path, records: str | None, data_ext: str) -> tuple[list[str], Candidates]:
    """(record paths to read, Candidates holding the quarantine rows of signal files without a header)."""
    rels, orphans = list_records(root, records.strip("/") if records else None, data_ext)
    out = Candidates()
    out.quarantine += [quarantine_entry(o, "signal file without .hea header") for o in orphans]
    return rels, out


def list_records(root: Path, subdir: str | None, data_ext: str) -> tuple[list[str], list[str]]:
    """(record paths, orphan signal files) below ``root`` (paths relative, no extension).

    A ``RECORDS`` file in ``root`` (or in ``subdir``) is authoritative when present (entries
    outside ``subdir`` dropped; no orphans reported). Otherwise every ``*.hea`` below
    ``root/subdir`` is a record and every ``*{data_ext}`` file without a header is an orphan.
    """
    top = root / subdir if subdir else root
    if subdir and not top.is_dir():
        raise FileNotFoundError(f"{top}: records folder not found")
    prefix = f"{subdir.strip('/')}/" if subdir else ""
    for listing, pre in ((root / "RECORDS", ""), (top / "RECORDS", prefix)):
        if listing.is_file():
            names = (ln.strip() for ln in listing.read_text(errors="replace").splitlines())
            rels = {pre + n.removesuffix(".hea") for n in names if n and not n.startswith("#")}
            return sorted(r for r in rels if r.startswith(prefix)), []
    records, orphans = [], []
    for dirpath, dirnames, files in os.walk(top):
        dirnames.sort()
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        join = (lambda f: f) if rel_dir == "." else (lambda f: f"{rel_dir}/{f}")
        heads = {f[:-4] for f in files if f.endswith(".hea")}
        records += [join(h) for h in heads]
        orphans += [join(f) for f in files if f.endswith(data_ext) and f[: -len(data_ext)] not in heads]
    return sorted(records), sorted(orphans)


def header_comments(path: Path) -> list[str]:
    """The ``#`` comment lines of a header (without ``#``, stripped); RecordError if unreadable."""
    text = read_header_text(path)
    return [ln.strip()[1:].strip() for ln in text.splitlines() if ln.strip().startswith("#")]
