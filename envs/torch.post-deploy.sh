#!/usr/bin/env bash
# Snakemake runs this once in the new conda env: install this checkout's ecgrecon package (the rules'
# scripts import it; they never edit sys.path). rules/common.smk sets ECGRECON_SOURCE to the workflow's
# folder. Editable, so the env follows the checkout's code.
set -euo pipefail
python -m pip install --no-deps -e "${ECGRECON_SOURCE:?ECGRECON_SOURCE is set by rules/common.smk}"
