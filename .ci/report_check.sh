#!/usr/bin/env bash
# Report check: build `snakemake --report results/report.html` after a run, assert that every
# table and figure is embedded (byte for byte, with caption and category), then open the
# report in headless Chromium (installed from Debian when missing and possible) and fail on
# console errors or on a category that does not list its files.
#   usage: .ci/report_check.sh                       # small synthetic run in a scratch dir first
#          .ci/report_check.sh WORKDIR CONFIGFILE    # report on a finished run
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SMK=$ROOT/.venv/bin/snakemake
PY=$ROOT/.venv/bin/python
t0=$(date +%s)

if [ $# -ge 2 ]; then
    work=$(realpath "$1") cfg=$(realpath "$2")
else
    work=$(mktemp -d /tmp/ecgrecon-report.XXXXXX)
    trap 'rm -rf "$work"' EXIT
    cfg=$ROOT/.ci/slurm/tiny.yaml
    echo "== small synthetic run in $work"
    timeout -s KILL 1200 "$SMK" --snakefile "$ROOT/Snakefile" --directory "$work" --configfile "$cfg" --cores "$(nproc)" \
        >"$work/run.out" 2>&1 || { tail -n 40 "$work/run.out"; exit 1; }
fi

echo "== snakemake --report results/report.html"
"$SMK" --snakefile "$ROOT/Snakefile" --directory "$work" --configfile "$cfg" --report results/report.html \
    >"$work/report.out" 2>&1 || { tail -n 40 "$work/report.out"; exit 1; }
"$PY" .ci/report/check_report.py "$work" "$work/results/report.html" "$work/report_expect.json"

if ! command -v chromium >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "== installing chromium (apt-get)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
        || echo "chromium is not installable here" >&2
fi
if command -v chromium >/dev/null; then
    "$PY" .ci/report/browser_check.py "$work/results/report.html" "$work/report_expect.json"
else
    echo "== chromium not available: browser check not run" >&2
fi
echo "== report check passed in $(($(date +%s) - t0)) s"
