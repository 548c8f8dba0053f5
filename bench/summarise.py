"""Collect Snakemake `benchmark:` files of runs at several cohort sizes; fit scaling; write the summary.

Pure functions (tested in tests/test_bench_summary.py) plus the writers used by bench/run_bench.py:
- :func:`collect`: every ``benchmarks/**/*.tsv`` of each run -> one row per job (size, rule, wildcards,
  s, max_rss_mb, cpu_time); the rule is found by matching the path against the ``benchmark:``
  patterns of ``rules/*.smk``;
- :func:`per_stage`: one row per (size, rule): jobs summed (s, cpu_time), peak RSS the largest job's;
- :func:`scaling`: per rule, the log-log slope (scaling exponent) of s, cpu_time and max RSS against
  records and extrapolations to PTB-XL size (21,800 records): power law through the largest size
  with the fitted exponent, and a straight line a + b n; ``*_low`` / ``*_high`` bound the estimates
  (never below the value at the largest size: a negative slope of noisy small runs is not believed).

Usage (re-summarise existing runs): python bench/summarise.py --sizes 500 2000 8000 [--out results/bench]
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
PTBXL_RECORDS = 21800
LINEAR_TOLERANCE = 0.1  # exponents up to 1.1 count as linear (three noisy points)
DAG = "DAG (wall, all jobs)"
DAG_CPU = "DAG (CPU s / cores)"  # load-independent: the wall time of perfectly packed jobs on idle cores

_RULE = re.compile(r"^rule\s+(\w+)\s*:", re.M)
_BENCH = re.compile(r"^\s+benchmark:\s*\n\s+f?[\"']([^\"']+)[\"']", re.M)


def benchmark_patterns(smk_texts) -> list[tuple[str, str]]:
    """(rule, benchmark pattern) from the text of rule files: the first ``benchmark:`` after ``rule X:``."""
    out = []
    for text in smk_texts:
        heads = list(_RULE.finditer(text)) + [None]
        for head, nxt in zip(heads[:-1], heads[1:]):
            body = text[head.end() : nxt.start() if nxt else len(text)]
            m = _BENCH.search(body)
            if m:
                out.append((head.group(1), m.group(1)))
    return out


def project_patterns(root: Path = ROOT) -> list[tuple[str, str]]:
    return benchmark_patterns(p.read_text() for p in sorted((root / "rules").glob("*.smk")))


def _regex(pattern: str) -> re.Pattern:
    parts = re.split(r"\{(\w+)(?:,[^}]*)?\}", pattern)
    rx = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>[^/]+?)" for i, p in enumerate(parts))
    return re.compile(rx + "$")


def match_rule(rel: str, patterns) -> tuple[str, str]:
    """(rule, "k=v,...") of a benchmark path relative to the run folder; unknown: (path stem, "")."""
    for rule, pattern in patterns:
        m = _regex(pattern).match(rel)
        if m:
            return rule, ",".join(f"{k}={v}" for k, v in m.groupdict().items())
    return Path(rel).with_suffix("").as_posix().removeprefix("benchmarks/"), ""


def read_benchmark(path: Path) -> dict:
    """Mean over the rows (repeats) of one benchmark TSV: s, max_rss_mb, cpu_time ("-"/"NA": NaN)."""
    df = pd.read_csv(path, sep="\t", na_values=["-", "NA", ""])
    cols = {"s": "s", "max_rss": "max_rss_mb", "cpu_time": "cpu_time"}
    return {new: float(pd.to_numeric(df[old], errors="coerce").mean()) if old in df else np.nan for old, new in cols.items()}


def collect(run_dirs: dict[int, Path], patterns) -> pd.DataFrame:
    """One row per job: size, rule, wildcards, s, max_rss_mb, cpu_time, from each run's benchmarks/."""
    rows = []
    for size, run in sorted(run_dirs.items()):
        for tsv in sorted(Path(run).glob("benchmarks/**/*.tsv")):
            rule, wc = match_rule(tsv.relative_to(run).as_posix(), patterns)
            rows.append({"size": int(size), "rule": rule, "wildcards": wc, **read_benchmark(tsv)})
    return pd.DataFrame(rows, columns=["size", "rule", "wildcards", "s", "max_rss_mb", "cpu_time"])


def per_stage(
    jobs: pd.DataFrame, dag_wall: dict[int, float] | None = None, cores: int = 2, dag_cpu: dict[int, float] | None = None
) -> pd.DataFrame:
    """Per (size, rule): jobs, summed s and cpu_time, largest max_rss_mb; plus, for the sizes of
    ``dag_wall`` (whole runs), a DAG row with the run's wall time and one with its CPU seconds / cores.

    ``dag_cpu``: the exact CPU seconds of each whole run (rusage of the Snakemake process tree); sizes
    without it fall back on the jobs' summed ``cpu_time``, which Snakemake polls and so undercounts."""
    g = jobs.groupby(["size", "rule"], sort=True)
    out = g.agg(jobs=("s", "size"), s=("s", "sum"), cpu_time=("cpu_time", "sum"), max_rss_mb=("max_rss_mb", "max")).reset_index()
    if dag_wall:
        peak = jobs.groupby("size")["max_rss_mb"].max()
        cpu = {**jobs.groupby("size")["cpu_time"].sum().to_dict(), **{n: c for n, c in (dag_cpu or {}).items() if np.isfinite(c)}}
        extra = []
        for n, w in sorted(dag_wall.items()):
            row = {"size": n, "jobs": int((jobs["size"] == n).sum()), "cpu_time": cpu.get(n, np.nan), "max_rss_mb": peak.get(n, np.nan)}
            extra += [{**row, "rule": DAG, "s": w}, {**row, "rule": DAG_CPU, "s": cpu.get(n, np.nan) / cores}]
        out = pd.concat([out, pd.DataFrame(extra)], ignore_index=True)
    return out


