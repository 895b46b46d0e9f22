# The README's two commands are `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: run test unit e2e lint bootstrap clean bench

bootstrap: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml docker/bootstrap acd/web/package-lock.json
	docker/bootstrap "$(PYTHON)" "$(VENV)"
	touch $@

run: bootstrap
	docker/run-local

test: bootstrap
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(PY) -m tests.both -ra --durations=15

# One backend at a time: make unit DB=postgresql
DB ?= sqlite
unit: bootstrap
	$(PY) -m pytest -ra --database=$(DB) tests/unit

e2e: bootstrap
	$(PY) -m pytest -ra --database=$(DB) tests/e2e

lint: bootstrap
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

bench: bootstrap
	$(PY) -m bench.routing
	$(PY) -m bench.ready_to_ring 60
	$(PY) -m bench.api_load 50 20
	$(PY) -m bench.reports 1000
	$(PY) -m bench.chaos --minutes 10
