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


LAYERED = {
    "clients/mensatek/__init__.py": "", "clients/mensatek/sms.py": "", "clients/legallymail/__init__.py": "",
    "clients/legallymail/checks.py": "", "delivery/statuses.py": "", "hooks/__init__.py": "", "hooks/mensatek.py": "",
    "operators/__init__.py": "", "operators/sms.py": "", "sandbox/__init__.py": "", "sandbox/pdf.py": "",
    "certificates/__init__.py": "", "webhooks/__init__.py": "", "webhooks/app.py": "",
}


@pytest.mark.parametrize(("module", "text", "problem"), [
    ("delivery/statuses.py", "import importlib\nimportlib.import_module('airflow_provider_mensatek.hooks.mensatek')\n",
     "upward import: delivery.statuses (layer 3, delivery) imports hooks.mensatek (layer 6, hooks)"),
    ("clients/mensatek/sms.py", "from importlib import import_module\n"
                                "def later():\n    return import_module('..legallymail.checks', __package__)\n",
     "vendor import: clients.mensatek.sms imports clients.legallymail.checks"),
    ("operators/sms.py", "def pdf():\n    return __import__('airflow_provider_mensatek.sandbox.pdf')\n",
     "tool import: operators.sms imports sandbox.pdf"),
    # A PEP 562 table: the string names the module behind the name, read at first use.
    ("clients/__init__.py", "from airflow_provider_mensatek._lazy import lazy_exports\n"
                            "__getattr__, __dir__ = lazy_exports(__name__, {\n"
                            "    'SmsOperator': 'airflow_provider_mensatek.operators.sms',\n})\n",
     "upward import: clients (layer 2, clients) imports operators.sms (layer 7, operators)"),
    ("delivery/__init__.py", "import importlib\n_LAZY = {'Hook': 'airflow_provider_mensatek.hooks.mensatek:Hook'}\n"
                             "def __getattr__(name):\n    module, _, attr = _LAZY[name].partition(':')\n"
                             "    return getattr(importlib.import_module(module), attr)\n",
     "upward import: delivery (layer 3, delivery) imports hooks.mensatek (layer 6, hooks)"),
    ("certificates/__init__.py", "import importlib\n_LAZY = {'pdf': '..sandbox.pdf'}\n"
                                 "def __getattr__(name):\n    return importlib.import_module(_LAZY[name], __name__)\n",
     "tool import: certificates imports sandbox.pdf"),
])
def test_an_import_written_as_a_string_is_caught(tmp_path: Path, module: str, text: str, problem: str) -> None:
    package = layout(tmp_path, {**LAYERED, "_lazy.py": "", module: text})
    result = check(package)
    assert result.returncode == 1
    assert problem in result.stdout.splitlines()


def test_a_cycle_through_a_lazy_re_export_is_caught(tmp_path: Path) -> None:
    package = layout(tmp_path, {
        "clients/mensatek/__init__.py": "def __getattr__(name):\n    import importlib\n"
                                        "    return importlib.import_module('.client', __name__).MensatekClient\n",
        "clients/mensatek/client.py": "from airflow_provider_mensatek.clients.mensatek import sms\n",
        "clients/mensatek/sms.py": "from airflow_provider_mensatek import clients\n"
                                   "clients.mensatek.MensatekClient\n"
                                   "import airflow_provider_mensatek.clients.mensatek as m\n",
    })
    result = check(package)
    assert "cycle: clients.mensatek -> clients.mensatek.client -> clients.mensatek.sms" in result.stdout.splitlines()


@pytest.mark.parametrize(("module", "text", "problem"), [
    ("clients/mensatek/sms.py", "def later():\n    from airflow.sdk import Variable\n",
     "airflow import: clients.mensatek.sms (layer 2, clients.mensatek) imports airflow.sdk "
     "(layers up to 3 are Airflow-free)"),
    ("clients/errors.py", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import airflow.models\n",
     "airflow import: clients.errors (layer 1, clients.errors) imports airflow.models "
     "(layers up to 3 are Airflow-free)"),
    ("delivery/statuses.py", "import importlib\ndef later():\n    return importlib.import_module('airflow.sdk')\n",
     "airflow import: delivery.statuses (layer 3, delivery) imports airflow.sdk (layers up to 3 are Airflow-free)"),
    ("delivery/statuses.py", "import airflow\n",
     "airflow import: delivery.statuses (layer 3, delivery) imports airflow (layers up to 3 are Airflow-free)"),
])
def test_clients_and_delivery_import_no_airflow_at_all(tmp_path: Path, module: str, text: str, problem: str) -> None:
    package = layout(tmp_path, {**LAYERED, module: text})
    result = check(package)
    assert result.returncode == 1
    assert problem in result.stdout.splitlines()


def test_the_airflow_side_and_certificates_may_import_airflow(tmp_path: Path) -> None:
    package = layout(tmp_path, {
        **LAYERED,
        "certificates/store.py": "from airflow.sdk import ObjectStoragePath\n",
        "hooks/mensatek.py": "from airflow.sdk import BaseHook\n",
        "webhooks/app.py": "from airflow.sdk import Asset\nfrom airflow_provider_mensatek.hooks import mensatek\n"
                           "from airflow_provider_mensatek.delivery import statuses\n",
    })
    result = check(package)
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize(("module", "text", "problem"), [
    ("clients/legallymail/checks.py", "from airflow_provider_mensatek.clients.mensatek import sms\n",
     "vendor import: clients.legallymail.checks imports clients.mensatek.sms"),
    ("clients/mensatek/sms.py", "from ..legallymail import checks\n",
     "vendor import: clients.mensatek.sms imports clients.legallymail.checks"),
])
def test_the_vendor_sdks_never_import_each_other(tmp_path: Path, module: str, text: str, problem: str) -> None:
    package = layout(tmp_path, {**LAYERED, module: text})
    result = check(package)
    assert result.returncode == 1
    assert problem in result.stdout.splitlines()


