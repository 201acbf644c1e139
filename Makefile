# sinkmap — two commands on a fresh machine:
#   make run    set up .venv, install, run the whole workflow on the synthetic Baoting demo (offline)
#   make test   set up .venv with test tools and run the test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
CORES ?= all

.PHONY: help install precompile run dryrun test test-fast check lint format bench schema clean clean-results browser qgis slurm

help:
	@echo "make run      set up .venv and run the demo workflow (results/)"
	@echo "make test     set up .venv and run the tests"
	@echo "make dryrun   show what the workflow would do"
	@echo "make check    ruff, formatting, snakefmt, mypy (part of make test)"
	@echo "make lint     make check + snakemake --lint"
	@echo "make bench    benchmarks (bench/README.md)"
	@echo "make clean    remove results/, resources/, logs/, notebook_runs/ and .venv"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "sinkmap needs Python 3.11 or newer; run: make PYTHON=python3.11 ...")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

# sinkmap's bytecode and its kernels' machine code written ahead: the editable install is
# imported from the source tree, and where PYTHONDONTWRITEBYTECODE is set every process of a run
# (Snakemake, each job server, the tests) compiled the package again (2 % of make test's CPU in a
# profile, bench/README.md); on a fresh checkout the first processes that load the Numba kernels
# each compile them (6 s) until one has cached them. A read-only checkout works as before.
precompile: $(STAMP)
	-@$(BIN)/python -m compileall -q sinkmap
	-@$(BIN)/python -c "from sinkmap import kernels; kernels.warm()"

run: $(STAMP) precompile
	$(BIN)/snakemake --cores $(CORES)
	@echo "Outputs in results/ (SYNTHETIC demo data unless you configured real datasets)."

dryrun: $(STAMP)
	$(BIN)/snakemake -n --cores $(CORES)

# The tests in worker processes, each test module whole on one worker (its fixtures made once; the
# shared published run once for all, tests/workflow/conftest.py), the slowest modules first
# (tests/conftest.py). One worker more than cores: the workflow tests wait on subprocesses and on
# SLURM's queue (2 cores: 8 min 19 s with 3 workers, bench/README.md "make test").
TEST_WORKERS ?= $(shell echo $$(( $$(nproc) + 1 )))
test: $(STAMP) precompile browser qgis slurm check
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not workflow"

# The report test renders the HTML report in a real headless browser (Debian's chromium).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  command -v apt-get >/dev/null 2>&1 || { echo "install chromium (the report test needs a browser)"; exit 1; }; \
	  echo "installing chromium for the report test"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

# The QGIS test opens every published layer and the run's project in Debian's QGIS (PyQGIS in the system
# Python, /usr/bin/python3). The lock timeout waits for another apt run on the same machine.
qgis:
	@/usr/bin/python3 -c 'import qgis.core' >/dev/null 2>&1 || { \
	  command -v apt-get >/dev/null 2>&1 || { echo "install QGIS with PyQGIS (packages qgis, python3-qgis): the QGIS test needs it"; exit 1; }; \
	  echo "installing QGIS (qgis, python3-qgis) for the QGIS test"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get -o DPkg::Lock::Timeout=900 update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends \
	    qgis python3-qgis >/dev/null; }

# The SLURM test starts a one-node cluster (munged, slurmctld, slurmd; Debian's slurm-wlm and munge).
slurm:
	@command -v slurmctld >/dev/null 2>&1 && command -v munged >/dev/null 2>&1 || { \
	  command -v apt-get >/dev/null 2>&1 || { echo "install slurm-wlm and munge (the SLURM test starts a one-node cluster)"; exit 1; }; \
	  echo "installing slurm-wlm and munge for the SLURM test"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get -o DPkg::Lock::Timeout=900 update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends slurm-wlm munge >/dev/null; }

check: $(STAMP)
	$(BIN)/ruff check sinkmap tests bench workflow/scripts aoi docs/examples
	$(BIN)/ruff format --check sinkmap tests bench workflow/scripts aoi docs/examples
	$(BIN)/snakefmt --check Snakefile workflow/run.smk workflow/rules
	$(BIN)/mypy sinkmap

lint: check
	$(BIN)/snakemake --lint --cores 1

format: $(STAMP)
	$(BIN)/ruff format sinkmap tests bench workflow/scripts aoi docs/examples
	$(BIN)/snakefmt Snakefile workflow/run.smk workflow/rules

bench: $(STAMP)
	$(BIN)/python bench/bench_stages.py

schema: $(STAMP)
	$(BIN)/sinkmap schema > workflow/schemas/config.schema.json

clean-results:
	rm -rf results resources logs .snakemake notebook_runs

clean: clean-results
	rm -rf $(VENV)
