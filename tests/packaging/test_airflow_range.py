"""The Airflow range the package claims is the one CI tests: its floor is what ``make test-floor`` installs."""

from __future__ import annotations

import re
from pathlib import Path

import tomllib
from packaging.requirements import Requirement
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]


def _airflow_requirement() -> Requirement:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    (airflow,) = (r for r in map(Requirement, project["dependencies"]) if r.name == "apache-airflow")
    return airflow


def _make_variable(name: str) -> str:
    match = re.search(rf"^{name}\s*:=\s*(\S+)\s*$", (REPO / "Makefile").read_text(), re.MULTILINE)
    assert match, f"Makefile sets no {name}"
    return match.group(1)


def test_the_floor_the_package_claims_is_the_airflow_make_test_floor_installs() -> None:
    airflow = _airflow_requirement()
    floors = [s.version for s in airflow.specifier if s.operator == ">="]
    assert len(floors) == 1, airflow
    tested = _make_variable("FLOOR_AIRFLOW")
    assert Version(floors[0]) == Version(tested)
    # Nothing between the floor and the next major is excluded: the newest 3.x is what make test resolves.
    assert {s.operator for s in airflow.specifier} == {">=", "<"}
    assert [s.version for s in airflow.specifier if s.operator == "<"] == ["4"]
    constraints = REPO / ".ci" / f"constraints-airflow-{tested}.txt"
    pins = dict(line.split("==", 1) for line in constraints.read_text().splitlines()
                if line and not line.startswith("#"))
    assert pins["apache-airflow"] == tested and pins["apache-airflow-core"] == tested


def test_ci_runs_the_suite_on_the_floor_and_on_the_newest() -> None:
    steps = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()
             if line.strip().startswith("make ")]
    assert "make test" in steps and "make test-floor" in steps
