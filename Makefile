# Seedance video pipeline. `make demo` and `make test` are the two commands a fresh machine needs.
SHELL := /bin/bash
PYTHON ?= $(shell scripts/find-python)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
SAM_VENV := .tools/sam
SAM := $(SAM_VENV)/bin/sam
SAM_VERSION ?= 1.170.0
MUTMUT_VENV := .tools/mutmut
MUTMUT := $(MUTMUT_VENV)/bin/mutmut
MUTMUT_VERSION ?= 3.8.1
PYTEST_ARGS ?=
DEMO_ARGS ?=
BENCH_ARGS ?=
MUTATE_ARGS ?=
export PYTHONPATH := $(CURDIR):$(CURDIR)/layers/videojobs:$(CURDIR)/cli
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install browser demo local env-json events test lint format bench load mutate schemas openapi build validate check-build clean

# The `seedance` command line client (cli/seedance_cli) goes in editable, as .venv/bin/seedance; its
# dependencies are pinned in requirements-dev.txt, so this second step finds them installed.
$(INSTALLED): requirements-dev.txt layers/videojobs/requirements.txt pyproject.toml
	@test -n "$(PYTHON)" || { echo "no Python 3.13/3.12 found (see scripts/find-python)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet --editable .
	@touch $@

install: $(INSTALLED) ## project venv with everything the code and the tests need, and the `seedance` client

# The browser tests (tests/e2e/test_console_browser.py) drive the machine's own headless Chromium and its
# driver, never a downloaded one: Debian's packages, installed here when we are root with apt-get. Elsewhere
# the tests are skipped, saying so; with SEEDANCE_BROWSER_TESTS=required (.ci/run) a failed install fails.
browser: ## Debian's chromium and chromium-driver for the browser tests, where apt-get runs as root
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then \
	  echo "browser tests: $$(chromium --version 2>/dev/null), $$(chromedriver --version | cut -d' ' -f1-2)"; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  echo "browser tests: installing chromium and chromium-driver (apt-get)"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver \
	    >/dev/null; } || { echo "browser tests: apt-get could not install Chromium; they will be skipped"; \
	    [ "$$SEEDANCE_BROWSER_TESTS" != required ]; }; \
	else \
	  echo "browser tests: no chromium/chromedriver and no apt-get as root to install them; they will be skipped"; \
	fi

demo: install ## one job end to end on the local stack; the MP4 lands in ./out/
	$(BIN)/python -m local.demo $(DEMO_ARGS)

local: install ## the local stack in the foreground (LOCAL_API_PORT, LOCAL_AWS_PORT, LOCAL_SIMULATOR_PORT)
	$(BIN)/python -m local

env-json: install ## env.json for `sam local invoke --env-vars env.json`: the functions use a running `make local` (same ports)
	$(BIN)/python -m local.env_json

events: install ## the webhook samples in events/ signed for `make local` (signatures last WEBHOOK_MAX_AGE_SECONDS: 300 s)
	$(BIN)/python -m local.sample_events

# pytest on every core, at most two (CI has two). Each local stack's tests stay in one worker (tests/conftest.py);
# in file order, so the stacks' long units start first. PYTEST_ARGS comes last: PYTEST_ARGS="-n 0" runs in one process.
PYTEST_PARALLEL := -n auto --maxprocesses=2 --dist loadscope --no-loadscope-reorder

test: install lint browser ## every check and every test, then a real `sam build`
	$(BIN)/python -m pytest $(PYTEST_PARALLEL) $(PYTEST_ARGS)
	$(MAKE) --no-print-directory check-build

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/cfn-lint template.yaml

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

schemas: install ## schemas/*.json and template.yaml's schema registry, from the event models
	$(BIN)/python -m local.event_schemas

openapi: install ## docs/openapi.json and the layer's copy that GET /openapi.json serves, from every function's routes
	$(BIN)/python -m local.openapi --write

bench: install ## speed and memory figures beside their baselines (BENCH_ARGS=--quick: about 6 minutes; --only NAME for one bench)
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

load: install ## 1,000 jobs on the local stack under faults; fails if anything is lost or doubled (LOAD_ARGS="--jobs 200")
	$(BIN)/python -m benchmarks.load $(LOAD_ARGS)

# mutmut runs the tests in its own process, so its venv holds the tests' requirements as well; kept apart
# from the project venv, which stays what the functions and `make test` need.
$(MUTMUT): requirements-dev.txt layers/videojobs/requirements.txt
	@test -n "$(PYTHON)" || { echo "no Python 3.13/3.12 found (see scripts/find-python)"; exit 1; }
	$(PYTHON) -m venv $(MUTMUT_VENV)
	$(MUTMUT_VENV)/bin/pip install --quiet -r requirements-dev.txt mutmut==$(MUTMUT_VERSION)
	@touch $@

mutate: $(MUTMUT) ## mutmut over the security, webhook, transfer and money modules with the fast tests: kill rate per module and every survivor (MUTATE_ARGS="--module security.py"; about 21 minutes)
	$(MUTMUT_VENV)/bin/python scripts/mutate.py $(MUTATE_ARGS)

$(SAM):
	python3 -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet aws-sam-cli==$(SAM_VERSION)

# sam's Python builder looks for python3.13 on PATH.
build: $(SAM) ## sam build (offline), into .aws-sam/
	PATH="$(dir $(PYTHON)):$$PATH" $(SAM) build --template-file template.yaml

validate: $(SAM)
	$(SAM) validate --lint --template-file template.yaml

# The layer's compiled wheels only import on the runtime and architecture they were built for.
LAYER_BUILD := .aws-sam/build/VideoJobsLayer/python
check-build: validate build
	test -f $(LAYER_BUILD)/videojobs/bootstrap.py
	test -f $(LAYER_BUILD)/videojobs/openapi.json
	test -f $(LAYER_BUILD)/pydantic_core/_pydantic_core.cpython-313-aarch64-linux-gnu.so
	@# ELF e_machine (bytes 18-19) 0xB7 is aarch64: cryptography's Rust extension must be the arm64 build.
	$(BIN)/python -c "import sys; sys.exit(open('$(LAYER_BUILD)/cryptography/hazmat/bindings/_rust.abi3.so', 'rb').read(20)[18:20] != bytes([0xb7, 0]))"
	@echo "sam build: layer has videojobs and python3.13/arm64 wheels (pydantic-core, cryptography)"

clean:
	rm -rf $(VENV) .tools .aws-sam out
