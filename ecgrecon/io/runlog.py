"""Logging for workflow scripts: timestamped lines to the rule's log file and to stderr.

`script_run(snakemake)` wraps a script body so that any failure ends with one clear
``ERROR [rule]: message`` line (the full traceback goes to the log file only).
"""

from __future__ import annotations

import contextlib
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path


class Logger:
    """Callable that writes ``HH:MM:SS message`` to a file and to stderr."""

    def __init__(self, path: str | None, prefix: str = ""):
        self.prefix = prefix
        self._fh = None
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(path, "a", buffering=1)

    def __call__(self, msg: str) -> None:
        line = f"{time.strftime('%H:%M:%S')} {self.prefix}{msg}"
        print(line, file=sys.stderr, flush=True)
        if self._fh:
            self._fh.write(line + "\n")

    def traceback(self) -> None:
        if self._fh:
            self._fh.write(traceback.format_exc())

    def close(self) -> None:
        if self._fh:
            self._fh.close()


@contextlib.contextmanager
def script_run(snakemake, provenance: tuple[str, ...] = ()) -> Iterator[Callable[[str], None]]:
    """Context for a workflow script: yields a logger, turns exceptions into a clear exit.

    On success, each folder in ``provenance`` gets a ``provenance.json`` (config hash, git
    commit, versions, seed, wall time); name a folder only from the one rule that owns it.
    """
    rule = getattr(snakemake, "rule", "script")
    log = Logger(snakemake.log[0] if len(snakemake.log) else None, prefix=f"[{rule}] ")
    start = time.time()
    try:
        yield log
        wall = time.time() - start
        if provenance:
            from ecgrecon.io.provenance import write_provenance

            config = dict(snakemake.config)
            for folder in provenance:
                write_provenance(folder, config, config["seed"], wall, extra={"rule": rule, "threads": snakemake.threads})
        log(f"done in {wall:.1f} s")
    except Exception as exc:  # noqa: BLE001 - every failure gets one readable line
        log.traceback()
        log(f"ERROR: {exc}")
        log.close()
        sys.exit(1)
    log.close()


def file_list(named_input) -> list[str]:
    """A named rule input as a list of paths (Snakemake hands a one-file named input over as a plain string)."""
    return [named_input] if isinstance(named_input, str) else [str(p) for p in named_input]
