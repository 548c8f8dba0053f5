"""docs/results.md from the result tables of finished runs (no hand-copied numbers).

    python -m ecgrecon.evaluation.results_doc --run synthetic=results --run real=/tmp/real_shared --out docs/results.md

Each ``--run LABEL=FOLDER`` is the working directory of one finished run (its ``results/``); the
page has one section per run and task (test split of fold ``official``): the mean over the scored
leads of every population method beside the linear baseline of the same run, the 10-s record
level, PCM where the task has it, diagnostic retention, and, when a run has the tasks ``paper`` and
``lead_i``, a paragraph comparing them on the leads both reconstruct.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from ecgrecon.io.atomic import atomic_path
from ecgrecon.methods import baseline, display

FOLD = "official"


def _f(v, digits=3) -> str:
    return "n/a" if pd.isna(v) else f"{v:.{digits}f}"


def _tasks(run: Path) -> list[str]:
    found = sorted(p.parent.parent.name for p in (run / "results").glob("*/tables/segment_metrics.csv"))
    return sorted(found, key=lambda t: (t != "paper", t))


def _mean_rows(table: pd.DataFrame) -> pd.DataFrame:
    return table[(table["fold"] == FOLD) & (table["lead"] == "Mean")].set_index("variant")


def task_section(run: Path, task: str) -> list[str]:
    tables = run / "results" / task / "tables"
    seg = pd.read_csv(tables / "segment_metrics.csv")
    leads = [lead for lead in dict.fromkeys(seg["lead"]) if lead != "Mean"]
    mean = _mean_rows(seg)
    rec_path = tables / "record_metrics.csv"
    rec = _mean_rows(pd.read_csv(rec_path)) if rec_path.exists() and rec_path.stat().st_size > 1 else None
    n_seg = int(mean["n_segments"].iloc[0])
    n_rec = None if rec is None or rec.empty else int(rec["n_records"].iloc[0])
    out = [
        f"### task `{task}`: mean over {', '.join(leads)}",
        "",
        f"Test split of fold {FOLD}: {n_seg} segments" + (f", {n_rec} records." if n_rec else "."),
        "",
        f"| method | segment RMSE (mV) | R² | Pearson r | record RMSE (mV, ± 95 % CI) | vs {display(baseline())} (segment RMSE) |",
        "|---|---|---|---|---|---|",
    ]
    base = baseline()
    gl = mean.loc[base, "rmse"] if base in mean.index else None
    for m in mean.index:
        r = mean.loc[m]
        record = "-" if rec is None or m not in rec.index else f"{_f(rec.loc[m, 'rmse_mean'])} ± {_f(rec.loc[m, 'rmse_ci95'])}"
        vs = "-" if gl is None or m == base else f"{100 * (r['rmse'] - gl) / gl:+.1f} %"
        out.append(f"| {display(m)} | {_f(r['rmse'])} | {_f(r['r2'])} | {_f(r['pearson_seg'])} | {record} | {vs} |")
    pcm = tables / "pcm_metrics.csv"
    if pcm.exists():
        p = pd.read_csv(pcm)
        p = p[(p["fold"] == FOLD) & (p["split"] == "test_records") & (p["lead"] == "Mean")].set_index("method")
        if {"PCM", "GL"} <= set(p.index):
            out += [
                "",
                f"PCM (own protocol: 2 s of each test record's true 12-lead ECG calibrate it; "
                f"{int(p.loc['PCM', 'n_windows'])} record windows): RMSE {_f(p.loc['PCM', 'rmse'])} mV, "
                f"R² {_f(p.loc['PCM', 'r2'])}, where GL gets {_f(p.loc['GL', 'rmse'])} mV, "
                f"{_f(p.loc['GL', 'r2'])} on the same windows.",
            ]
    ret = tables / "retention_metrics.csv"
    if ret.exists() and ret.stat().st_size > 1:
        t = pd.read_csv(ret)
        t = t[t["fold"] == FOLD]
        if len(t):
            out += [
                "",
                "Diagnostic retention (superclass classifier, macro-AUC, retention in brackets): "
                + ", ".join(f"{display(r['method'])} {_f(r['macro_auc'])} ({_f(r['auc_retention'])})" for _, r in t.iterrows())
                + ".",
            ]
    return out + [""]


def compare_tasks(run: Path, a: str = "paper", b: str = "lead_i") -> list[str]:
    """One paragraph: the same methods on the leads both tasks reconstruct."""
    ta = pd.read_csv(run / "results" / a / "tables" / "segment_metrics.csv")
    tb = pd.read_csv(run / "results" / b / "tables" / "segment_metrics.csv")
    ta, tb = ta[ta["fold"] == FOLD], tb[tb["fold"] == FOLD]
    shared = [lead for lead in dict.fromkeys(ta["lead"]) if lead != "Mean" and lead in set(tb["lead"])]
    methods = [m for m in dict.fromkeys(ta["variant"]) if m in set(tb["variant"]) and m not in ("zero", "train_mean")]
    if not shared or not methods:
        return []

    def mean_rmse(t, m):
        return t[(t["variant"] == m) & t["lead"].isin(shared)]["rmse"].mean()

    parts = []
    for m in methods:
        ra, rb = mean_rmse(ta, m), mean_rmse(tb, m)
        parts.append(f"{display(m)} {_f(ra)} -> {_f(rb)} mV ({100 * (rb - ra) / ra:+.0f} %)")
    best_b = min(methods, key=lambda m: mean_rmse(tb, m))
    return [
        f"**`{b}` vs `{a}`** (same run, same test segments): on the leads both tasks reconstruct "
        f"({', '.join(shared)}), mean segment RMSE with the inputs of `{a}` -> with lead I alone: "
        + "; ".join(parts)
        + f". With one input lead the best method on these leads is {display(best_b)}.",
        "",
    ]


def write(runs: dict[str, Path], out) -> str:
    lines = [
        "# Results",
        "",
        "Written by `python -m ecgrecon.evaluation.results_doc "
        + " ".join(f"--run {k}={v}" for k, v in runs.items())
        + f" --out {out}` from the runs' result tables; do not edit by hand. Synthetic and real numbers are "
        "never mixed; every table has the population linear baseline GL of the same run.",
        "",
    ]
    for label, run in runs.items():
        lines += [f"## {label} (`{run}`)", ""]
        tasks = _tasks(Path(run))
        if not tasks:
            raise FileNotFoundError(f"{run}: no results/*/tables/segment_metrics.csv (run the pipeline first)")
        for task in tasks:
            lines += task_section(Path(run), task)
        if {"paper", "lead_i"} <= set(tasks):
            lines += compare_tasks(Path(run))
    text = "\n".join(lines)
    with atomic_path(out) as tmp:
        Path(tmp).write_text(text)
    return text


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ecgrecon.evaluation.results_doc", description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--run",
        action="append",
        required=True,
        metavar="LABEL=FOLDER",
        help="a finished run's working directory, e.g. synthetic=. (repeatable)",
    )
    ap.add_argument("--out", default="docs/results.md")
    a = ap.parse_args(argv)
    runs = {}
    for item in a.run:
        label, sep, folder = item.partition("=")
        if not sep:
            ap.error(f"--run {item!r}: expected LABEL=FOLDER")
        runs[label] = Path(folder)
    write(runs, a.out)
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
