"""PCM metrics table (reported separately from Tables I/II): CSV rows and a Markdown table.

PCM reads 2 s of the *true* 12-lead ECG of each test patient (ecgrecon.learn.calibration), so it is
never mixed into the main tables; GL is shown beside it on the same windows.
"""

from __future__ import annotations

import pandas as pd

from ecgrecon.evaluation.cells import fmt
from ecgrecon.io.atomic import atomic_path, write_csv

METHODS = ("GL", "PCM-raw", "PCM")
COLUMNS = ("rmse", "r2", "pearson_seg")


def metrics_frame(summary: dict) -> pd.DataFrame:
    """Long table (fold, split, method, lead, n_windows, metrics) from a run_pcm summary."""
    df = pd.DataFrame(summary.get("test_metrics", []))
    if df.empty:
        return pd.DataFrame(columns=["fold", "split", "method", "lead", "n_windows", *COLUMNS])
    df.insert(0, "fold", summary["fold"])
    return df


def markdown(df: pd.DataFrame, summary: dict) -> str:
    """Per split: rows leads + Mean, RMSE / R² / Pearson r for GL, PCM-raw, PCM; the chosen setting."""
    r = summary["rule"]
    rule = r["name"] if r["name"] != "ramp" else f"ramp({r['lo']:g},{r['hi']:g})"
    parts = [
        "# PCM: per-patient calibration (test split, reported separately)",
        "",
        f"PCM uses the first {summary['cal_s']:g} s of a true 12-lead ECG of each test patient (another "
        "record when there is one, else the record's own start, never evaluated), so it is not comparable "
        "with Tables I/II. GL = population linear baseline on the same windows; PCM-raw = the per-patient "
        f"map alone. Chosen on the validation split: alpha {summary['alpha']:g}, rule {rule} "
        f"(val RMSE {summary['val_rmse']:.4f} mV, GL {summary['val_rmse_gl']:.4f} mV).",
        "",
    ]
    if df.empty:
        return "\n".join(parts + ["No test windows to evaluate.", ""])
    for split, t in df.groupby("split", sort=False):
        t = t.set_index(["method", "lead"])
        leads = list(dict.fromkeys(t.index.get_level_values("lead")))
        header = ["lead"] + [f"{n} {m}" for n in ("RMSE (mV)", "R²", "Pearson r") for m in METHODS]
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        for lead in leads:
            cells = [fmt(t.loc[(m, lead), k]) for k in COLUMNS for m in METHODS]
            lines.append("| " + " | ".join([f"**{lead}**" if lead == "Mean" else lead, *cells]) + " |")
        n = int(t["n_windows"].iloc[0])
        gl, pcm = t.loc[("GL", "Mean"), "rmse"], t.loc[("PCM", "Mean"), "rmse"]
        verdict = "beats" if pcm < gl else "does not beat"
        parts += [f"## {split} ({n} windows)", "", *lines, "", f"PCM {verdict} GL on mean RMSE ({fmt(pcm)} vs {fmt(gl)} mV).", ""]
    return "\n".join(parts)


def write_pcm_tables(summary: dict, csv_path, md_path) -> pd.DataFrame:
    """Write pcm_metrics.csv and .md (atomically); returns the CSV frame."""
    df = metrics_frame(summary)
    write_csv(csv_path, df)
    with atomic_path(md_path) as tmp:
        tmp.write_text(markdown(df, summary))
    return df