def fit_exponent(n, y) -> tuple[float, float]:
    """Least-squares slope and intercept of log(y) on log(n); NaN with < 2 sizes or non-positive y."""
    n, y = np.asarray(n, float), np.asarray(y, float)
    ok = (n > 0) & (y > 0) & np.isfinite(y)
    if len(np.unique(n[ok])) < 2:
        return np.nan, np.nan
    b, a = np.polyfit(np.log(n[ok]), np.log(y[ok]), 1)
    return float(b), float(a)


def extrapolate(n, y, target: float = PTBXL_RECORDS) -> dict:
    """Exponents (all sizes; two largest sizes) and estimates at ``target``: power law through the
    largest measured point with either exponent, and the least-squares line a + b n."""
    n, y = np.asarray(n, float), np.asarray(y, float)
    order = np.argsort(n)
    n, y = n[order], y[order]
    b, _ = fit_exponent(n, y)
    b_top, _ = fit_exponent(n[-2:], y[-2:]) if len(n) >= 2 else (np.nan, np.nan)
    power = y[-1] * (target / n[-1]) ** b if np.isfinite(b) else np.nan
    power_top = y[-1] * (target / n[-1]) ** b_top if np.isfinite(b_top) else np.nan
    line = np.nan
    if len(np.unique(n)) >= 2:
        slope, icpt = np.polyfit(n, y, 1)
        line = icpt + slope * target
    est = [v for v in (power, power_top, line) if np.isfinite(v)]
    floor = y[-1] if target >= n[-1] else 0.0  # cost does not fall with more records (noise can say so)
    return {
        "exponent": b,
        "exponent_top": b_top,
        "power": power,
        "power_top": power_top,
        "line": line,
        "low": max(min(est), floor) if est else np.nan,
        "high": max(max(est), floor) if est else np.nan,
    }


def scaling(stages: pd.DataFrame, target: float = PTBXL_RECORDS) -> pd.DataFrame:
    """Per rule: measured values at each size, exponents and extrapolations of s, cpu_time, max RSS."""
    rows = []
    for rule, d in stages.groupby("rule", sort=False):
        d = d.sort_values("size")
        row = {"rule": rule, "jobs": int(d["jobs"].iloc[-1])}
        for _, r in d.iterrows():
            row[f"s@{int(r['size'])}"] = r["s"]
        for col, key in (("s", "s"), ("cpu_time", "cpu"), ("max_rss_mb", "rss")):
            e = extrapolate(d["size"], d[col], target)
            row.update(
                {
                    f"{key}_exponent": e["exponent"],
                    f"{key}_exponent_top": e["exponent_top"],
                    f"{key}_low": e["low"],
                    f"{key}_high": e["high"],
                }
            )
        rows.append(row)
    out = pd.DataFrame(rows)
    return out.sort_values("s_high", ascending=False, key=lambda s: s.fillna(-1)).reset_index(drop=True)


# ---------------------------------------------------------------- writers (not unit-tested)


def _fmt(v, nd=2) -> str:
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "-"
    if isinstance(v, (int, np.integer)):
        return f"{v:,}"
    return f"{v:,.{nd}f}"


def md_table(df: pd.DataFrame, nd=2) -> str:
    head = "| " + " | ".join(df.columns) + " |\n|" + "---|" * len(df.columns) + "\n"
    return head + "".join(
        "| " + " | ".join(_fmt(v, nd) if not isinstance(v, str) else v for v in r) + " |\n" for r in df.itertuples(index=False)
    )


def plot_scaling(stages: pd.DataFrame, table: pd.DataFrame, path: Path, target: float = PTBXL_RECORDS) -> None:
    """Log-log time and peak RSS against records per stage, dotted to the target size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13, 5.5))
    for col, key, ax, unit in (("s", "s", axes[0], "wall seconds (jobs summed)"), ("max_rss_mb", "rss", axes[1], "peak RSS of a job (MB)")):
        for i, r in table.iterrows():
            d = stages[stages["rule"] == r["rule"]].sort_values("size")
            style = dict(color=plt.cm.tab20(i % 20), lw=1.3)
            if r["rule"] in (DAG, DAG_CPU):
                style = dict(color="black" if r["rule"] == DAG else "dimgrey", lw=2.2)
            b = r[f"{key}_exponent"]
            ax.plot(d["size"], d[col], "o-", label=f"{r['rule']} (slope {_fmt(b)})", **style)
            if np.isfinite(r[f"{key}_high"]):
                ax.plot([d["size"].iloc[-1], target], [d[col].iloc[-1], r[f"{key}_high"]], ":", **style)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.axvline(target, color="grey", lw=0.8, ls="--")
        ax.set_xlabel("records (dotted: extrapolation to PTB-XL, upper estimate)")
        ax.set_ylabel(unit)
        ax.legend(fontsize=7, loc="upper left")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].axhline(3 * 3600, color="crimson", ls="--", lw=1)
    axes[1].axhline(8000, color="crimson", ls="--", lw=1)
    axes[0].set_title("time per stage (red: 3 h)")
    axes[1].set_title("peak memory per stage (red: 8 GB)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", required=True)
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "bench")
    args = ap.parse_args(argv)
    jobs = collect({n: args.out / "runs" / str(n) for n in args.sizes}, project_patterns())
    print(scaling(per_stage(jobs)).to_string())


if __name__ == "__main__":
    main()
