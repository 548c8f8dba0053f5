"""LUDB (Lobachevsky University ECG Database): ``data/N.{hea,dat}``, 500 Hz, 12 leads, 10 s.

One subject per record, so ``ecg_id = patient_id = N`` and ``strat_fold`` is the hash fold.
Diagnoses come from ``ludb.csv`` (one row per record, multi-line quoted cells: every column
from ``Rhythms`` on, one statement per line) or, for a record without a row, from the
header's ``#<diagnoses>:`` comment lines. Each statement is lower-cased, stripped of a final
``.`` and a ``Rhythm:`` prefix and mapped by the first matching prefix in :data:`TABLE`
(walls: :mod:`.walls`). Superclasses: STEMI and scar -> MI; ischemia and the ambiguous
"undefined ischemia/scar/supp. NSTEMI" -> STTC (ischemic, not counted as MI); non-specific
repolarization -> STTC; bundle branch / fascicular / AV blocks, IVCD -> CD; ventricular and
atrial hypertrophy or overload -> HYP; NORM when only sinus rhythms and a normal / vertical /
horizontal axis are reported. Rhythm, ectopy, pacing, axis deviation and early
repolarization are labels without a superclass. Unmatched statements are kept verbatim as
labels and counted as unmapped.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ecgrecon.io.adapters import walls
from ecgrecon.io.adapters.base import NORM, Adapter, Candidates, Statement, header_comments, list_records, meta_row, quarantine_entry
from ecgrecon.io.metadata import MetadataError
from ecgrecon.io.wfdbio import Record, RecordError, read_record, safe_record_path

CSV = "ludb.csv"
DEFAULT_RECORDS = "data"
FIRST_DIAGNOSIS_COLUMN = "Rhythms"
S = Statement

TABLE: tuple[tuple[str, Statement], ...] = (  # statement prefix -> label, superclass, subclass
    ("sinus rhythm", S("SR", NORM)),
    ("sinus bradycardia", S("SBRAD", NORM)),
    ("sinus tachycardia", S("STACH", NORM)),
    ("sinus arrhythmia", S("SARRH", NORM)),
    ("irregular sinus rhythm", S("SARRH", NORM)),
    ("electric axis of the heart: normal", S(None, NORM)),
    ("electric axis of the heart: vertical", S(None, NORM)),
    ("electric axis of the heart: horizontal", S(None, NORM)),
    ("electric axis of the heart: left axis deviation", S("LAD")),
    ("electric axis of the heart: right axis deviation", S("RAD")),
    ("atrial fibrillation", S("AFIB")),
    ("atrial flutter", S("AFLT")),
    ("wandering atrial pacemaker", S("WAP")),
    ("aberrant conduction", S("ABERR")),
    ("atrial extrasystole", S("PAC")),
    ("ventricular extrasystole", S("PVC")),
    ("pacemaker presence", S("PACE")),
    ("unipolar", S("PACE")),
    ("bipolar", S("PACE")),
    ("biventricular pacing", S("PACE")),
    ("p-synchrony", S("PACE")),
    ("early repolarization", S("ERe")),
    ("sinoatrial blockade", S("SAB")),
    ("complete left bundle branch block", S("CLBBB", "CD", "CLBBB")),
    ("complete right bundle branch block", S("CRBBB", "CD", "CRBBB")),
    ("incomplete left bundle branch block", S("ILBBB", "CD", "ILBBB")),
    ("incomplete right bundle branch block", S("IRBBB", "CD", "IRBBB")),
    ("left anterior hemiblock", S("LAFB", "CD", "LAFB/LPFB")),
    ("left posterior hemiblock", S("LPFB", "CD", "LAFB/LPFB")),
    ("i degree av", S("1AVB", "CD", "_AVB")),
    ("ii degree av", S("2AVB", "CD", "_AVB")),
    ("iii degree av", S("3AVB", "CD", "_AVB")),
    ("non-specific intravintricular conduction delay", S("IVCD", "CD", "IVCD")),  # LUDB's spelling
    ("non-specific intraventricular conduction delay", S("IVCD", "CD", "IVCD")),
    ("left ventricular hypertrophy", S("LVH", "HYP", "LVH")),
    ("left ventricular overload", S("LVH", "HYP", "LVH")),
    ("right ventricular hypertrophy", S("RVH", "HYP", "RVH")),
    ("left atrial hypertrophy", S("LAO/LAE", "HYP", "LAO/LAE")),
    ("left atrial overload", S("LAO/LAE", "HYP", "LAO/LAE")),
    ("right atrial hypertrophy", S("RAO/RAE", "HYP", "RAO/RAE")),
    ("right atrial overload", S("RAO/RAE", "HYP", "RAO/RAE")),
    ("non-specific repolarization abnormalities", S("NST_", "STTC", "NST_")),
    ("undefined ischemia/scar/supp.nstemi", S("ISC_", "STTC", "ISC_")),
)
LOCALISED = (("stemi", walls.infarct), ("scar formation", walls.infarct), ("ischemia", walls.ischemia))


def normalise(text: str) -> str:
    """Lower-case, no final ``.``, no ``Rhythm:`` prefix: the form :data:`TABLE` is written in."""
    t = " ".join(text.split()).lower().rstrip(". ")
    return t.removeprefix("rhythm:").strip()


def map_statement(text: str) -> tuple[Statement, bool]:
    """(statement, mapped?) of one normalised diagnosis; unmapped text becomes its own label."""
    for prefix, fn in LOCALISED:
        if text.startswith(prefix):
            return fn(text), True
    for prefix, st in TABLE:
        if text.startswith(prefix):
            return st, True
    return Statement(text), False


def csv_diagnoses(root: Path) -> tuple[dict[int, list[str]], list[tuple[str, str]]]:
    """``ludb.csv`` -> ({ID: statements}, [(row name, reason) of unusable rows]); empty when absent."""
    path = root / CSV
    if not path.is_file():
        return {}, []
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (ValueError, OSError) as exc:
        raise MetadataError(f"{path}: unreadable CSV ({exc})") from None
    if "ID" not in df.columns or FIRST_DIAGNOSIS_COLUMN not in df.columns:
        missing = [c for c in ("ID", FIRST_DIAGNOSIS_COLUMN) if c not in df.columns]
        raise MetadataError(f"{path}: missing column(s) {missing}")
    cols = list(df.columns[list(df.columns).index(FIRST_DIAGNOSIS_COLUMN) :])
    rows: dict[int, list[str]] = {}
    bad: list[tuple[str, str]] = []
    for i, row in enumerate(df.to_dict("records")):
        rid = row["ID"].strip()
        if not rid.isdigit():
            bad.append((f"{CSV} row {i + 2}", f"invalid ID {rid!r} in {CSV}"))
        elif int(rid) in rows:
            bad.append((f"{CSV} row {i + 2}", f"duplicate ID {rid} in {CSV}"))
        else:
            rows[int(rid)] = [normalise(ln) for c in cols for ln in row[c].splitlines() if ln.strip()]
    return rows, bad


def header_diagnoses(root: Path, rel: str) -> list[str]:
    """Normalised statements after the header's ``#<diagnoses>:`` line."""
    base = safe_record_path(root, rel)
    lines = header_comments(base.with_name(base.name + ".hea"))
    try:
        start = [ln.lower() for ln in lines].index("<diagnoses>:") + 1
    except ValueError:
        return []
    return [normalise(ln) for ln in lines[start:] if ln.strip()]


