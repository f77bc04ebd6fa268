# changeflow — set up and run with two commands: `make run` and `make test`.

SHELL := /bin/bash
.DEFAULT_GOAL := help

# Python 3.13 (.python-version); `python3` resolved here picks it up through pyenv.
PYTHON ?= $(shell command -v python3.13 2>/dev/null || command -v python3)
VENV := .venv
STAMP := $(VENV)/.installed
CF := $(VENV)/bin/changeflow

HOST ?= 127.0.0.1
PORT ?= 8000
export CHANGEFLOW_HOME ?= $(CURDIR)/var

# pytest's options for `make test`, e.g. `make test PYTEST_ARGS="-k cli -x"`.
PYTEST_ARGS ?=

# Compiled translations, built from the .po files when those are newer (needs gettext's msgfmt).
MO := $(patsubst %.po,%.mo,$(wildcard src/changeflow/locale/*/LC_MESSAGES/*.po src/changeflow/*/locale/*/LC_MESSAGES/*.po))

.PHONY: help run test lint bench venv messages

help:
	@echo "make run    set up .venv, migrate, load the demo on the first start, serve http://$(HOST):$(PORT)/"
	@echo "make test   run the whole test suite"
	@echo "make lint   ruff check, ruff format --check and mypy"
	@echo "make bench  seed 100,000 change requests and measure (minutes; see benchmarks/README.md)"

# The virtual environment, (re)installed only when pyproject.toml changed.
venv: $(STAMP)

$(STAMP): pyproject.toml
	@if ! $(VENV)/bin/python -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then \
		$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 12))' || \
			{ echo "changeflow needs Python 3.12 or newer (3.13 preferred); $(PYTHON) is older." >&2; exit 1; }; \
		echo "Creating $(VENV) with $$($(PYTHON) --version)"; \
		rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); \
	fi
	@echo "Installing changeflow and its development tools into $(VENV)"
	@$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev,redis,s3,ldap]'
	@touch $@

messages: $(MO)

%.mo: %.po
	@if command -v msgfmt >/dev/null; then msgfmt --check-format -o $@ $<; \
	elif [ -f $@ ]; then echo "msgfmt not found (apt-get install gettext): keeping $@"; \
	else echo "msgfmt not found (apt-get install gettext): $< is not compiled, pages stay in English"; fi

run: $(STAMP) $(MO)
	@$(CF) migrate --no-input --verbosity 0
	@$(CF) demo --if-empty
	@echo "Open http://$(HOST):$(PORT)/ to sign in."
	@$(CF) serve --host $(HOST) --port $(PORT) --no-migrate

test: $(STAMP) $(MO)
	$(VENV)/bin/pytest -n 2 $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	CHANGEFLOW_HOME=$$(mktemp -d) $(VENV)/bin/mypy

bench: $(STAMP)
	$(VENV)/bin/python benchmarks/seed.py
	$(VENV)/bin/python benchmarks/http_bench.py
	$(VENV)/bin/python benchmarks/audit_verify.py
