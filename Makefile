# snncore: two commands for a newcomer.
#   make book   create .venv if missing, install the pins, execute every notebook (quick), build the site
#   make test   same install, then the test suite (every notebook under smoke included)
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PROFILE ?= quick

# Data root: ../shared/data when it exists (this workplace), else $SNNCORE_DATA or ~/.cache/snncore.
ifneq ($(wildcard ../shared/data),)
export SNNCORE_DATA ?= $(abspath ../shared/data)
endif
export JAX_COMPILATION_CACHE_DIR ?= $(abspath .cache/jax)
export JAX_PLATFORMS ?= cpu
export PYTHONUNBUFFERED := 1

.PHONY: book test venv site pages list data bench clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip 2>&1 | grep -v 'is ignored' || true
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt 2>&1 | { grep -v 'is ignored' || true; }
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e . 2>&1 | { grep -v 'is ignored' || true; }
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	$(PY) -c "import snncore, jax, papermill, jupyter_book"
	touch $(STAMP)

venv: $(STAMP)

book: $(STAMP)
	$(PY) -m snncore book --profile $(PROFILE)

site: $(STAMP)
	$(PY) -m snncore pages
	$(VENV)/bin/jupyter-book build . -W -n --keep-going

test: $(STAMP)
	$(PY) -m pytest -q --durations=15 tests

list: $(STAMP)
	$(PY) -m snncore list

data: $(STAMP)
	$(PY) -m snncore data

bench: $(STAMP)
	$(PY) -m snncore bench

clean:
	rm -rf _build build book/records book/_generated book/status.md book/benchmarks.md
	find book -name '*.ipynb' -delete