def candidates(root: Path, records: str | None, min_likelihood: float) -> Candidates:
    """Records under ``records`` (default ``data``) UNION ``ludb.csv`` rows, in ID order."""
    sub = (records or DEFAULT_RECORDS).strip("/")
    rels, orphans = list_records(root, sub, ".dat")
    rows, bad_rows = csv_diagnoses(root)
    out = Candidates()
    out.quarantine += [quarantine_entry(o, "signal file without .hea header") for o in orphans]
    out.quarantine += [quarantine_entry(name, reason) for name, reason in bad_rows]
    by_id: dict[int, str] = {}
    for rel in rels:
        name = rel.rsplit("/", 1)[-1]
        if not name.isdigit():
            out.quarantine.append(quarantine_entry(rel, f"record name {name!r} is not a LUDB record number"))
        else:
            by_id[int(name)] = rel
    for rid in rows:
        by_id.setdefault(rid, f"{sub}/{rid}")  # a row without a record: the reader says "missing file"
    for rid, rel in sorted(by_id.items()):
        statements = rows.get(rid)
        if not statements:
            try:
                statements = header_diagnoses(root, rel)
            except RecordError as exc:
                out.quarantine.append(quarantine_entry(rel, exc.reason))
                continue
        if not statements:
            out.quarantine.append(quarantine_entry(rel, f"no diagnoses ({CSV} row and header comments empty)"))
            continue
        mapped = [map_statement(t) for t in statements]
        out.unmapped.update({t for t, (_, ok) in zip(statements, mapped) if not ok})
        out.records.append((rel, meta_row(rid, rid, [m for m, _ in mapped], min_likelihood, rel)))
    out.n_input = len(out.records) + len(out.quarantine)
    return out


def read(root: Path, rel: str) -> Record:
    """The lean WFDB reader (single ``.dat``, 12 leads named i ... v6)."""
    return read_record(root, rel)


ADAPTER = Adapter("ludb", candidates, read, DEFAULT_RECORDS)
