"""The docs keep up with what the provider registers with Airflow.

``make docs`` (run by CI) builds them with warnings as errors; these tests catch,
in the quick suite, what a build would not: a new connection type without its
page, or a new public module outside the API reference.
"""

from __future__ import annotations

import re
from importlib.metadata import entry_points
from pathlib import Path

from airflow_provider_mensatek.get_provider_info import get_provider_info

DOCS = Path(__file__).resolve().parents[2] / "docs"


def autosummary_entries(page: Path) -> list[str]:
    """The module names an ``.. autosummary::`` block of ``page`` lists."""
    entries: list[str] = []
    in_block = False
    for line in page.read_text().splitlines():
        if line.startswith(".. autosummary::"):
            in_block = True
        elif in_block and line and not line.startswith(" "):
            in_block = False
        elif in_block and re.fullmatch(r"\s+airflow_provider_mensatek[\w.]*", line):
            entries.append(line.strip())
    return entries


def documented(module: str, entries: list[str]) -> bool:
    return any(module == entry or module.startswith(f"{entry}.") for entry in entries)


def registered_modules() -> set[str]:
    """Every module the provider names to Airflow: hooks, operators, sensors, triggers, notifiers, plugins."""
    info = get_provider_info()
    modules = {m for kind in ("hooks", "operators", "sensors", "triggers") for entry in info.get(kind, [])
               for m in entry["python-modules"]}
    modules |= {path.rsplit(".", 1)[0] for path in info.get("notifications", [])}
    modules |= {entry["hook-class-name"].rsplit(".", 1)[0] for entry in info["connection-types"]}
    modules |= {ep.value.split(":")[0] for ep in entry_points(group="airflow.plugins")
                if ep.value.startswith("airflow_provider_mensatek")}
    return modules


def test_every_connection_type_has_a_page_generated_from_its_declaration() -> None:
    index = (DOCS / "connections" / "index.rst").read_text()
    for entry in get_provider_info()["connection-types"]:
        conn_type = entry["connection-type"]
        page = DOCS / "connections" / f"{conn_type}.rst"
        assert page.is_file(), f"connection type {conn_type!r} has no page {page}"
        text = page.read_text()
        for directive in ("provider-connection-form", "provider-connection-extras"):
            # At the start of a line: a mention inside a comment does not render a table.
            assert re.search(rf"^\.\. {directive}:: {re.escape(conn_type)}$", text, re.MULTILINE), (
                f"{page.name} lacks the {directive} table")
        assert re.search(rf"^\s+{re.escape(conn_type)}$", index, re.MULTILINE), "page missing from the toctree"


def test_api_reference_covers_every_module_registered_with_airflow() -> None:
    entries = autosummary_entries(DOCS / "api" / "index.rst")
    assert entries
    missing = sorted(m for m in registered_modules() if not documented(m, entries))
    assert missing == [], f"add these to the autosummary of docs/api/index.rst: {missing}"


def test_api_reference_lists_no_private_module() -> None:
    entries = autosummary_entries(DOCS / "api" / "index.rst")
    assert not [e for e in entries if any(part.startswith("_") for part in e.split("."))]


def test_every_guide_is_in_the_index() -> None:
    index = (DOCS / "index.rst").read_text()
    for guide in sorted((DOCS / "guides").glob("*.rst")):
        assert f"guides/{guide.stem}" in index, f"{guide.name} is in no toctree"
