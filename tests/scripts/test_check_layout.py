"""scripts/check_layout.py finds what it is there to find, on a tiny package laid out in a temp folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

CHECKER = REPO / "scripts" / "check_layout.py"


def layout(tmp_path: Path, files: dict[str, str]) -> Path:
    package = tmp_path / "airflow_provider_mensatek"
    for name, text in {"__init__.py": "", "clients/__init__.py": "", "delivery/__init__.py": "", **files}.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return package


def check(package: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(CHECKER), str(package), *extra], capture_output=True, text=True,
                          timeout=60)


def test_a_clean_package_passes_with_a_one_line_summary(tmp_path: Path) -> None:
    package = layout(tmp_path, {
        "clients/errors.py": "class MensatekError(Exception): ...\n",
        "delivery/statuses.py": "from airflow_provider_mensatek.clients.errors import MensatekError\n",
    })
    result = check(package)
    assert result.returncode == 0, result.stdout
    assert result.stdout.splitlines() == [
        "layout: 5 modules, 1 imports, 0 problem(s); largest clients.errors (1 lines, limit 500)"]


def test_a_cycle_is_caught_even_through_a_relative_import_inside_a_function(tmp_path: Path) -> None:
    package = layout(tmp_path, {
        "delivery/waiting.py": "from airflow_provider_mensatek.delivery import polling\n",
        "delivery/polling.py": "def later() -> None:\n    from . import waiting\n",
    })
    result = check(package)
    assert result.returncode == 1
    assert "cycle: delivery.polling -> delivery.waiting" in result.stdout.splitlines()


def test_a_type_checking_import_is_no_cycle_but_still_keeps_to_the_layers(tmp_path: Path) -> None:
    package = layout(tmp_path, {
        "delivery/waiting.py": "from airflow_provider_mensatek.delivery import polling\n",
        "delivery/polling.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                               "    from airflow_provider_mensatek.delivery import waiting\n",
        "clients/errors.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                             "    from airflow_provider_mensatek.delivery import waiting\n",
    })
    lines = check(package).stdout.splitlines()
    assert not any(line.startswith("cycle:") for line in lines)
    assert ("upward import: clients.errors (layer 1, clients.errors) imports delivery.waiting (layer 3, delivery)"
            in lines)


def test_an_oversize_module_is_caught(tmp_path: Path) -> None:
    package = layout(tmp_path, {"delivery/big.py": "x = 1\n" * 501, "delivery/fits.py": "x = 1\n" * 500})
    result = check(package)
    assert result.returncode == 1
    assert [line for line in result.stdout.splitlines() if line.startswith("oversize")] == [
        "oversize: delivery.big has 501 lines (limit 500)"]


@pytest.mark.parametrize(("module", "text", "problem"), [
    ("clients/mensatek/sms.py", "from airflow_provider_mensatek.delivery.statuses import classify\n",
     "upward import: clients.mensatek.sms (layer 2, clients.mensatek) imports delivery.statuses (layer 3, delivery)"),
    ("delivery/statuses.py", "import airflow_provider_mensatek.hooks.mensatek\n",
     "upward import: delivery.statuses (layer 3, delivery) imports hooks.mensatek (layer 6, hooks)"),
    ("operators/sms.py", "from airflow_provider_mensatek.sandbox import server\n",
     "tool import: operators.sms imports sandbox.server"),
])
def test_an_import_up_the_layers_is_caught(tmp_path: Path, module: str, text: str, problem: str) -> None:
    package = layout(tmp_path, {
        "clients/mensatek/__init__.py": "", "delivery/statuses.py": "", "hooks/__init__.py": "",
        "hooks/mensatek.py": "", "operators/__init__.py": "", "sandbox/__init__.py": "", "sandbox/server.py": "",
        module: text,
    })
    result = check(package)
    assert result.returncode == 1
    assert problem in result.stdout.splitlines()


def test_the_package_itself_passes() -> None:
    result = check(REPO / "airflow_provider_mensatek")
    assert result.returncode == 0, result.stdout
    assert result.stdout.startswith("layout: ") and " 0 problem(s)" in result.stdout
