"""Sphinx directives that render the provider's own declarations, so the docs cannot drift from them.

The connection form (fields, labels, hidden fields), the connection extras with
their defaults, and the ``[mensatek]`` configuration options are read from
``get_provider_info()``, the same dictionary Airflow reads, when the docs are built.

- ``.. provider-connection-form:: mensatek``: the standard fields as the UI shows them.
- ``.. provider-connection-extras:: mensatek``: each extra, its default and meaning.
- ``.. provider-config::``: every option of every configuration section.
"""

from __future__ import annotations

import json
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

from airflow_provider_mensatek import get_provider_info as provider_info_module
from airflow_provider_mensatek.get_provider_info import get_provider_info

STANDARD_FIELDS = ("login", "password", "host", "port", "schema", "extra")


def connection_type(name: str) -> dict[str, Any]:
    for entry in get_provider_info()["connection-types"]:
        if entry["connection-type"] == name:
            return entry
    raise ValueError(f"get_provider_info() declares no connection type {name!r}")


def cell(text: Any) -> str:
    """One list-table cell: literal values as code, a dash for none."""
    if text is None or text == "":
        return "—"
    return str(text).replace("\n", " ")


def literal(value: Any) -> str:
    return "—" if value is None else f"``{json.dumps(value)}``"


def list_table(header: list[str], rows: list[list[str]], widths: str) -> list[str]:
    lines = [".. list-table::", "   :header-rows: 1", f"   :widths: {widths}", ""]
    for row in [header, *rows]:
        first, *rest = row
        lines.append(f"   * - {first}")
        lines.extend(f"     - {value}" for value in rest)
    return lines


class _TableDirective(SphinxDirective):
    def render(self, lines: list[str]) -> list[nodes.Node]:
        # Rebuilding the docs must notice a changed declaration.
        self.env.note_dependency(provider_info_module.__file__)
        container = nodes.container()
        self.state.nested_parse(StringList(lines, source="get_provider_info()"), self.content_offset, container)
        return container.children


class ConnectionFormDirective(_TableDirective):
    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        entry = connection_type(self.arguments[0])
        behaviour = entry.get("ui-field-behaviour", {})
        hidden = set(behaviour.get("hidden-fields", []))
        labels = behaviour.get("relabeling", {})
        placeholders = behaviour.get("placeholders", {})
        rows = [
            [f"``{field}``", cell(labels.get(field, field.capitalize())), cell(placeholders.get(field))]
            for field in STANDARD_FIELDS if field not in hidden
        ]
        return self.render(list_table(["Field", "Shown in the UI as", "Hint in the form"], rows, "15 30 55"))


class ConnectionExtrasDirective(_TableDirective):
    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        entry = connection_type(self.arguments[0])
        rows = []
        for name, field in entry.get("conn-fields", {}).items():
            schema = field.get("schema", {})
            meaning = field.get("label", "")
            if field.get("description"):
                meaning = f"{meaning}. {field['description']}"
            allowed = schema.get("enum")
            if allowed:
                meaning += " One of " + ", ".join(literal(v) for v in allowed if v is not None) + "."
            rows.append([f"``{name}``", literal(schema.get("default")), cell(meaning)])
        return self.render(list_table(["Extra", "Default", "Meaning"], rows, "20 15 65"))


class ConfigDirective(_TableDirective):
    def run(self) -> list[nodes.Node]:
        rows = []
        for section, spec in get_provider_info().get("config", {}).items():
            for option, field in spec["options"].items():
                env = f"AIRFLOW__{section.upper()}__{option.upper()}"
                rows.append([
                    f"``[{section}] {option}``",
                    cell(f"{field['description']} Example: ``{field['example']}``. Environment: ``{env}``."),
                    literal(field.get("default")),
                ])
        return self.render(list_table(["Option", "Meaning", "Default"], rows, "25 60 15"))


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("provider-connection-form", ConnectionFormDirective)
    app.add_directive("provider-connection-extras", ConnectionExtrasDirective)
    app.add_directive("provider-config", ConfigDirective)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
