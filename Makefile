# MotorBand: `make run` serves the demo study, `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PIP_DISABLE_PIP_VERSION_CHECK := 1
PYTEST_ARGS ?= -n 2 -p no:logging

.PHONY: run test test-sqlite test-postgres lint bench lock clean migrate demo serve-prod

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt $(VENV)/.runtime
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

var:
	mkdir -p var

migrate: $(VENV)/.runtime | var
	$(BIN)/python manage.py migrate --noinput -v 0

demo: migrate
	$(BIN)/python manage.py load_demo --if-empty

run: demo
	@echo "MotorBand on http://127.0.0.1:8000/ (demo users: see README.md)"
	$(BIN)/python manage.py runserver 127.0.0.1:8000

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# The whole suite, on SQLite and again on a real PostgreSQL server started on 127.0.0.1.
test: $(VENV)/.dev | var
	bash scripts/system-deps.sh
	$(MAKE) lint
	$(MAKE) test-sqlite
	$(MAKE) test-postgres

test-sqlite: $(VENV)/.dev | var
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-postgres: $(VENV)/.dev | var
	MOTORBAND_PG_FAST=1 bash scripts/postgres.sh start >/dev/null
	DATABASE_URL=$$(bash scripts/postgres.sh url) $(BIN)/python -m pytest $(PYTEST_ARGS); \
	  status=$$?; bash scripts/postgres.sh stop; exit $$status

# Production-like, on loopback: PostgreSQL, Redis, gunicorn and a Celery worker (Ctrl-C stops all).
serve-prod: $(VENV)/.runtime | var
	bash scripts/system-deps.sh
	bash scripts/serve-prod.sh

# wrk (load test), redis-server (Celery throughput) and postgresql (API on PostgreSQL).
bench: $(VENV)/.dev
	MOTORBAND_DEB_PACKAGES="wrk redis-server postgresql" bash scripts/system-deps.sh
	$(BIN)/python bench/run.py

# Recompile the pinned locks from requirements*.in (needs network access to PyPI).
lock: $(VENV)/.dev
	$(BIN)/pip install -q uv
	$(BIN)/uv pip compile requirements.in -o requirements.txt --python-version 3.11 --no-header
	$(BIN)/uv pip compile requirements-dev.in -o requirements-dev.txt --python-version 3.11 --no-header

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
