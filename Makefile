# CEMS: two commands for a new engineer (`make demo`, `make test`); the rest are parts of them.
SHELL := /bin/bash
PYTHON ?= python3.11
UV_VERSION := 0.13.9
UV := $(PYTHON) -m uv
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.cems-setup
DEMO_CUSTOMERS ?= 10000
DEMO_DAYS ?= 60
DEMO_KPI_DAYS ?= 3
DEMO_API_PORT ?= 8000

DASH_VENV := dashboards/.venv
DASH_STAMP := $(DASH_VENV)/.cems-setup
DASHBOARDS_PORT ?= 8088

.PHONY: setup demo test bench bench-capacity lint lock clean help dashboards-setup dashboards dashboards-lock

help:
	@echo "make demo   set up, then generate a demo operator and run the nightly pipeline end to end"
	@echo "make test   set up, then run lint and the whole test suite"
	@echo "make bench  set up, then measure generation, landing, dbt and churn train/score at 1M customers"
	@echo "make lint   ruff + mypy"
	@echo "make lock   re-compile requirements.lock from pyproject.toml"
	@echo "make dashboards  set up Superset, import the dashboards, serve them (after make demo)"

# Idempotent: only re-runs when the lock or pyproject changed.
setup: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet "uv==$(UV_VERSION)"
	@test -x $(BIN)/python || $(UV) venv --quiet --python $(PYTHON) $(VENV)
	$(UV) pip sync --quiet --python $(BIN)/python requirements.lock
	$(UV) pip install --quiet --python $(BIN)/python --no-deps -e .
	$(BIN)/python -m spark_jobs.jars
	@touch $(STAMP)

# Superset in its own environment (it pins SQLAlchemy 1.4); same idempotence as setup.
dashboards-setup: $(DASH_STAMP)

$(DASH_STAMP): dashboards/requirements.lock
	@$(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet "uv==$(UV_VERSION)"
	@test -x $(DASH_VENV)/bin/python || $(UV) venv --quiet --python $(PYTHON) $(DASH_VENV)
	$(UV) pip sync --quiet --python $(DASH_VENV)/bin/python dashboards/requirements.lock
	@touch $(DASH_STAMP)

dashboards-lock:
	@$(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet "uv==$(UV_VERSION)"
	cd dashboards && $(UV) pip compile pyproject.toml --python-version 3.11 -o requirements.lock

dashboards: setup dashboards-setup
	$(BIN)/cems dashboards up --port $(DASHBOARDS_PORT)

lock:
	@$(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet "uv==$(UV_VERSION)"
	$(UV) pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements.lock

demo: setup
	$(BIN)/cems pipeline run --customers $(DEMO_CUSTOMERS) --days $(DEMO_DAYS) \
		--kpi-days $(DEMO_KPI_DAYS) --seed 7
	$(BIN)/cems users demo
	@echo "Dashboards: make dashboards  (Superset on http://127.0.0.1:$(DASHBOARDS_PORT), in another terminal)"
	@echo "Serving the API until Ctrl-C: open http://127.0.0.1:$(DEMO_API_PORT)/docs"
	$(BIN)/cems serve --port $(DEMO_API_PORT)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: setup dashboards-setup lint
	$(BIN)/pytest -n 2 --dist loadgroup --durations=15

bench: setup
	$(BIN)/python tests/bench/bench_generate.py
	$(BIN)/python tests/bench/bench_landing.py
	$(BIN)/python tests/bench/bench_dbt.py
	$(BIN)/python tests/bench/bench_ml.py
	$(BIN)/python tests/bench/bench_capacity.py

# API capacity at 1M customers on a throwaway PostgreSQL, load from locust (docs/CAPACITY.md).
bench-capacity: setup
	$(BIN)/python tests/bench/bench_capacity.py

clean:
	rm -rf $(VENV) .cems .pytest_cache .mypy_cache .ruff_cache
