# MotorBand: `make run` serves the demo study, `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PIP_DISABLE_PIP_VERSION_CHECK := 1
PYTEST_ARGS ?= -n 2 -p no:logging

.PHONY: run test lint bench lock clean serve migrate demo

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

test: $(VENV)/.dev | var
	bash scripts/system-deps.sh
	$(MAKE) lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(VENV)/.dev
	$(BIN)/python bench/run.py

# Recompile the pinned locks from requirements*.in (needs network access to PyPI).
lock: $(VENV)/.dev
	$(BIN)/pip install -q uv
	$(BIN)/uv pip compile requirements.in -o requirements.txt --python-version 3.11 --no-header
	$(BIN)/uv pip compile requirements-dev.in -o requirements-dev.txt --python-version 3.11 --no-header

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
