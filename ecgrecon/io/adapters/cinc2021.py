"""PhysioNet/CinC Challenge 2021 records: ``NAME.hea`` + MATLAB v4 ``NAME.mat`` (variable ``val``).

Records are every ``*.hea`` below the folder (or ``records`` sub-folder; a ``RECORDS`` file
wins), named by the file, not the header: some Georgia headers call their record
``E00271.mat`` instead of ``E00271``, which is accepted (the ``.mat`` suffix is dropped before
the names are compared). ``val`` (signals x samples, digital units) is read with
``scipy.io.loadmat``, checked against the header's signal count, length and checksums and
scaled with its gains / baselines; rates vary (mostly 500 Hz) and lengths too (records longer
than ``clean.duration_s`` are cropped by the clean stage).

Ids: the Challenge publishes no patient ids, so every record is its own patient
(``patient_id = ecg_id``; repeat recordings of one person cannot be grouped, a limit of the
source). ``ecg_id = source * 10_000_000 + number`` from the name's source prefix
(:data:`SOURCES`: ``A0689`` -> 10000689, ``JS37196`` -> 70037196). Labels: the ``# Dx:``
SNOMED-CT codes through :data:`~ecgrecon.io.adapters.snomed_ct.SNOMED`.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

import numpy as np
import scipy.io

from ecgrecon.io.adapters.base import Adapter, Candidates, Statement, header_comments, meta_row, start_candidates
from ecgrecon.io.adapters.snomed_ct import SNOMED
from ecgrecon.io.wfdbio import Record, RecordError, check_checksums, lead_order, parse_header, safe_record_path, to_physical

SOURCES = {"A": 1, "Q": 2, "I": 3, "S": 4, "HR": 5, "E": 6, "JS": 7}
"""Name prefix -> source code: CPSC 2018, CPSC extra, St Petersburg INCART, PTB, PTB-XL,
Georgia, Chapman-Shaoxing / Ningbo."""
ID_BLOCK = 10_000_000
_NAME = re.compile(r"^([A-Za-z]+)(\d+)$")
_DX = re.compile(r"^dx\s*:(.*)$", re.IGNORECASE)


def record_ecg_id(name: str) -> int:
    """``ecg_id`` of a record name; ValueError for names outside the Challenge scheme."""
    m = _NAME.match(name)
    if not m or m.group(1).upper() not in SOURCES or int(m.group(2)) >= ID_BLOCK:
        raise ValueError(f"record name {name!r} is not <source prefix><number> (prefixes {sorted(SOURCES)})")
    return SOURCES[m.group(1).upper()] * ID_BLOCK + int(m.group(2))


def dx_codes(comments: list[str]) -> list[str]:
    """SNOMED-CT codes of the ``Dx:`` comment (empty items between commas skipped)."""
    lines = [m.group(1) for m in map(_DX.match, comments) if m]
    if not lines:
        raise ValueError("no '# Dx:' line in the header")
    codes = [c.strip() for c in lines[0].split(",") if c.strip()]
    bad = [c for c in codes if not c.isdigit()]
    if bad:
        raise ValueError(f"malformed Dx code(s) {bad}")
    if not codes:
        raise ValueError("empty '# Dx:' line")
    return codes


def candidates(root: Path, records: str | None, min_likelihood: float) -> Candidates:
    """Every header with a valid name and Dx line, in ``ecg_id`` order; orphan ``.mat`` files quarantined."""
    rels, out = start_candidates(root, records, ".mat")
    for rel in rels:
        try:
            ecg_id = record_ecg_id(PurePosixPath(rel).name)
            base = safe_record_path(root, rel)
            codes = dx_codes(header_comments(base.with_name(base.name + ".hea")))
        except (ValueError, RecordError) as exc:
            out.reject(rel, exc)
            continue
        if out.is_duplicate(ecg_id, rel):
            continue
        out.unmapped.update({c for c in codes if c not in SNOMED})
        statements = [SNOMED.get(c, Statement(c)) for c in dict.fromkeys(codes)]
        out.records.append((rel, meta_row(ecg_id, ecg_id, statements, min_likelihood, rel)))
    out.records.sort(key=lambda r: r[1]["ecg_id"])
    out.n_input = len(out.records) + len(out.quarantine)
    return out


def _load_val(mat: Path) -> np.ndarray:
    """The ``val`` matrix of a MATLAB file; RecordError naming the file otherwise."""
    try:
        val = scipy.io.loadmat(mat, variable_names=["val"]).get("val")
    except FileNotFoundError:
        raise RecordError(mat, "missing .mat file") from None
    except Exception as exc:  # scipy raises many types for damaged files
        raise RecordError(mat, f"unreadable .mat ({type(exc).__name__}: {exc})") from None
    if val is None:
        raise RecordError(mat, "no variable 'val' in the .mat file")
    if val.ndim != 2 or val.dtype.kind not in "iuf":
        raise RecordError(mat, f"'val' is not a numeric matrix ({val.dtype}, shape {val.shape})")
    return val


def read(root: Path, rel: str) -> Record:
    """Read one Challenge record as (samples x 12) mV in ``LEADS12`` order."""
    base = safe_record_path(root, rel)
    hea = base.with_name(base.name + ".hea")
    header = parse_header(hea)
    if header.record_name.removesuffix(".mat") != base.name:
        raise RecordError(hea, f"header names record {header.record_name!r}, the file is {base.name!r}")
    order = lead_order(header, hea)
    files = {s.file_name for s in header.signals}
    if len(files) != 1:
        raise RecordError(hea, f"signals spread over several files {sorted(files)} (unsupported)")
    mat_name = files.pop()
    if PurePosixPath(mat_name).name != mat_name or not mat_name.endswith(".mat"):
        raise RecordError(hea, f"signal file {mat_name!r} refused (expected NAME.mat beside the header)")
    mat = base.with_name(mat_name)
    if mat.is_symlink() and not mat.resolve().is_relative_to(root):
        raise RecordError(hea, "path outside data root (.mat symlink escapes)")
    val = _load_val(mat)
    want = (header.n_sig, header.n_samples if header.n_samples is not None else val.shape[1])
    if val.shape != want:
        raise RecordError(mat, f"'val' has shape {val.shape}, header declares {want} (signals x samples)")
    digital = val.T
    check_checksums(digital, list(header.signals), mat)
    sentinel = int(np.iinfo(val.dtype).min) if val.dtype.kind == "i" else None
    signal = to_physical(digital[:, order], [header.signals[i] for i in order], hea, sentinel)
    return Record(str(rel), header.fs, signal)


ADAPTER = Adapter("cinc2021", candidates, read, None)
