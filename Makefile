# The README's commands. Each target creates .venv when missing, installs the package with
# the extension built, and is safe to rerun.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install test lint demo clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): $(PY) pyproject.toml setup.py ext/_speedups.pyx
	ci/install.sh $(PY)
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	ci/test.sh $(PY)

demo: $(STAMP)
	$(VENV)/bin/mcpauth-fast demo

lint: $(STAMP)
	$(PY) -m pip install --quiet ruff mypy
	$(PY) -m ruff check src tests
	$(PY) -m mypy src/mcpauth_fast

clean:
	rm -rf build dist src/*.egg-info src/mcpauth_fast/*.so ext/*.c ext/*.html $(VENV)
