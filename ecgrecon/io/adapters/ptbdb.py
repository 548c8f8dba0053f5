"""PTB Diagnostic ECG Database: ``patientNNN/sNNNNxxx.{hea,dat,xyz}``, 1000 Hz, 15 signals.

The 12 standard leads (i ... v6) are read; the Frank leads vx, vy, vz (in PTB DB's ``.xyz``
file, or in the ``.dat`` of a copy that merged them) are ignored. Records (~30-120 s) are
cropped to ``clean.duration_s`` by the clean stage. ``patient_id`` = NNN from the folder,
``ecg_id = patient_id * 10000 + NNNN`` (the record's ``s`` number), ``strat_fold`` the hash
fold of the patient. Labels: the header comment ``# Reason for admission:`` through
:data:`REASONS` (``Myocardial infarction`` localised by ``# Acute infarction (localization):``,
see :mod:`.walls`); ``n/a`` gives no label, unknown reasons are kept verbatim and counted.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from ecgrecon.io.adapters import walls
from ecgrecon.io.adapters.base import NORM, Adapter, Candidates, Statement, header_comments, meta_row, start_candidates
from ecgrecon.io.wfdbio import Record, RecordError, read_record, safe_record_path

FRANK_LEADS = ("VX", "VY", "VZ")
REASON_KEY = "reason for admission"
LOCALISATION_KEY = "acute infarction (localization)"
_PATIENT = re.compile(r"^patient(\d+)$")
_RECORD = re.compile(r"^s(\d{4})[a-z_]*$")
S = Statement

REASONS: dict[str, Statement | None] = {  # lower-cased reason -> statement (None: no label)
    "healthy control": S("NORM", NORM, NORM),
    "bundle branch block": S("BBB", "CD"),
    "myocardial hypertrophy": S("myocardial hypertrophy", "HYP"),
    "cardiomyopathy": S("cardiomyopathy"),
    "dysrhythmia": S("dysrhythmia"),
    "heart failure (nyha 2)": S("heart failure (nyha 2)"),
    "heart failure (nyha 3)": S("heart failure (nyha 3)"),
    "heart failure (nyha 4)": S("heart failure (nyha 4)"),
    "valvular heart disease": S("valvular heart disease"),
    "myocarditis": S("myocarditis"),
    "stable angina": S("stable angina"),
    "unstable angina": S("unstable angina"),
    "palpitation": S("palpitation"),
    "miscellaneous": S("miscellaneous"),
    "n/a": None,
}
"""Myocardial infarction -> MI (localised), healthy control -> NORM, bundle branch block -> CD,
myocardial hypertrophy -> HYP; the other reasons (cardiomyopathy, heart failure, angina, ...)
are clinical, not ECG, diagnoses: labels without a superclass."""


def comment_fields(lines: list[str]) -> dict[str, str]:
    """``key: value`` comment lines -> {lower-case key: value} (first occurrence wins)."""
    out: dict[str, str] = {}
    for ln in lines:
        key, sep, value = ln.partition(":")
        if sep:
            out.setdefault(key.strip().lower(), value.strip())
    return out


def reason_statements(fields: dict[str, str]) -> tuple[list[Statement], bool]:
    """(statements, mapped?) of the admission reason; ValueError when the comment is missing."""
    if REASON_KEY not in fields:
        raise ValueError("no '# Reason for admission:' comment in the header")
    reason = " ".join(fields[REASON_KEY].split()).lower()
    if reason == "myocardial infarction":
        return [walls.infarct(fields.get(LOCALISATION_KEY, ""))], True
    if reason in REASONS:
        st = REASONS[reason]
        return ([st] if st else []), True
    return [S(reason)], False


def record_ids(rel: str) -> tuple[int, int]:
    """(ecg_id, patient_id) of ``patientNNN/sNNNNxxx``; ValueError naming the bad part."""
    parts = PurePosixPath(rel).parts
    pm = _PATIENT.match(parts[-2]) if len(parts) >= 2 else None
    if not pm:
        raise ValueError(f"cannot take a patient id from folder {'/'.join(parts[:-1]) or '.'!r} (expected patientNNN)")
    rm = _RECORD.match(parts[-1])
    if not rm:
        raise ValueError(f"record name {parts[-1]!r} is not sNNNN<suffix>")
    patient = int(pm.group(1))
    return patient * 10000 + int(rm.group(1)), patient


def candidates(root: Path, records: str | None, min_likelihood: float) -> Candidates:
    """Every record (``RECORDS`` or ``*.hea``) with its admission reason, in ``ecg_id`` order."""
    rels, out = start_candidates(root, records, ".dat")
    for rel in rels:
        try:
            ecg_id, patient = record_ids(rel)
            base = safe_record_path(root, rel)
            statements, mapped = reason_statements(comment_fields(header_comments(base.with_name(base.name + ".hea"))))
        except (ValueError, RecordError) as exc:
            out.reject(rel, exc)
            continue
        if out.is_duplicate(ecg_id, rel):
            continue
        if not mapped:
            out.unmapped.update(s.code for s in statements)
        out.records.append((rel, meta_row(ecg_id, patient, statements, min_likelihood, rel)))
    out.records.sort(key=lambda r: r[1]["ecg_id"])
    out.n_input = len(out.records) + len(out.quarantine)
    return out


def read(root: Path, rel: str) -> Record:
    """The 12 standard leads through the lean WFDB reader (Frank leads skipped)."""
    return read_record(root, rel, extra_leads=FRANK_LEADS)


ADAPTER = Adapter("ptbdb", candidates, read, None)
