# Two commands a newcomer needs (README): `make demo` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Debian packages the tests need: headless Chromium and its driver (browser tests of the pages), PostgreSQL
# (MLflow tracking on a real database). Installed once by `make system` when a command is missing.
SYSTEM_PACKAGES := chromium chromium-driver postgresql
SYSTEM_COMMANDS := /usr/bin/chromium /usr/bin/chromedriver /usr/lib/postgresql

.PHONY: setup system demo test lint bench

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

system:
	@missing=""; for path in $(SYSTEM_COMMANDS); do test -e $$path || missing="$$missing $$path"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages ($(SYSTEM_PACKAGES)): missing$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(SYSTEM_PACKAGES) >/dev/null; \
	fi

demo: setup
	$(BIN)/carealloc demo

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy

test: system lint
	$(BIN)/pytest

bench: setup
	for script in benchmarks/bench_*.py; do $(BIN)/python $$script || exit 1; done
