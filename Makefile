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
WEB_SOURCES := $(shell find web -path web/node_modules -prune -o -type f -print 2>/dev/null)

.PHONY: install web run test lint unit bench dist clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

install: $(STAMP)

$(WEBUI): $(WEB_SOURCES)
	@if [ -f web/package.json ]; then \
		cd web && npm ci --no-audit --no-fund --loglevel=error && npm run build; \
	else echo "no web/ app to build"; fi

web: $(WEBUI)

run: install web
	$(VENV)/bin/sentra up

lint: install
	$(VENV)/bin/ruff check $(PY_DIRS)
	$(VENV)/bin/ruff format --check $(PY_DIRS)
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

test: install web lint
	@if [ -f web/package.json ]; then cd web && npm test --silent; fi
	$(PY) -m pytest

unit: install
	$(PY) -m pytest tests/unit

dist: install web
	$(PY) -m pip wheel --no-deps -w dist .

clean:
	rm -rf $(VENV) dist build src/sentra/webui web/node_modules
