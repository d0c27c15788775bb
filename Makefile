# Two commands on a fresh machine: `make demo` and `make test`. Both create the
# virtualenv they need (.venv, git-ignored) on first use.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: install test lint docs dist demo sandbox bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

## Run the whole test suite (real HTTP against the sandbox on 127.0.0.1; dag.test() on SQLite).
test: $(STAMP)
	$(PY) -m pytest -W error::FutureWarning -p no:cacheprovider

## ruff (docs/conf.py and its extension too) + mypy + the layout check (no import cycle, no module over 500 lines, imports down the layers), as CI runs them.
lint: $(STAMP)
	$(VENV)/bin/ruff check airflow_provider_mensatek tests example_dags scripts bench docs
	$(VENV)/bin/mypy
	$(PY) scripts/check_layout.py

## Build the docs with Sphinx into docs/_build/html; any warning fails the build. Starts from scratch
## each time: an incremental build would not repeat the warnings of pages it does not re-read.
docs: $(STAMP)
	rm -rf docs/_build docs/api/_generated
	$(VENV)/bin/sphinx-build -W --keep-going -b html docs docs/_build/html

## Build the sdist and the wheel into dist/ (isolated build, as for a release) and check them with twine.
dist: $(STAMP)
	rm -rf dist
	$(PY) -m build --outdir dist .
	$(VENV)/bin/twine check --strict dist/*

## Run the certified-email example DAG end to end against the sandbox and print what happened.
demo: $(STAMP)
	$(PY) scripts/demo.py

## Serve the sandbox on 127.0.0.1:8765 until Ctrl-C (point a connection at http://127.0.0.1:8765/mensatek/v7).
sandbox: $(STAMP)
	$(PY) -m airflow_provider_mensatek.sandbox --port 8765

bench: $(STAMP)
	for f in bench/*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

clean:
	rm -rf $(VENV) .airflow-home .demo *.egg-info build dist docs/_build docs/api/_generated
