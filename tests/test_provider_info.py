"""The provider entry point: valid against Airflow's own schema, and seen by `airflow providers list`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import resources
from importlib.metadata import entry_points, version

import jsonschema

from airflow_provider_mensatek import __version__
from airflow_provider_mensatek.get_provider_info import get_provider_info


def test_provider_info_validates_against_airflow_schema() -> None:
    schema = json.loads(resources.files("airflow").joinpath("provider_info.schema.json").read_text())
    info = get_provider_info()
    jsonschema.validate(info, schema)
    assert info["package-name"] == "airflow-provider-mensatek" == _distribution_name()
    assert info["versions"][0] == __version__ == version("airflow-provider-mensatek")


def test_entry_point_is_registered() -> None:
    (ep,) = [e for e in entry_points(group="apache_airflow_provider")
             if e.value.startswith("airflow_provider_mensatek")]
    assert ep.load() is get_provider_info


def test_every_declared_class_and_module_imports() -> None:
    import importlib

    info = get_provider_info()
    for conn in info["connection-types"]:
        module, _, cls = conn["hook-class-name"].rpartition(".")
        hook = getattr(importlib.import_module(module), cls)
        assert hook.conn_type == conn["connection-type"]
        assert hook.default_conn_name == f"{conn['connection-type']}_default"
    for section in ("hooks", "operators", "sensors", "triggers"):
        for entry in info.get(section, []):
            for module in entry["python-modules"]:
                importlib.import_module(module)
    for path in info.get("notifications", []):
        module, _, cls = path.rpartition(".")
        assert getattr(importlib.import_module(module), cls)
    from airflow.utils.db_manager import BaseDBManager

    for path in info["db-managers"]:
        module, _, cls = path.rpartition(".")
        assert issubclass(getattr(importlib.import_module(module), cls), BaseDBManager)


def test_airflow_providers_list_shows_the_provider() -> None:
    out = subprocess.run(
        [sys.executable, "-W", "error::FutureWarning", "-m", "airflow", "providers", "list", "--output", "json"],
        capture_output=True, text=True, env=os.environ.copy(), timeout=120, check=True,
    )
    providers = {p["package_name"]: p for p in json.loads(out.stdout)}
    assert providers["airflow-provider-mensatek"]["version"] == __version__


def test_connection_types_are_known_to_airflow() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "airflow", "providers", "hooks", "--output", "json"],
        capture_output=True, text=True, env=os.environ.copy(), timeout=120, check=True,
    )
    hooks = {h["connection_type"]: h for h in json.loads(out.stdout)}
    assert hooks["mensatek"]["class"] == "airflow_provider_mensatek.hooks.mensatek.MensatekHook"
    assert hooks["legallymail"]["class"] == "airflow_provider_mensatek.hooks.legallymail.LegallyMailHook"
    assert hooks["mensatek_reports"]["class"] == \
        "airflow_provider_mensatek.hooks.mensatek_reports.MensatekReportsHook"


def _distribution_name() -> str:
    from importlib.metadata import distribution

    return distribution("airflow-provider-mensatek").metadata["Name"]


def test_operator_modules_import_without_deprecation_warnings() -> None:
    modules = ["airflow_provider_mensatek.operators.certified_email", "airflow_provider_mensatek.hooks.mensatek",
               "airflow_provider_mensatek.retry_policy"]
    for module in modules:
        subprocess.run([sys.executable, "-W", "error::FutureWarning", "-c", f"import {module}"],
                       check=True, env=os.environ.copy(), timeout=120)
