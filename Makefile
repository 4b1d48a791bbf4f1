# Developer and CI entry points. `make test` is what CI runs (through .ci/run).
SHELL := /bin/bash
# Stop a recipe at its first failing command, pipes included.
.SHELLFLAGS := -eu -o pipefail -c
# A recipe that fails leaves no half-written target behind.
.DELETE_ON_ERROR:

PYTHON ?= python3
VENV ?= .venv
PYTEST_ARGS ?=

VENV_PYTHON := $(VENV)/bin/python
PIP := $(VENV_PYTHON) -m pip
CONSTRAINTS := requirements/constraints.txt
# pip warns once per package about index locations in this machine's pip config that do not hold
# it (hundreds of lines per install); drop only that line. pipefail keeps pip's exit status.
PIP_NOISE_FILTER := 2>&1 | { grep -v 'is ignored: it is neither a file nor a directory' || true; }
# Written only after every install step succeeded; reinstall when packaging inputs change.
VENV_STAMP := $(VENV)/.installed
# The editable install maps the top-level package found at install time, so reinstall once the
# package appears (wildcard: no error while it does not exist yet).
PACKAGE_INIT := $(wildcard liquid_control/__init__.py)

.PHONY: venv test demo clean

venv: $(VENV_STAMP)

$(VENV_STAMP): setup.py setup.cfg package.xml $(CONSTRAINTS) $(PACKAGE_INIT)
	@rm -f $@
	@[ -x $(VENV_PYTHON) ] || { echo "venv: creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	@echo "venv: upgrading pip"
	@$(PIP) install -q --upgrade pip $(PIP_NOISE_FILTER)
	@# torch first, by exact version, so pip takes the CPU wheel on disk; must match $(CONSTRAINTS).
	@echo "venv: installing torch==2.13.0"
	@$(PIP) install -q -c $(CONSTRAINTS) torch==2.13.0 $(PIP_NOISE_FILTER)
	@echo "venv: installing liquid_control (editable) with extras ros,test"
	@$(PIP) install -q -c $(CONSTRAINTS) -e '.[ros,test]' $(PIP_NOISE_FILTER)
	@touch $@

# pytest exits 5 when it collected no test; a run that tests nothing must not pass.
test: $(VENV_STAMP)
	@status=0; \
	$(VENV_PYTHON) -m pytest -p no:cacheprovider $(PYTEST_ARGS) test || status=$$?; \
	if [ $$status -eq 5 ]; then \
		echo "make test: pytest collected no tests (exit 5); failing, since nothing was checked." >&2; \
		exit 1; \
	fi; \
	exit $$status

demo: $(VENV_STAMP)
	$(VENV_PYTHON) -m liquid_control demo

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
	find . -path ./.git -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +
