"""Lean, validating reader for single-segment 12-lead WFDB records (header + one .dat file).

Faster than ``wfdb.rdsamp`` because it parses the ``.hea`` itself and reads the ``.dat`` with
one ``np.fromfile``. Every problem (unsafe path, bad header, unknown lead, wrong sampling
rate, truncated or corrupt data) raises :class:`RecordError` naming the file and the reason.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import NamedTuple

import numpy as np

from ecgrecon import LEADS12

# WFDB storage formats read here: numpy dtype, bytes per sample, "invalid sample" value.
FORMATS = {
    "16": ("<i2", 2, -(2**15)),
    "61": (">i2", 2, -(2**15)),
    "32": ("<i4", 4, -(2**31)),
    "80": ("u1", 1, -(2**7)),
    "212": (None, 1.5, -(2**11)),
}
_UNIT_TO_MV = {"mv": 1.0, "uv": 1e-3, "µv": 1e-3, "v": 1e3}
_LEAD_INDEX = {name.upper(): i for i, name in enumerate(LEADS12)}
_RATE_FOLDER = re.compile(r"^records(\d+)$")


class PathError(Exception):
    """An input file that cannot be used; ``str`` is ``"<path>: <reason>"`` (the one-line error users see)."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class RecordError(PathError):
    """A record that cannot be used; ``str`` is ``"<path>: <reason>"``."""


class SignalSpec(NamedTuple):
    """One signal line of a WFDB header."""

    file_name: str
    fmt: str
    byte_offset: int
    gain: float
    baseline: int
    units: str
    checksum: int | None
    name: str


@dataclass(frozen=True)
class Header:
    """The parts of a WFDB header this project uses."""

    record_name: str
    n_sig: int
    fs: float
    n_samples: int | None
    signals: tuple[SignalSpec, ...]


def safe_record_path(root: Path, rel: str) -> Path:
    """Join ``rel`` (a record path without extension) to ``root``, refusing any escape.

    ``root`` must already be resolved. Absolute paths, ``..`` components and symlinks leading
    outside ``root`` are refused with a :class:`RecordError`.
    """
    rel = str(rel).strip()
    pure = PurePosixPath(rel.replace("\\", "/"))
    if not rel:
        raise RecordError(rel, "empty record path")
    if pure.is_absolute() or re.match(r"^[A-Za-z]:", rel):
        raise RecordError(rel, "path outside data root (absolute path refused)")
    if ".." in pure.parts:
        raise RecordError(rel, "path outside data root ('..' refused)")
    path = root.joinpath(*pure.parts)
    if not _inside(root, path.parent):
        raise RecordError(rel, "path outside data root (symlink escapes)")
    return path


@lru_cache(maxsize=4096)
def _inside(root: Path, folder: Path) -> bool:
    """Whether ``folder`` (symlinks resolved) lies inside ``root``; cached per folder."""
    return _resolves_inside(folder, root)


def _resolves_inside(path: Path, root: Path) -> bool:
    """``path`` with symlinks resolved lies inside ``root``; True for a symlink loop, which leads
    nowhere (opening it then fails with a one-line "Too many levels of symbolic links")."""
    try:
        return path.resolve().is_relative_to(root)
    except (OSError, RuntimeError):  # Python < 3.13 raises RuntimeError on a loop
        return True


def declared_fs(rel: str) -> float | None:
    """Sampling rate declared by the folder name (``records100/...`` -> 100), else None."""
    for part in PurePosixPath(str(rel)).parts:
        m = _RATE_FOLDER.match(part)
        if m:
            return float(m.group(1))
    return None


def _parse_gain(field: str, path: Path) -> tuple[float, int | None, str]:
    """``gain[(baseline)][/units]`` -> (gain, baseline or None, units); gain 0 means 200."""
    g, _, units = field.partition("/")
    g, paren, rest = g.partition("(")
    try:
        if paren and not rest.endswith(")"):
            raise ValueError
        baseline = int(rest[:-1]) if paren else None
        return float(g) or 200.0, baseline, units or "mV"
    except ValueError:
        raise RecordError(path, f"malformed gain field {field!r}") from None


def _parse_signal_line(line: str, path: Path) -> SignalSpec:
    tok = line.split()
    if len(tok) < 2:
        raise RecordError(path, f"malformed signal line {line!r}")
    if tok[1].isdigit():  # the common case: plain format number
        fmt, extras = tok[1], None
    else:
        m = re.fullmatch(r"(\d+)(x\d+)?(:\d+)?(\+\d+)?", tok[1])
        if not m:
            raise RecordError(path, f"malformed format field {tok[1]!r}")
        fmt, extras = m.group(1), m.groups()[1:]
    if fmt not in FORMATS:
        raise RecordError(path, f"unsupported WFDB format {fmt}")
    offset = 0
    if extras:
        if (extras[0] and extras[0] != "x1") or (extras[1] and extras[1] != ":0"):
            raise RecordError(path, "multi-frequency or skewed signals are not supported")
        offset = int(extras[2][1:]) if extras[2] else 0
    gain, baseline, units = _parse_gain(tok[2], path) if len(tok) > 2 else (200.0, None, "mV")
    adc_zero = 0
    try:
        if len(tok) > 4:
            adc_zero = int(tok[4])
        checksum = int(tok[6]) if len(tok) > 6 else None
    except ValueError:
        raise RecordError(path, f"malformed signal line {line!r}") from None
    if not math.isfinite(gain) or gain <= 0:
        raise RecordError(path, f"invalid ADC gain {tok[2]!r}")
    name = " ".join(tok[8:]) if len(tok) > 8 else ""
    return SignalSpec(tok[0], fmt, offset, gain, adc_zero if baseline is None else baseline, units, checksum, name)


