# opsroom — two commands on a fresh machine (Python 3.11+):
#   make run    install and start the embedded default (the demo, web chat on http://127.0.0.1:8080)
#   make test   install everything the tests need and run the whole suite (SQLite and PostgreSQL)

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
EXTRAS  = test

.PHONY: run shell install install-test test lint bench docs image release clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e .

run: install
	$(BIN)/opsroom run

shell: install
	$(BIN)/opsroom shell --user alice

install-test: $(BIN)/python
	bash scripts/install-test-deps.sh
	$(BIN)/pip install --quiet -e ".[$(EXTRAS)]"

test: install-test
	bash scripts/services.sh
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/python -m pytest -p no:cacheprovider tests

lint: install-test
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

bench: install-test
	$(BIN)/python bench/dispatch.py

docs: install-test
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

image:
	bash scripts/build-image.sh

release: install-test
	PYTHON=$(BIN)/python bash scripts/release.sh

clean:
	rm -rf $(VENV) build dist site *.egg-info .pytest_cache .ruff_cache .mypy_cache
