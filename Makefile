# Everyday commands. `make demo` and `make test` work on a fresh machine with Python 3.11.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint format typecheck unit integration bench image clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)           ## create .venv and install the connector with its dev tools

demo: $(STAMP)            ## start the local sandbox and run spec, check and write on demo/tours.csv
	$(BIN)/python scripts/demo.py

lint: $(STAMP)            ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)          ## apply ruff formatting and safe fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(STAMP)       ## mypy (strict) on the package
	$(BIN)/mypy

unit: $(STAMP)            ## pure-function tests
	$(BIN)/pytest unit_tests -q

integration: $(STAMP)     ## the real CLI against the local sandbox
	$(BIN)/pytest integration_tests -q

bench: $(STAMP)           ## throughput and memory of the real CLI against the sandbox (~2 min)
	$(BIN)/python benchmarks/bench.py

test: lint typecheck $(STAMP)  ## everything CI runs on the code: lint, types, all tests
	$(BIN)/pytest -q

image:                    ## build the Docker image with podman and smoke-test it (root)
	bash scripts/image.sh
	bash scripts/image.sh smoke

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis build dist
