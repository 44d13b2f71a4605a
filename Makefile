# Two commands do all the set-up: `make serve` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
PYTEST_ARGS ?=
# pytest-xdist workers for make test / test-slow: three per CPU (much of the suite waits on
# servers, subprocesses and PostgreSQL: four workers kept two CPUs 60 % busy), at most 8;
# TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= $(shell n=$$(( $$(nproc 2>/dev/null || echo 2) * 3 )); [ $$n -gt 8 ] && n=8; echo $$n)
# The slow suites are mostly CPU-bound fuzzing, beside a soak and timing tests: two per CPU.
SLOW_TEST_WORKERS ?= $(shell n=$$(( $$(nproc 2>/dev/null || echo 2) * 2 )); [ $$n -gt 8 ] && n=8; echo $$n)
# Where tests keep their SQLite files and other temporary files: /dev/shm when there is one
# (no test is about surviving power loss, and SQLite's fsync per commit costs ~0.5 ms on disk).
TEST_TMPDIR ?= $(shell [ -d /dev/shm ] && [ -w /dev/shm ] && echo /dev/shm)
TEST_ENV := $(if $(TEST_TMPDIR),TMPDIR=$(TEST_TMPDIR))

.PHONY: install serve test test-slow lint types bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@rm -f $(VENV)/.installed-*
	@touch $@

install: $(STAMP)

## Run the management API on 127.0.0.1:8787 with ./servicetokens.db (SQLite).
serve: $(STAMP)
	$(BIN)/servicetokens serve --host 127.0.0.1 --port 8787

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

types: $(STAMP)
	$(BIN)/mypy

## Lint, types, then the suite (minus the slow tests). pytest's exit 5 (no tests) fails.
test: lint types
	$(TEST_ENV) $(BIN)/pytest -m "not slow" -n $(TEST_WORKERS) $(PYTEST_ARGS)

## The long suites (crash, outage, soak-style runs).
test-slow: $(STAMP)
	$(TEST_ENV) $(BIN)/pytest -m slow -n $(SLOW_TEST_WORKERS) $(PYTEST_ARGS)

## Benchmarks (docs/performance.md); installs the `bench` extra (moto, py-spy) on first use.
bench: $(STAMP)
	@$(BIN)/python -c 'import moto.server' 2>/dev/null || $(BIN)/python -m pip install --quiet -e '.[test,bench]'
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
