# Developer tasks. `make test` and `make run` work on a fresh machine: both set everything up first.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BUF := node_modules/.bin/buf
SETUP_STAMP := $(VENV)/.setup-stamp
NPM_STAMP := node_modules/.npm-stamp

help: ## list the tasks
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(SETUP_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

setup: $(SETUP_STAMP) $(NPM_STAMP) ## create .venv with aiplat and its dev tools, install buf

gen: setup ## regenerate gen/ (messages, stubs, type stubs, descriptor set), envoy/ and istio/
	$(PY) -m scripts.generate
	$(PY) -m services.launcher.envoy_config
	$(PY) -m services.launcher.manifests

check-gen: setup ## fail when gen/ is stale
	$(PY) -m scripts.generate --check

buf-lint: setup ## buf lint and buf format on our contracts
	$(BUF) lint
	$(BUF) format --diff --exit-code proto
	$(BUF) format --diff --exit-code third_party/open_inference

buf-breaking: setup ## buf breaking against the previous commit of main
	@if ! git rev-parse --verify --quiet HEAD~1 >/dev/null; then \
		echo "buf breaking: no previous commit to compare with"; \
	elif ! git cat-file -e HEAD~1:buf.yaml 2>/dev/null; then \
		echo "buf breaking: the previous commit has no contracts yet"; \
	else \
		$(BUF) breaking --against '.git#ref=HEAD~1' && echo "buf breaking: no breaking change against HEAD~1"; \
	fi

lint: setup buf-lint ## ruff, mypy and buf checks
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: setup ## apply ruff and buf formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .
	$(BUF) format -w proto
	$(BUF) format -w third_party/open_inference

pytest: setup ## run the test suite only
	$(VENV)/bin/pytest

test: setup lint buf-breaking check-gen pytest ## set up, then every check CI runs

bench: setup ## run the inference benchmark: table on stdout, plot in benchmarks/results/
	command -v h2load >/dev/null || { apt-get update -qq && apt-get install -y -qq nghttp2-client; }
	$(PY) -m benchmarks.inference

run: setup ## set up, then start the platform on this machine (aiplat up)
	$(VENV)/bin/aiplat up

clean: ## remove the environment and local state
	rm -rf $(VENV) node_modules .aiplat .mypy_cache .ruff_cache .pytest_cache

.PHONY: bench help setup gen check-gen buf-lint buf-breaking lint format pytest test run clean
