# Two commands on a fresh machine: `make demo` and `make test`. Both create the
# virtualenv they need (.venv, git-ignored) on first use.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: install test test-floor lint docs dist demo sandbox bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

## Run the whole test suite (real HTTP against the sandbox on 127.0.0.1; dag.test() on SQLite).
test: $(STAMP)
	$(PY) -m pytest -W error::FutureWarning -p no:cacheprovider

# The lowest Airflow the provider supports (pyproject: apache-airflow>=3.2.0), in its own
# virtualenv with the pins under which that Airflow works (.ci/constraints-airflow-*.txt).
# Installed with uv (from PyPI, pinned) rather than pip: it resolves and installs Airflow in
# seconds instead of the minute or two pip takes, which keeps two full suites in CI short.
FLOOR_AIRFLOW := 3.2.2
FLOOR_VENV    := .venv-floor
FLOOR_STAMP   := $(FLOOR_VENV)/.installed-stamp
UV_VERSION    := 0.13.9

$(FLOOR_STAMP): pyproject.toml .ci/constraints-airflow-$(FLOOR_AIRFLOW).txt
	rm -rf $(FLOOR_VENV)
	$(PYTHON) -m venv $(FLOOR_VENV)
	$(FLOOR_VENV)/bin/python -m pip install --quiet "uv==$(UV_VERSION)"
	$(FLOOR_VENV)/bin/uv pip install --quiet --python $(FLOOR_VENV)/bin/python \
		-c .ci/constraints-airflow-$(FLOOR_AIRFLOW).txt "apache-airflow==$(FLOOR_AIRFLOW)" -e ".[test]"
	touch $(FLOOR_STAMP)

## The whole test suite on the lowest supported Airflow (.venv-floor); tests of features that need a
## newer Airflow are skipped, each naming the version and the feature (pytest -rs lists them).
test-floor: $(FLOOR_STAMP)
	$(FLOOR_VENV)/bin/python -m pytest -W error::FutureWarning -p no:cacheprovider -rs

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

## Run the certified-email example DAG end to end against the sandbox and print what happened; then the
## zero-poll path in a real deployment on loopback (reports pushed to the api-server, a woken sensor, an
## event-driven archive).
demo: $(STAMP)
	$(PY) scripts/demo.py

## Serve the sandbox on 127.0.0.1:8765 until Ctrl-C (point a connection at http://127.0.0.1:8765/mensatek/v7).
sandbox: $(STAMP)
	$(PY) -m airflow_provider_mensatek.sandbox --port 8765

bench: $(STAMP)
	for f in bench/*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

clean:
	rm -rf $(VENV) $(FLOOR_VENV) .airflow-home .demo *.egg-info build dist docs/_build docs/api/_generated
