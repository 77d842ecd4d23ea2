# `make demo` and `make test` do all set-up on a fresh machine (Python 3.11 + pip).
PYTHON ?= python3.11
VENV   ?= .venv
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed
# Adapter distributions (integrations/*/pyproject.toml) are installed with their `test` extra and
# tested by the same pytest run; a new one needs no change here.
INTEGRATIONS := $(patsubst %/,%,$(sort $(dir $(wildcard integrations/*/pyproject.toml))))

.PHONY: demo test lint typecheck bench clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(STAMP): $(VENV)/bin/python pyproject.toml $(wildcard integrations/*/pyproject.toml)
	$(PY) -m pip install -q -e '.[dev]' $(foreach d,$(INTEGRATIONS),-e '$(d)[test]')
	touch $(STAMP)

# The demo needs only the embed extra (the local embedder); `make test` installs it with dev.
DEMO_STAMP = $(VENV)/.installed-demo

$(DEMO_STAMP): $(VENV)/bin/python pyproject.toml
	$(PY) -m pip install -q -e '.[embed]'
	touch $(DEMO_STAMP)

demo: $(DEMO_STAMP)
	$(PY) examples/demo.py

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: $(STAMP)
	$(PY) -m mypy

test: lint typecheck
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) -m pip install -q -e '.[bench]'
	MEMVID_TELEMETRY=0 $(PY) benchmarks/bench_engine.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
