"""Check a Snakemake HTML report against the run it was made from.

usage: check_report.py WORKDIR REPORT_HTML EXPECT_JSON_OUT
Every table (.csv) and figure (.png, .svg, .pdf) under WORKDIR/results (raw data excepted)
must be in the report, embedded byte for byte, with a caption and a category. Writes what a
browser must then show ("category > subcategory" -> file names, or labels of labelled results)
to EXPECT_JSON_OUT for browser_check.py.
"""

import base64
import json
import re
import sys
from pathlib import Path

KINDS = {".csv", ".png", ".svg", ".pdf"}
NOT_RESULTS = ("results/raw/",)  # input data, not results of the analysis


def report_vars(html: str) -> dict:
    """The JSON objects the report's scripts declare as ``var name = {...};``."""
    out = {}
    for name in ("results", "categories"):
        m = re.search(rf"var {name} = (\{{.*?\}});\s*</script>", html, re.S)
        if not m:
            raise SystemExit(f"report has no `var {name}`: not a Snakemake report?")
        out[name] = json.loads(m.group(1))
    m = re.search(r'<script id="workflow-desc">\s*var workflow_desc = (".*?");\s*</script>', html, re.S)
    out["workflow_desc"] = json.loads(m.group(1)) if m else ""
    return out


def main(workdir: Path, report: Path, expect_out: Path) -> int:
    rep = report_vars(report.read_text())
    results, categories = rep["results"], rep["categories"]
    expected = sorted(
        str(p.relative_to(workdir))
        for p in (workdir / "results").rglob("*")
        if p.is_file() and p.suffix in KINDS and not str(p.relative_to(workdir)).startswith(NOT_RESULTS)
    )
    where = {}  # path -> menu entries to click in the browser to see it
    for cat, subs in categories.items():
        for sub, paths in subs.items():
            where |= {path: [cat] if len(subs) == 1 else [cat, sub] for path in paths}
    problems = []
    for path in expected:
        entry = results.get(path)
        if entry is None:
            problems.append(f"{path} is not in the report (wrap it in report())")
            continue
        payload = entry["data_uri"].split(";base64,", 1)[1]
        if base64.b64decode(payload) != (workdir / path).read_bytes():
            problems.append(f"{path}: embedded content differs from the file")
        if not re.sub(r"<[^>]+>", "", entry.get("caption") or "").strip():
            problems.append(f"{path}: no caption")
        if path not in where:
            problems.append(f"{path}: in no category")
    if "ecg-recon" not in rep["workflow_desc"]:
        problems.append("front page (report/workflow.rst via `report:`) missing")
    by_cat = {}  # "cat > sub" -> texts shown there: the path, or the labels for labelled results
    for path in expected:
        if path in where:
            labels = (results[path].get("labels") or {}).values()
            by_cat.setdefault(" > ".join(where[path]), []).extend([str(v) for v in labels] or [path])
    by_cat = {k: list(dict.fromkeys(v)) for k, v in by_cat.items()}
    for cat, paths in sorted(by_cat.items()):
        print(f"report: {cat}: {len(paths)} entries")
    for p in problems:
        print(f"  PROBLEM {p}")
    print(f"report: {len(expected)} tables/figures expected, {len(results)} embedded, {len(problems)} problems")
    expect = {"Workflow": ["ecg-recon"]} | {cat: paths for cat, paths in sorted(by_cat.items())}
    expect_out.write_text(json.dumps(expect, indent=1))
    return 1 if problems or not expected else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])))