def read_header_text(path: Path) -> str:
    """Text of a header file; RecordError ("missing file" / "unreadable header") otherwise."""
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        raise RecordError(path, "missing file") from None
    except OSError as exc:
        raise RecordError(path, f"unreadable header ({exc.strerror})") from None


def parse_header(path: Path) -> Header:
    """Parse a single-segment WFDB header file."""
    text = read_header_text(path)
    lines = [ln.strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    if not lines:
        raise RecordError(path, "empty header")
    tok = lines[0].split()
    if len(tok) < 2 or "/" in tok[0]:
        raise RecordError(path, f"malformed or multi-segment record line {lines[0]!r}")
    try:
        n_sig = int(tok[1])
        fs = float(re.split(r"[/(]", tok[2])[0]) if len(tok) > 2 else 250.0
        n_samples = int(tok[3]) if len(tok) > 3 else None
    except ValueError:
        raise RecordError(path, f"malformed record line {lines[0]!r}") from None
    if not np.isfinite(fs) or fs <= 0:
        raise RecordError(path, f"invalid sampling rate {fs} Hz")
    signals = tuple(_parse_signal_line(ln, path) for ln in lines[1:])
    if len(signals) != n_sig:
        raise RecordError(path, f"header declares {n_sig} signals but lists {len(signals)}")
    return Header(tok[0], n_sig, fs, n_samples, signals)


def lead_order(header: Header, path: Path, extra_leads: tuple[str, ...] = ()) -> np.ndarray:
    """Header signal index of each lead of ``LEADS12``; refuses wrong or unknown leads.

    Signals named in ``extra_leads`` (upper-case, e.g. PTB DB's Frank leads VX, VY, VZ) are
    skipped; every other signal must be one of the 12 standard leads, each exactly once.
    """
    names = [s.name.strip().upper() for s in header.signals]
    keep = [i for i, n in enumerate(names) if n not in extra_leads]
    if len(keep) != len(LEADS12):
        if not extra_leads:
            raise RecordError(path, f"expected {len(LEADS12)} signals, header has {header.n_sig}")
        raise RecordError(
            path,
            f"expected {len(LEADS12)} standard leads besides {list(extra_leads)}, "
            f"header has {len(keep)}: {[header.signals[i].name for i in keep]}",
        )
    unknown = [header.signals[i].name for i in keep if names[i] not in _LEAD_INDEX]
    if unknown:
        raise RecordError(path, f"unknown lead name(s) {unknown}")
    if len({names[i] for i in keep}) != len(keep):
        raise RecordError(path, f"duplicate lead names {[names[i] for i in keep]}")
    order = np.empty(len(LEADS12), dtype=np.intp)
    for i in keep:
        order[_LEAD_INDEX[names[i]]] = i
    return order


def _decode_212(raw: np.ndarray, n_values: int) -> np.ndarray:
    """Unpack WFDB format 212 (two 12-bit samples in three bytes), vectorised."""
    pad = (-len(raw)) % 3
    b = np.concatenate([raw, np.zeros(pad, np.uint8)]).reshape(-1, 3).astype(np.int32)
    out = np.empty((len(b), 2), np.int32)
    out[:, 0] = b[:, 0] | ((b[:, 1] & 0x0F) << 8)
    out[:, 1] = b[:, 2] | ((b[:, 1] & 0xF0) << 4)
    out = out.reshape(-1)[:n_values]
    return np.where(out >= 2048, out - 4096, out)


def read_digital(dat: Path, fmt: str, offset: int, n_sig: int, n_samples: int | None):
    """Digital samples (n_samples, n_sig), integer dtype; checks the file size first."""
    dtype, width, _ = FORMATS[fmt]
    try:
        size = dat.stat().st_size - offset
    except FileNotFoundError:
        raise RecordError(dat, "missing .dat file") from None
    except OSError as exc:  # a symlink loop, a permission problem, an I/O error
        raise RecordError(dat, f"unreadable .dat ({exc.strerror or exc})") from None
    if n_samples is None:
        n_samples = int(size // (width * n_sig))
    expected = int(np.ceil(n_samples * n_sig * width))
    if size < expected:
        raise RecordError(dat, f"truncated .dat: expected {expected} bytes, found {max(size, 0)}")
    if size > expected + (1 if fmt == "212" else 0):
        raise RecordError(dat, f"unexpected .dat size: expected {expected} bytes, found {size}")
    if n_samples == 0:
        raise RecordError(dat, "record has no samples")
    try:
        if fmt == "212":
            raw = np.fromfile(dat, dtype=np.uint8, count=expected, offset=offset)
            d = _decode_212(raw, n_samples * n_sig)
        else:
            d = np.fromfile(dat, dtype=dtype, count=n_samples * n_sig, offset=offset)
            if fmt == "80":
                d = d.astype(np.int16) - 128
    except OSError as exc:
        raise RecordError(dat, f"unreadable .dat ({exc.strerror or exc})") from None
    return d.reshape(n_samples, n_sig)


@dataclass
class Record:
    """A record read from disk: physical signal in mV, columns in ``LEADS12`` order."""

    rel: str
    fs: float
    signal: np.ndarray  # float32 (n_samples, 12); WFDB "invalid" samples are NaN


def read_record(root: Path, rel: str, check_fs: bool = True, extra_leads: tuple[str, ...] = ()) -> Record:
    """Read and validate the 12-lead record ``rel`` (path below ``root``, no extension).

    ``root`` must be resolved. With ``check_fs`` the header rate must equal the rate declared
    by a ``recordsNNN`` folder in ``rel``. Signals named in ``extra_leads`` are ignored; they
    may live in another signal file (PTB DB keeps VX, VY, VZ in ``.xyz``), which is not read.
    """
    base = safe_record_path(root, rel)
    hea = base.with_name(base.name + ".hea")
    if hea.is_symlink() and not _resolves_inside(hea, root):
        raise RecordError(rel, "path outside data root (header symlink escapes)")
    header = parse_header(hea)
    order = lead_order(header, hea, extra_leads)
    want = declared_fs(rel)
    if check_fs and want is not None and abs(header.fs - want) > 1e-6:
        raise RecordError(hea, f"wrong sampling rate: header says {header.fs:g} Hz, folder declares {want:g} Hz")
    leads = [header.signals[i] for i in order]
    files = {s.file_name for s in leads}
    if len(files) != 1:
        raise RecordError(hea, "signals spread over several .dat files or formats (unsupported)")
    dat_name = files.pop()
    group = [j for j, s in enumerate(header.signals) if s.file_name == dat_name]  # the file's signals
    fmts = {(header.signals[j].fmt, header.signals[j].byte_offset) for j in group}
    if len(fmts) != 1:
        raise RecordError(hea, "signals spread over several .dat files or formats (unsupported)")
    if PurePosixPath(dat_name).name != dat_name or dat_name in ("", ".", ".."):
        raise RecordError(hea, f"path outside data root (.dat name {dat_name!r} refused)")
    dat = base.with_name(dat_name)
    if dat.is_symlink() and not _resolves_inside(dat, root):
        raise RecordError(hea, "path outside data root (.dat symlink escapes)")
    fmt, offset = fmts.pop()
    digital = read_digital(dat, fmt, offset, len(group), header.n_samples)
    specs = [header.signals[j] for j in group]
    check_checksums(digital, specs, dat)
    column = {j: k for k, j in enumerate(group)}
    phys = to_physical(digital[:, [column[i] for i in order]], leads, hea, FORMATS[fmt][2])
    return Record(str(rel), header.fs, phys)


def to_physical(digital: np.ndarray, specs: list[SignalSpec], path: Path, sentinel: int | None) -> np.ndarray:
    """float32 mV from digital samples (columns matching ``specs``); ``sentinel`` samples -> NaN."""
    scale = np.array([unit_scale(s.units, path) / s.gain for s in specs], dtype=np.float64)
    if (np.abs(scale) > np.finfo(np.float32).max).any():
        tiny = [s.name for s, k in zip(specs, scale) if abs(k) > np.finfo(np.float32).max]
        raise RecordError(path, f"ADC gain too small for lead(s) {tiny} (mV per unit beyond float32)")
    scale = scale.astype(np.float32)
    base_adc = np.array([s.baseline for s in specs], dtype=np.float32)
    phys = digital.astype(np.float32)
    phys -= base_adc
    phys *= scale
    if sentinel is not None and digital.size and digital.min() == sentinel:  # the format's smallest value
        phys[digital == sentinel] = np.nan
    return phys


def unit_scale(units: str, path: Path) -> float:
    try:
        return _UNIT_TO_MV[units.lower()]
    except KeyError:
        raise RecordError(path, f"unsupported units {units!r} (expected mV, uV or V)") from None


def check_checksums(digital: np.ndarray, specs: list[SignalSpec], dat: Path) -> None:
    """Compare the 16-bit sample sums with the header checksums (where the header gives one)."""
    given = np.array([s.checksum is not None for s in specs])
    if not given.any():
        return
    want = np.array([s.checksum if s.checksum is not None else 0 for s in specs])
    sums = digital.sum(axis=0, dtype=np.int64)
    bad = given & ((sums - want) % 65536 != 0)
    if bad.any():
        names = [specs[i].name for i in np.flatnonzero(bad)]
        raise RecordError(dat, f"checksum mismatch in lead(s) {names} (corrupt .dat)")
