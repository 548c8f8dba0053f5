#!/usr/bin/env bash
# SLURM path, tested for real: start a single-node SLURM cluster on this machine (root; apt-get
# installs slurm-wlm and munge when missing), run the workflow on a small synthetic config
# once with the local executor and once with the SLURM executor (--workflow-profile
# profiles/slurm), then assert identical results and that every job went through SLURM.
# The daemons are stopped by PID on exit, also on failure.
#   usage: .ci/slurm_check.sh [snakemake targets]   (default: the whole DAG, ~4 min on 2 cores)
#   quicker: .ci/slurm_check.sh results/segments/segments.h5 results/folds/folds.json \
#                results/decoders/C/official/V1.pt    (data stages + one decoder, ~2 min)
#   env:   SLURM_CHECK_TIMEOUT (s, default 900): hard limit of each run (timeout -s KILL)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SMK=$ROOT/.venv/bin/snakemake
NCPU=$(nproc)
source .ci/slurm/cluster.sh

work=$(mktemp -d /tmp/ecgrecon-slurm.XXXXXX)
chmod 755 "$work"
finish() {
    local rc=$?
    slurm_stop
    if [ "$rc" -eq 0 ]; then rm -rf "$work"; else echo "SLURM check failed (rc $rc); kept $work" >&2; fi
}
trap finish EXIT
trap 'exit 130' INT TERM
t0=$(date +%s)

slurm_install
slurm_start "$work/cluster"

cp .ci/slurm/tiny.yaml "$work/ci.yaml"
targets=("$@")
echo "== targets: ${targets[*]:-all (whole DAG)}"
# Both runs take the SLURM profile's resources, threads capped at this node's CPUs, so each job
# gets the same thread count (torch's CPU results depend on it): only the executor differs.
common=(--snakefile "$ROOT/Snakefile" --configfile "$work/ci.yaml" --workflow-profile "$ROOT/profiles/slurm"
    --max-threads "$NCPU" "${targets[@]}")
mkdir -p "$work/local" "$work/slurm"

echo "== local run (--executor local, $NCPU cores)"
t1=$(date +%s)
timeout -s KILL "${SLURM_CHECK_TIMEOUT:-900}" "$SMK" "${common[@]}" --directory "$work/local" \
    --executor local --cores "$NCPU" >"$work/local.out" 2>&1 \
    || { tail -n 40 "$work/local.out"; exit 1; }
echo "   $(($(date +%s) - t1)) s"

echo "== SLURM run (--executor slurm from the profile; no accounting database)"
t1=$(date +%s)
timeout -s KILL "${SLURM_CHECK_TIMEOUT:-900}" "$SMK" "${common[@]}" --directory "$work/slurm" \
    --slurm-no-account --slurm-status-command squeue --slurm-init-seconds-before-status-checks 2 \
    --slurm-keep-successful-logs >"$work/slurm/snakemake.out" 2>&1 \
    || { tail -n 60 "$work/slurm/snakemake.out"; exit 1; }
echo "   $(($(date +%s) - t1)) s"

"$ROOT/.venv/bin/python" .ci/slurm/compare.py "$work/local" "$work/slurm" "$work/cluster/slurmctld.log"
echo "== SLURM check passed in $(($(date +%s) - t0)) s"
