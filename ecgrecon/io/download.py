"""Download PTB-XL (or any PhysioNet project) and verify it against PhysioNet's SHA256SUMS.txt.

Files already present with the right checksum are skipped, so an interrupted download
resumes. Every file is written to a temporary name and renamed only after its checksum
matched. Offline or unreachable servers give one clear error that says what to do instead.
"""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ecgrecon.io.atomic import atomic_path

SUMS = "SHA256SUMS.txt"
METADATA = ("ptbxl_database.csv", "scp_statements.csv")


class DownloadError(RuntimeError):
    """A download failed (offline, HTTP error) or a checksum did not match."""


PTBXL_HINT = "Download PTB-XL by hand and set `dataset: ptbxl_local` and `data.ptbxl_dir` in config.yaml instead."
NSTDB_FILES = tuple(f"{k}.{ext}" for k in ("bw", "em", "ma") for ext in ("hea", "dat"))
NSTDB_HINT = (
    "Copy NSTDB's bw, em and ma (.hea, .dat) into a folder and set `noise.source: nstdb` and `noise.nstdb_dir`, "
    "or use `noise.source: synthetic` (labelled so in every table)."
)


def _fetch(url: str, timeout: float = 60.0, hint: str = PTBXL_HINT) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.read()
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(f"{url}: cannot reach the server ({reason}). Are you offline? {hint}") from None


def parse_sums(text: str) -> dict[str, str]:
    """Parse 'sha256  relative/path' lines into {path: sha256}."""
    sums = {}
    for line in text.splitlines():
        parts = line.strip().split(maxsplit=1)
        if len(parts) == 2:
            sums[parts[1].lstrip("*")] = parts[0].lower()
    return sums


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def wanted_files(sums: dict[str, str], records: str) -> list[str]:
    """The metadata files plus every file of the requested records folder."""
    missing = [m for m in METADATA if m not in sums]
    if missing:
        raise DownloadError(f"{SUMS} lists no {', '.join(missing)}: is the URL a PTB-XL release?")
    return list(METADATA) + sorted(p for p in sums if p.startswith(records + "/"))


def _get_one(base_url: str, out_dir: Path, rel: str, expected: str, hint: str = PTBXL_HINT) -> bool:
    """Download one file unless already verified; return True if it was downloaded."""
    dest = (out_dir / rel).resolve()
    if not dest.is_relative_to(out_dir.resolve()):
        raise DownloadError(f"{SUMS}: path {rel!r} points outside {out_dir}")
    if dest.exists() and sha256(dest) == expected:
        return False
    data = _fetch(base_url + rel, hint=hint)
    got = hashlib.sha256(data).hexdigest()
    if got != expected:
        raise DownloadError(f"{base_url + rel}: SHA256 {got} does not match {SUMS} ({expected})")
    with atomic_path(dest) as tmp:
        tmp.write_bytes(data)
    return True


def download_ptbxl(base_url: str, out_dir, records: str = "records100", threads: int = 4, log=print) -> int:
    """Mirror metadata + ``records`` of a PhysioNet PTB-XL release into ``out_dir``; return files fetched."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if not base_url.endswith("/"):
        base_url += "/"
    sums = parse_sums(_fetch(base_url + SUMS).decode())
    files = wanted_files(sums, records)
    log(f"{len(files)} files to verify/download from {base_url}")
    fetched = 0
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        futures = [pool.submit(_get_one, base_url, out_dir, rel, sums[rel]) for rel in files]
        for i, fut in enumerate(futures, 1):
            fetched += fut.result()
            if i % max(1, len(files) // 10) == 0 or i == len(files):
                log(f"verified {i}/{len(files)} files ({fetched} downloaded)")
    return fetched


def download_nstdb(base_url: str, out_dir, threads: int = 2, log=print) -> int:
    """Mirror NSTDB's noise records bw, em, ma (``.hea``, ``.dat``) into ``out_dir``, each checked against the
    release's SHA256SUMS.txt; offline, one line names the missing files and what to do instead."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if not base_url.endswith("/"):
        base_url += "/"
    missing = [f for f in NSTDB_FILES if not (out_dir / f).is_file()]
    hint = f"Missing in {out_dir}: {', '.join(missing) or 'none'}. {NSTDB_HINT}"
    sums = parse_sums(_fetch(base_url + SUMS, hint=hint).decode())
    unlisted = [f for f in NSTDB_FILES if f not in sums]
    if unlisted:
        raise DownloadError(f"{base_url}{SUMS} lists no {', '.join(unlisted)}: is the URL an NSTDB release?")
    fetched = 0
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        for ok in pool.map(lambda rel: _get_one(base_url, out_dir, rel, sums[rel], hint), NSTDB_FILES):
            fetched += ok
    log(f"NSTDB: {len(NSTDB_FILES)} files verified in {out_dir} ({fetched} downloaded)")
    return fetched
