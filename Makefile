# sloserve developer entry points. `make demo` and `make test` do all the set-up on a fresh machine:
# a virtualenv with the package, and the local Kubernetes control plane's binaries (built once from the
# Go module proxy into a cache outside the repository).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: setup binaries lint test test-unit demo demo-down crds clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

setup: $(STAMP) binaries

binaries: $(STAMP)
	$(BIN)/sloserve dev build

crds: $(STAMP)
	$(BIN)/sloserve crds

lint: $(STAMP)
	$(BIN)/ruff check src tests e2e bench
	$(BIN)/ruff format --check src tests e2e bench
	$(BIN)/mypy --strict src/
	$(BIN)/lint-imports

# pytest exits 5 when it collected no test: say so loudly and fail.
test: setup lint
	@$(BIN)/pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests" >&2; fi; exit $$rc

test-unit: $(STAMP)
	$(BIN)/pytest -m "not cluster and not e2e" $(PYTEST_ARGS)

demo: setup
	$(BIN)/sloserve dev demo

demo-down: $(STAMP)
	$(BIN)/sloserve dev down

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
