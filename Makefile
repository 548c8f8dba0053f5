# Two commands do all the set-up on a fresh machine (Python 3.11 + the package index):
#   make run    # create .venv, install pinned requirements, run the whole DAG on the synthetic cohort
#   make test   # same set-up, then the test suite
PYTHON ?= python3.11
CORES ?= 2
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: setup run test lint clean-results

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.txt
	$(VENV)/bin/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/snakemake --cores $(CORES)

test: $(STAMP)
	$(VENV)/bin/pytest -q -n $(CORES) --dist loadscope  # one worker per core; a module (and its fixtures) stays on one worker

lint: $(STAMP)
	$(VENV)/bin/snakemake --lint
	$(VENV)/bin/ruff check ecgrecon tests bench workflow_scripts .ci
	$(VENV)/bin/ruff format --check ecgrecon tests bench workflow_scripts .ci

clean-results:
	rm -rf results logs benchmarks .snakemake
