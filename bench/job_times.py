"""Job seconds of one finished run, per rule and task: where a `make run` spends its time.

Reads every ``benchmarks/**/*.tsv`` of the run (:func:`summarise.collect`), groups the jobs by rule and by the task
wildcard where the rule has one, and writes ``job_times.csv`` and ``job_times.md`` (jobs, summed seconds, share of the
run's job seconds, the largest job); the last line gives the sum over all jobs and that sum / cores, the wall time
of perfectly packed jobs on idle cores (the real wall time is the run's own, e.g. from `/usr/bin/time`).

Usage: python bench/job_times.py --run /path/to/run [--cores 2] [--out results/bench]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from summarise import collect, project_patterns


def job_table(jobs: pd.DataFrame) -> pd.DataFrame:
    """(rule, task) groups of ``collect``'s job rows: jobs, s, share, max_s; largest first."""
    task = jobs["wildcards"].str.extract(r"(?:^|,)task=([^,]+)", expand=False).fillna("-")
    g = jobs.assign(task=task).groupby(["rule", "task"])["s"]
    out = g.agg(jobs="size", s="sum", max_s="max").reset_index()
    out["share"] = out["s"] / out["s"].sum()
    return out.sort_values("s", ascending=False, ignore_index=True)


def markdown(table: pd.DataFrame, run: Path, cores: int) -> str:
    total = table["s"].sum()
    lines = [f"# Job seconds of `{run}`", "", "| rule | task | jobs | s | share | largest job (s) |", "|---|---|---|---|---|---|"]
    for r in table.itertuples():
        lines.append(f"| {r.rule} | {r.task} | {r.jobs} | {r.s:.1f} | {r.share:.1%} | {r.max_s:.1f} |")
    lines += ["", f"{int(table['jobs'].sum())} jobs, {total:.0f} s of job time; / {cores} cores = {total / cores / 60:.1f} min.", ""]
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, required=True, help="a finished run's directory (holds benchmarks/)")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("results/bench"))
    a = ap.parse_args(argv)
    jobs = collect({0: a.run}, project_patterns())
    if jobs.empty:
        raise SystemExit(f"job_times: error: {a.run}: no benchmarks/**/*.tsv (not a finished run?)")
    table = job_table(jobs)
    a.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(a.out / "job_times.csv", index=False)
    (a.out / "job_times.md").write_text(markdown(table, a.run, a.cores))
    print(markdown(table, a.run, a.cores))


if __name__ == "__main__":
    main()