@pytest.mark.parametrize(("module", "text", "problem"), [
    ("delivery/statuses.py", "from airflow_provider_mensatek.webhooks import app\n",
     "upward import: delivery.statuses (layer 3, delivery) imports webhooks.app (layer 7, webhooks)"),
    ("hooks/mensatek.py", "def later():\n    from airflow_provider_mensatek.webhooks.app import create_app\n",
     "upward import: hooks.mensatek (layer 6, hooks) imports webhooks.app (layer 7, webhooks)"),
    ("webhooks/app.py", "from airflow_provider_mensatek.sandbox import pdf\n",
     "tool import: webhooks.app imports sandbox.pdf"),
])
def test_webhooks_is_on_the_airflow_side(tmp_path: Path, module: str, text: str, problem: str) -> None:
    package = layout(tmp_path, {**LAYERED, module: text})
    result = check(package)
    assert result.returncode == 1
    assert problem in result.stdout.splitlines()


def test_an_example_dag_importing_the_sandbox_is_caught(tmp_path: Path) -> None:
    package = layout(tmp_path, LAYERED)
    examples = tmp_path / "example_dags"
    examples.mkdir()
    (examples / "contract.py").write_text(
        "def task():\n    from airflow_provider_mensatek.sandbox.pdf import make_pdf\n")
    (examples / "lazy.py").write_text(
        "import importlib\nimportlib.import_module('airflow_provider_mensatek.sandbox')\n")
    (examples / "fine.py").write_text(
        "from airflow_provider_mensatek.operators.sms import X\nfrom airflow.sdk import dag\n")
    result = check(package)
    assert result.returncode == 1
    assert result.stdout.splitlines()[:-1] == [
        "tool import: example_dags/contract.py imports sandbox.pdf (examples are what users copy)",
        "tool import: example_dags/lazy.py imports sandbox (examples are what users copy)",
    ]
    elsewhere = tmp_path / "elsewhere"
    examples.rename(elsewhere)
    assert check(package).returncode == 0
    assert "example_dags/contract.py" not in check(package, "--examples", str(elsewhere)).stdout
    assert "elsewhere/contract.py imports sandbox.pdf" in check(package, "--examples", str(elsewhere)).stdout


def test_a_lazy_re_export_of_a_module_that_moved_is_caught(tmp_path: Path) -> None:
    package = layout(tmp_path, {
        "__init__.py": "__version__ = '1'\n", "_lazy.py": "", "clients/mensatek/__init__.py": "",
        "clients/mensatek/_email_and_rcs.py": "",
        "clients/__init__.py": "from airflow_provider_mensatek._lazy import lazy_exports\n"
                               "__getattr__, __dir__ = lazy_exports(__name__, {\n"
                               "    'CampaignRecipient': 'airflow_provider_mensatek.clients.mensatek._campaign',\n"
                               "    'Other': 'airflow_provider_mensatek.clients.mensatek._email_and_rcs',\n"
                               "    'version': 'airflow_provider_mensatek.__version__',\n})\n",
        "delivery/__init__.py": "import importlib\n"
                                "def load():\n    return importlib.import_module('.gone', __package__)\n",
    })
    result = check(package)
    assert result.returncode == 1
    assert result.stdout.splitlines()[:-1] == [
        "missing module: clients names clients.mensatek._campaign, which does not exist",
        "missing module: delivery names delivery.gone, which does not exist",
    ]


@pytest.mark.parametrize(("module", "text", "problem"), [
    ("campaigns/__main__.py", "from airflow_provider_mensatek.certificates.store import to_storage_path\n",
     "core import: campaigns.__main__ imports certificates.store"),
    ("certificates/store.py", "def later():\n    from airflow_provider_mensatek.campaigns import __main__\n",
     "core import: certificates.store imports campaigns.__main__"),
])
def test_the_campaign_and_certificate_cores_never_import_each_other(tmp_path: Path, module: str, text: str,
                                                                    problem: str) -> None:
    package = layout(tmp_path, {
        "campaigns/__init__.py": "", "campaigns/__main__.py": "", "certificates/__init__.py": "",
        "certificates/store.py": "", module: text,
    })
    result = check(package)
    assert result.returncode == 1
    assert problem in result.stdout.splitlines()


def test_both_cores_may_use_the_shared_object_storage_helper(tmp_path: Path) -> None:
    package = layout(tmp_path, {
        "object_storage.py": "from airflow.sdk import ObjectStoragePath\n",
        "campaigns/__init__.py": "", "certificates/__init__.py": "",
        "campaigns/__main__.py": "from airflow_provider_mensatek.object_storage import to_storage_path\n",
        "certificates/store.py": "from airflow_provider_mensatek.object_storage import to_storage_path\n",
        "delivery/polling.py": "from airflow_provider_mensatek import object_storage\n",
    })
    result = check(package)
    assert result.stdout.splitlines()[:-1] == [
        "upward import: delivery.polling (layer 3, delivery) imports object_storage (layer 4, object_storage)"]
