"""The re-exporting ``__init__``s: every public name still imports, and importing the package alone is light."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

LAZY_PACKAGES = (
    "airflow_provider_mensatek.clients",
    "airflow_provider_mensatek.clients.mensatek",
    "airflow_provider_mensatek.clients.legallymail",
    "airflow_provider_mensatek.notifications",
)


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_every_exported_name_is_the_object_its_module_defines(package: str) -> None:
    module = importlib.import_module(package)
    assert module.__all__
    for name in module.__all__:
        value = getattr(module, name)
        assert getattr(importlib.import_module(value.__module__), name) is value
        assert name in dir(module)
    with pytest.raises(AttributeError, match="has no attribute 'NoSuchClient'"):
        module.NoSuchClient  # noqa: B018


def test_the_readme_import_paths_of_the_clients_still_work() -> None:
    from airflow_provider_mensatek.clients import LegallyMailClient, MensatekClient
    from airflow_provider_mensatek.clients.legallymail.client import LegallyMailClient as FromModule
    from airflow_provider_mensatek.clients.mensatek import MensatekClient as FromPackage

    assert MensatekClient is FromPackage and LegallyMailClient is FromModule


def test_importing_a_package_or_a_light_module_of_it_imports_no_client() -> None:
    code = (
        "import sys\n"
        f"import {', '.join(LAZY_PACKAGES)}\n"
        "import airflow_provider_mensatek.clients.errors, airflow_provider_mensatek.clients.mensatek.wire\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('requests', 'urllib3') or\n"
        "         m.startswith('airflow_provider_mensatek.') and m.endswith(('.client', '._core', '.transport'))]\n"
        "print(sorted(heavy))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert done.stdout.strip() == "[]"
