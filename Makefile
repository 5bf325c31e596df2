# tact — two set-up commands: `make serve` and `make test`. Everything else is optional.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: serve test test-slow install lint format typecheck proto bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first, pinned: 2.13.0 resolves to the CPU build; any other spec pulls CUDA wheels.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

serve: install  ## venv, install, start on 127.0.0.1:50051 (SQLite, bundled rules, shipped policy)
	$(BIN)/tact serve

test: install lint typecheck  ## lint, type-check, the test suite (SQLite, and PostgreSQL if reachable); slow tests excluded
	$(BIN)/pytest -n 2 --dist loadgroup -m "not slow" $(PYTEST_ARGS)

test-slow: install  ## the full-size evaluations and long runs marked slow (tens of minutes)
	$(BIN)/pytest -m slow -v $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: install
	$(BIN)/mypy engine simulator policies tact bench

proto: install  ## regenerate tact/v1 from proto/tact/v1
	$(BIN)/python -m tact.protogen

bench: install  ## run every benchmark; figures go to docs/benchmarks.md by hand
	for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache var
