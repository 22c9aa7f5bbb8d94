# Run `make help` for the list of targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/.venv

# uv from PATH when present; otherwise pip-installed into a local tools venv.
UV_TOOLS := $(CURDIR)/.tools
UV := $(shell command -v uv 2>/dev/null || echo $(UV_TOOLS)/bin/uv)
PYTHON_FOR_TOOLS := $(shell command -v python3.11 2>/dev/null || command -v python3.12 2>/dev/null || command -v python3)
RUN := $(UV) run --frozen

.PHONY: help run test chaos bench bench-billing bench-deliveries lint format sync bootstrap clean

help: ## Show this help
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}'

$(UV_TOOLS)/bin/uv:
	$(PYTHON_FOR_TOOLS) -m venv $(UV_TOOLS)
	$(UV_TOOLS)/bin/pip install --quiet uv

bootstrap: $(if $(filter $(UV_TOOLS)/bin/uv,$(UV)),$(UV_TOOLS)/bin/uv) ## Install uv if absent

sync: bootstrap ## Create .venv and install the locked dependencies
	$(UV) sync --frozen

run: sync ## Run everything locally: embedded PostgreSQL and Redis, API, worker, cron, dashboard
	$(RUN) gateway up

lint: sync ## ruff (lint + format check) and mypy --strict
	$(RUN) ruff check src jobs tests migrations ops
	$(RUN) ruff format --check src jobs tests migrations ops
	$(RUN) mypy

format: sync ## Apply ruff's fixes and formatting
	$(RUN) ruff check --fix src jobs tests migrations ops
	$(RUN) ruff format src jobs tests migrations ops

test: lint ## Lint, then the whole test suite on real PostgreSQL and Redis
	$(RUN) pytest

chaos: sync ## The full chaos run (1,000 operations) and ledger audit; ARGS="--seed N ..." to vary
	$(RUN) python -m ops.chaos $(ARGS)

bench: sync ## The load suite: gateway against its twin; ARGS="--scenarios purchases --profiles max,steady --seconds 30 ..."
	$(RUN) python -m ops.bench.suite $(ARGS)

bench-billing: sync ## Renew N subscriptions (default 100,000) in one billing pass; ARGS="--n 10000 ..."
	$(RUN) python -m ops.bench.billing $(ARGS)

bench-deliveries: sync ## Deliver N events (default 10,000) to a verifying local receiver; ARGS="--n 2000 ..."
	$(RUN) python -m ops.bench.deliveries $(ARGS)

clean: ## Remove the virtualenvs and caches (keeps .gateway-data)
	rm -rf .venv $(UV_TOOLS) .mypy_cache .ruff_cache .pytest_cache
