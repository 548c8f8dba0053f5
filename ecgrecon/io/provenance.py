"""Provenance of a results folder: which config, code and package versions made it.

`write_provenance` writes ``<folder>/provenance.json`` (atomically): the SHA-256 of the
canonical JSON of the config, the git commit of this checkout, the seed, the wall time and
the versions of the packages that shape the numbers.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from ecgrecon.io.atomic import write_json

PACKAGES = ("numpy", "scipy", "torch", "snakemake", "wfdb", "h5py")
REPO = Path(__file__).resolve().parents[1]
CORE_KEYS = ("config_sha256", "git_commit", "git_dirty", "seed", "wall_s", "versions")


def config_hash(config: dict) -> str:
    """SHA-256 of the config as canonical JSON (sorted keys, no whitespace)."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _git(*args: str, cwd: Path = REPO) -> str | None:
    """Output of a read-only git command, or None when git or the repository is missing."""
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}  # never refresh (write) the index
    try:
        proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, env=env)
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def git_commit(cwd: Path = REPO) -> str:
    """``git rev-parse HEAD`` of the checkout, or "unknown"."""
    return _git("rev-parse", "HEAD", cwd=cwd) or "unknown"


def git_dirty(cwd: Path = REPO) -> bool | None:
    """True when tracked files differ from HEAD; None when unknown."""
    out = _git("status", "--porcelain", "--untracked-files=no", cwd=cwd)
    return None if out is None else bool(out)


def package_versions() -> dict[str, str]:
    """Python and the numerically relevant packages ("not installed" when absent)."""
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def write_provenance(folder, config: dict, seed: int, wall_s: float, extra: dict | None = None) -> Path:
    """Write ``<folder>/provenance.json``; ``extra`` keys are added at top level."""
    record = {
        "config_sha256": config_hash(config),
        "git_commit": git_commit(),
        "git_dirty": git_dirty(),
        "seed": int(seed),
        "wall_s": round(float(wall_s), 3),
        "versions": package_versions(),
    }
    clash = set(extra or {}) & set(CORE_KEYS)
    if clash:
        raise ValueError(f"extra may not override {sorted(clash)}")
    record.update(extra or {})
    path = Path(folder) / "provenance.json"
    write_json(path, record)
    return path
