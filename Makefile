# Everyday commands. `make demo` and `make test` work on a fresh machine with Python 3.11.
# Every install is the exact set locked in uv.lock (versions and hashes); pyproject.toml only
# gives the ranges that `make lock` resolves within.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# uv, pinned by version and hashes in scripts/uv-requirements.txt, in a venv of its own.
TOOLS := .tools
UV := $(TOOLS)/bin/uv
# Always the machine's Python, never one uv would download; and the machine's CA certificates,
# as pip uses them (a network that re-signs TLS needs its CA, which uv's own roots lack).
export UV_PYTHON_DOWNLOADS := never
export UV_SYSTEM_CERTS ?= 1
LOCK_CHECK = $(UV) lock --check --quiet || { \
	echo 'FAIL: uv.lock is out of date with pyproject.toml: run `make lock` and commit uv.lock with pyproject.toml' >&2; \
	exit 1; }

.PHONY: setup lock lock-check demo test lint format typecheck unit integration simulation soak bench bench-local image spec-snapshot wheel clean

$(UV): scripts/uv-requirements.txt
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --require-hashes -r scripts/uv-requirements.txt
	touch $(UV)

$(STAMP): pyproject.toml uv.lock $(UV)
	@$(LOCK_CHECK)
	$(UV) sync --locked --extra dev --python $(PYTHON) --quiet
	touch $(STAMP)

setup: $(STAMP)           ## create .venv with exactly the locked packages, dev tools and the connector (editable)

lock: $(UV)               ## re-resolve uv.lock after editing pyproject.toml (UPGRADE=pkg or UPGRADE=all to move pins up)
	$(UV) lock $(if $(filter all,$(UPGRADE)),--upgrade,$(if $(UPGRADE),--upgrade-package $(UPGRADE)))

lock-check: $(UV)         ## fail if uv.lock does not match pyproject.toml (CI runs it)
	@$(LOCK_CHECK)

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
	$(BIN)/pytest unit_tests -q -n 4

integration: $(STAMP)     ## the real CLI against the local sandbox
	$(BIN)/pytest integration_tests -q -n 4

simulation: $(STAMP)      ## the randomized simulation suite, CI's fixed budget (SIMULATION_EXAMPLES=12)
	$(BIN)/pytest integration_tests/simulation -q

MINUTES ?= 30
soak: $(STAMP)            ## generated syncs on random seeds for MINUTES (default 30); prints how many ran and passed
	$(BIN)/python -m integration_tests.simulation.soak --minutes $(MINUTES)

bench: $(STAMP)           ## bookings per request, throughput, memory: the real CLI vs the sandbox (~11 min)
	$(BIN)/python benchmarks/bench.py

bench-local: $(STAMP)     ## the local path (no request) and spec/check start, beside the previous main (~10 min)
	$(BIN)/python benchmarks/local_path.py

test: lock-check lint typecheck $(STAMP)  ## everything CI runs on the code: lock in sync, lint, types, all tests
	$(BIN)/pytest -q -n 4

spec-snapshot: $(STAMP)   ## after changing spec.yaml: rewrite integration_tests/expected-spec.json (commit it too)
	$(BIN)/python scripts/expected_spec.py

image:                    ## build the Docker image with podman and smoke-test it (root)
	bash scripts/image.sh
	bash scripts/image.sh smoke

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .mypy_cache .ruff_cache .hypothesis build dist
