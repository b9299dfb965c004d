# spikeforge: two set-up commands, both idempotent on a fresh clone.
#   make test   build .venv and .venv-lava if needed, then run the whole test suite
#   make demo   build what is needed, then compile and run the bundled default model
SHELL := /bin/bash
VENV := .venv
PYTHON := $(VENV)/bin/python
export SPIKEFORGE_CACHE ?= $(CURDIR)/.cache
export NUMBA_CACHE_DIR ?= $(CURDIR)/.cache/numba
export MPLBACKEND ?= Agg

.PHONY: all venv lava test demo bench clean

all: test

venv: $(VENV)/.stamp
$(VENV)/.stamp: pyproject.toml requirements/main.txt requirements/constraints.txt
	bash scripts/setup_main.sh

lava: .venv-lava/.stamp
.venv-lava/.stamp: requirements/lava.txt
	bash scripts/setup_lava.sh

test: venv lava
	$(PYTHON) -m pytest -q tests

demo: venv lava
	$(VENV)/bin/spikeforge demo

bench: venv
	$(PYTHON) benchmarks/bench_runtime.py

clean:
	rm -rf $(VENV) .venv-lava .cache
