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
# One worker per core (at most 4), each with its own database and Redis db; whole
# files per worker, so a module's served gateway starts once.
PYTEST_PARALLEL := -n auto --maxprocesses 4 --dist loadfile

.PHONY: help run test ops-tools chaos bench bench-billing bench-deliveries bench-console chromium lint format sync bootstrap clean

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
	$(RUN) ruff check src jobs tests migrations ops examples
	$(RUN) ruff format --check src jobs tests migrations ops examples
	$(RUN) mypy

format: sync ## Apply ruff's fixes and formatting
	$(RUN) ruff check --fix src jobs tests migrations ops examples
	$(RUN) ruff format src jobs tests migrations ops examples

test: lint ops-tools chromium ## Lint, then the whole test suite on real PostgreSQL and Redis
	$(RUN) pytest $(PYTEST_PARALLEL)

ops-tools: ## promtool and docker-compose for the ops checks, when absent (ops/install-tools.sh)
	@bash ops/install-tools.sh $(UV_TOOLS)

# The console's browser tests drive Debian's Chromium (Playwright cannot download
# browsers here, and Debian 12's Chromium is the one playwright 1.64 expects).
chromium: ## Install Debian's chromium for the browser tests when it is absent
	@test -x /usr/bin/chromium || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; \
		else sudo apt-get update -qq && sudo apt-get install -y -qq chromium; fi; }

chaos: sync ## The full chaos run (1,000 operations) and ledger audit; ARGS="--seed N ..." to vary
	$(RUN) python -m ops.chaos $(ARGS)

bench: sync ## The load suite: gateway against its twin; ARGS="--scenarios purchases --profiles max,steady --seconds 30 ..."
	$(RUN) python -m ops.bench.suite $(ARGS)

bench-billing: sync ## Renew N subscriptions (default 100,000) in one billing pass; ARGS="--n 10000 ..."
	$(RUN) python -m ops.bench.billing $(ARGS)

bench-deliveries: sync ## Deliver N events (default 10,000) to a verifying local receiver; ARGS="--n 2000 ..."
	$(RUN) python -m ops.bench.deliveries $(ARGS)

bench-console: sync ## Time every console page on the benchmark's database; ARGS="--payments N ..."
	$(RUN) python -m ops.bench.console $(ARGS)

clean: ## Remove the virtualenvs and caches (keeps .gateway-data)
	rm -rf .venv $(UV_TOOLS) .mypy_cache .ruff_cache .pytest_cache
