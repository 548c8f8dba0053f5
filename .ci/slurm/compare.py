"""Compare the results of a local run and a SLURM run, and prove the jobs went through SLURM.

usage: compare.py LOCAL_WORKDIR SLURM_WORKDIR SLURMCTLD_LOG
Tables / JSON / text / checkpoints / PNG figures: byte for byte, except wall-time fields (CSV
columns, JSON keys at any depth and HDF5 datasets named in TIMING: e.g. provenance.json's wall_s, the
classifier's per-epoch seconds, digitized.h5's per-image seconds). HDF5: every other dataset and attribute. SVG / PDF
(which embed a date): present in both. Then every job of the SLURM run must have a plugin log
named <jobid>.log, and slurmctld and squeue must show that job id allocated and completed.
"""

import csv
import io
import json
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import h5py
import numpy as np

DATED = {".svg", ".pdf"}  # figure formats that embed their creation date
TIMING = {"seconds", "wall_s"}  # CSV columns / JSON keys holding wall time: never reproducible


def h5_items(path: Path) -> dict:
    """{name: (kind, value)} of every dataset and attribute in an HDF5 file."""
    out = {}
    with h5py.File(path, "r") as f:

        def visit(name, obj):
            for key, val in obj.attrs.items():
                out[f"{name}@{key}"] = ("attr", np.asarray(val))
            if isinstance(obj, h5py.Dataset) and name.rsplit("/", 1)[-1] not in TIMING:
                out[name] = ("data", obj[()])

        visit("/", f)
        f.visititems(visit)
    return out


def same_array(a, b) -> bool:
    """Exact equality; numbers compared bitwise (NaN == NaN), strings/objects by value."""
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.dtype.kind == "O":
        return a.tolist() == b.tolist()
    return a.tobytes() == b.tobytes()


def same_h5(a: Path, b: Path) -> list[str]:
    ia, ib = h5_items(a), h5_items(b)
    diffs = [f"only in one file: {k}" for k in sorted(set(ia) ^ set(ib))]
    return diffs + [f"{k} differs" for k in sorted(set(ia) & set(ib)) if not same_array(ia[k][1], ib[k][1])]


def csv_without_timing(path: Path) -> list[list[str]]:
    rows = list(csv.reader(io.StringIO(path.read_text())))
    keep = [i for i, name in enumerate(rows[0] if rows else []) if name not in TIMING]
    return [[row[i] for i in keep if i < len(row)] for row in rows]


def json_without_timing(value):
    """A parsed JSON value with every key in TIMING removed, at any depth."""
    if isinstance(value, dict):
        return {k: json_without_timing(v) for k, v in value.items() if k not in TIMING}
    if isinstance(value, list):
        return [json_without_timing(v) for v in value]
    return value


def compare_results(local: Path, slurm: Path) -> int:
    files_l = {p.relative_to(local) for p in (local / "results").rglob("*") if p.is_file()}
    files_s = {p.relative_to(slurm) for p in (slurm / "results").rglob("*") if p.is_file()}
    problems = [f"only in {'local' if p in files_l else 'slurm'} run: {p}" for p in sorted(files_l ^ files_s)]
    counts = {"bytes": 0, "csv_without_timing": 0, "json_without_timing": 0, "hdf5": 0, "dated_figure": 0}
    for rel in sorted(files_l & files_s):
        a, b = local / rel, slurm / rel
        if rel.suffix in DATED:
            counts["dated_figure"] += 1
        elif rel.suffix == ".h5":
            counts["hdf5"] += 1
            problems += [f"{rel}: {d}" for d in same_h5(a, b)]
        elif a.read_bytes() == b.read_bytes():
            counts["bytes"] += 1
        elif rel.suffix == ".json":
            counts["json_without_timing"] += 1
            if json_without_timing(json.loads(a.read_text())) != json_without_timing(json.loads(b.read_text())):
                problems.append(f"{rel}: differs beyond wall-time keys {sorted(TIMING)}")
        elif rel.suffix == ".csv" and csv_without_timing(a) == csv_without_timing(b):
            counts["csv_without_timing"] += 1
        else:
            problems.append(f"{rel}: bytes differ")
    print(f"compared {len(files_l & files_s)} result files: {counts}")
    for p in problems:
        print(f"  MISMATCH {p}")
    return len(problems)


def timeline(ctld: str, jobid: str) -> str:
    """'queued Xs, ran Ys' from slurmctld's timestamps of submission, start and completion."""
    stamps = []
    for pattern in (
        rf"submit_batch_job: JobId={jobid} ",
        rf"(Allocate|Started) JobId={jobid} ",
        rf"_job_complete: JobId={jobid} WEXITSTATUS",
    ):
        m = re.search(r"^\[([^\]]+)\][^\n]*" + pattern, ctld, re.M)
        stamps.append(datetime.fromisoformat(m.group(1)) if m else None)
    if None in stamps:
        return "(timestamps missing)"
    return f"queued {(stamps[1] - stamps[0]).total_seconds():5.1f} s, ran {(stamps[2] - stamps[1]).total_seconds():5.1f} s"


def check_slurm_jobs(slurm: Path, ctld_log: Path) -> int:
    logs = sorted((slurm / "logs" / "slurm").rglob("*.log"))
    ids = {p.stem: p.relative_to(slurm / "logs" / "slurm").parts[0] for p in logs}
    ran = set(re.findall(r"^rule (\w+):", (slurm / "snakemake.out").read_text(), re.M)) - {"all"}
    problems = [] if logs else ["no SLURM job logs under logs/slurm"]
    problems += [f"rule {r} has no SLURM job log" for r in sorted(ran - {v[5:] for v in ids.values()})]
    text = ctld_log.read_text()
    listed = subprocess.run(["squeue", "-h", "-t", "all", "-o", "%i %k %T"], capture_output=True, text=True).stdout
    queue = {line.split()[0]: line.split()[1:] for line in listed.splitlines() if line.strip()}
    for jobid, rule in sorted(ids.items(), key=lambda kv: int(kv[0])):
        started = re.search(rf"(Allocate|Started) JobId={jobid} ", text)
        if not started or f"_job_complete: JobId={jobid} WEXITSTATUS 0" not in text:
            problems.append(f"job {jobid} ({rule}) not allocated+completed in slurmctld log")
        comment, state = (queue.get(jobid) or [None, None])[:2]
        if comment != rule and not str(comment).startswith(rule + "_wildcards_"):
            problems.append(f"job {jobid}: squeue shows comment {comment}, expected {rule}")
        elif state != "COMPLETED":
            problems.append(f"job {jobid} ({rule}) is {state} in squeue")
    print(f"SLURM jobs: {len(ids)}")
    for jobid, rule in sorted(ids.items(), key=lambda kv: int(kv[0])):
        print(f"  job {jobid:>3} {rule[5:]:<16} {timeline(text, jobid)}")
    for p in problems:
        print(f"  PROBLEM {p}")
    return len(problems)


if __name__ == "__main__":
    local, slurm, ctld = (Path(a) for a in sys.argv[1:4])
    n = compare_results(local, slurm) + check_slurm_jobs(slurm, ctld)
    print("SLURM check OK" if n == 0 else f"SLURM check FAILED ({n} problems)")
    sys.exit(1 if n else 0)
