"""What a DAG file pulls in when the dag-processor parses it: no vendor client, no HTTP stack, no machinery.

The dag-processor re-imports every DAG file every 30 s. The files below are
imported one after the other in one fresh process after ``import airflow.sdk``
(first a DAG using Airflow alone, the baseline), recording what each adds to
``sys.modules`` and every import statement a provider module runs meanwhile. The
tests assert on those *sets*, never on a time (``bench/import_cost.py`` prints
the figures).
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import tomllib

from tests.conftest import REPO

PACKAGE = "airflow_provider_mensatek"
AIRFLOW_ONLY_DAG = REPO / "tests" / "dag_files" / "airflow_only.py"
EVERY_CLASS_DAG = REPO / "tests" / "dag_files" / "every_public_class.py"
EXAMPLE_DAGS = sorted((REPO / "example_dags").glob("*.py"))

#: Where a DAG file's public classes live; a new module here must be named in EVERY_CLASS_DAG.
PUBLIC_PACKAGES = ("operators", "sensors", "notifications")
#: The thin Airflow side: its modules may load at parse time (what they import is checked below).
THIN_SIDE = ("operators", "sensors", "notifications", "hooks", "webhooks", "retry_policy", "get_provider_info",
             "_lazy")
#: The only modules of the Airflow-free layers a DAG file may load: constants and local checks, with no
#: HTTP, no vendor client, no campaign or certificate machinery. A new entry must be as light as these.
LIGHT_MODULES = frozenset(f"{PACKAGE}.{name}" if name else PACKAGE for name in (
    "",
    "clients", "clients._http", "clients._http.extra_params", "clients._http.redact", "clients.errors",
    "clients.validation", "clients.send_at", "clients._local_files", "clients._credential_caches", "clients._wire",
    "clients.sms_encoding", "clients.phone_numbers", "clients.private_folder",
    "clients.mensatek", "clients.mensatek.wire", "clients.mensatek.reports",
    "clients.legallymail", "clients.legallymail.checks",
    "certificates", "certificates.destination", "certificates.limits", "certificates.names", "object_storage",
    "delivery", "delivery.report_assets", "delivery.wait_modes",
))
#: Packages the provider needs only to do the work (send, wait, archive): a provider module that imports
#: one while a DAG file is parsed fails the test even when ``airflow.sdk`` imported it already.
WORK_ONLY = ("requests", "urllib3", "charset_normalizer", "tenacity", "fsspec", "s3fs", "gcsfs")
#: Airflow modules that belong to the triggerer, not to DAG parsing.
AIRFLOW_WORK_ONLY = ("airflow.triggers",)

#: Runs in the fresh process: airflow.sdk, then each file; prints what each one added.
PROBE = r"""
import builtins, json, runpy, sys
import airflow.sdk

baseline = sorted(sys.modules)
real_import = builtins.__import__
files = {}

for path in sys.argv[1:]:
    before = set(sys.modules)
    statements = []

    def spy(name, globals=None, locals=None, fromlist=(), level=0):
        importer = (globals or {}).get("__name__") or ""
        if importer.split(".")[0] == "airflow_provider_mensatek" and level == 0:
            statements.append([importer, name])
        return real_import(name, globals, locals, fromlist, level)

    builtins.__import__ = spy
    try:
        runpy.run_path(path, run_name="dag_file")
    finally:
        builtins.__import__ = real_import
    files[path] = {"loaded": sorted(set(sys.modules) - before), "statements": statements}

print("PROBE " + json.dumps({"baseline": baseline, "files": files}))
"""


def entry_point_files(folder: Path) -> list[Path]:
    """One small file per entry point Airflow loads in every process: the provider info, plugins if any."""
    entry_points = tomllib.loads((REPO / "pyproject.toml").read_text())["project"].get("entry-points", {})
    files = []
    for group in ("apache_airflow_provider", "airflow.plugins"):
        for name, target in entry_points.get(group, {}).items():
            module, _, attr = target.partition(":")
            call = "()" if group == "apache_airflow_provider" else ""
            path = folder / f"entry_point_{group.replace('.', '_')}_{name}.py"
            path.write_text(f"import {module}\n{module}.{attr}{call}\n")
            files.append(path)
    return files


def parse(files: list[Path], cwd: Path, pythonpath: Path | None = None) -> dict[str, Any]:
    """Import :data:`AIRFLOW_ONLY_DAG` then ``files`` in one fresh process after ``import airflow.sdk``;
    ``pythonpath``: another copy of the package to import instead of the installed one."""
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(pythonpath), env.get("PYTHONPATH")) if p)
    done = subprocess.run([sys.executable, "-c", PROBE, str(AIRFLOW_ONLY_DAG), *map(str, files)],
                          capture_output=True, text=True, timeout=300, cwd=cwd, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(line for line in reversed(done.stdout.splitlines()) if line.startswith("PROBE "))
    result: dict[str, Any] = json.loads(line.removeprefix("PROBE "))
    return result


def problems(result: dict[str, Any]) -> list[str]:
    """Every rule broken, one line each, naming the DAG file; [] when parsing is as light as it must be."""
    files = dict(result["files"])
    airflow_only = files.pop(str(AIRFLOW_ONLY_DAG))["loaded"]
    baseline_roots = {name.split(".")[0] for name in [*result["baseline"], *airflow_only]}
    found = []
    for path, seen in files.items():
        where = Path(path).name
        for module in seen["loaded"]:
            root = module.split(".")[0]
            if root == PACKAGE:
                relative = module.removeprefix(PACKAGE + ".")
                if module not in LIGHT_MODULES and relative.split(".")[0] not in THIN_SIDE:
                    found.append(f"{where}: loads {module} (vendor client, transport or machinery)")
            elif module.startswith(AIRFLOW_WORK_ONLY):
                found.append(f"{where}: loads {module} (triggerer machinery)")
            elif root not in baseline_roots and root not in sys.stdlib_module_names:
                found.append(f"{where}: loads {module}, a package a DAG using Airflow alone does not load")
        for importer, name in seen["statements"]:
            if name.split(".")[0] in WORK_ONLY:
                found.append(f"{where}: {importer} runs `import {name}` at parse time")
    return found


@pytest.fixture(scope="module")
def parsed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The entry points Airflow loads in every process, then the every-class DAG, parsed in one process."""
    folder = tmp_path_factory.mktemp("dag_parse")
    return parse([*entry_point_files(folder), EVERY_CLASS_DAG], folder)


def test_a_dag_naming_every_public_class_loads_no_client_no_http_stack_no_machinery(parsed: dict[str, Any]) -> None:
    loaded = set(parsed["files"][str(EVERY_CLASS_DAG)]["loaded"])
    # The operators and sensors were imported by this DAG, not before it: the sets below are its doing.
    assert {f"{PACKAGE}.operators.certified_email", f"{PACKAGE}.sensors.delivery"} <= loaded
    assert "requests" not in parsed["baseline"], "airflow.sdk imports requests itself: revisit these rules"
    assert [p for p in problems(parsed) if p.startswith(EVERY_CLASS_DAG.name)] == []
    assert not any(m.split(".")[0] in WORK_ONLY[:3] for m in loaded)
    assert not any(m.startswith(f"{PACKAGE}.{part}") for m in loaded
                   for part in ("campaigns", "triggers", "delivery.statuses", "delivery.waiting", "certificates.store",
                                "clients.mensatek.client", "clients.legallymail.client", "clients._http.transport"))


def test_the_provider_entry_points_load_no_client_no_http_stack_no_machinery(parsed: dict[str, Any]) -> None:
    # `import airflow` reads every provider's info (its config section) in every Airflow process: ours
    # must cost the package's __init__ and get_provider_info.py, nothing else.
    assert {m for m in parsed["baseline"] if m.split(".")[0] == PACKAGE} <= {PACKAGE, f"{PACKAGE}.get_provider_info"}
    entry_points = [p for p in parsed["files"] if Path(p).name.startswith("entry_point_")]
    assert any("apache_airflow_provider" in p for p in entry_points)
    assert [p for p in problems(parsed) if p.startswith("entry_point_")] == []


def test_the_example_dags_load_no_client_no_http_stack_no_machinery(tmp_path: Path) -> None:
    # A process of their own: after the every-class DAG nothing would be left for them to load.
    assert len(EXAMPLE_DAGS) >= 6
    result = parse(EXAMPLE_DAGS, tmp_path)
    assert any(m.startswith(f"{PACKAGE}.operators.") for seen in result["files"].values() for m in seen["loaded"])
    assert problems(result) == []


def public_classes() -> dict[str, set[str]]:
    """Public classes of the modules DAG files import them from, read from the source (nothing imported)."""
    found: dict[str, set[str]] = {}
    for package in PUBLIC_PACKAGES:
        for path in sorted((REPO / PACKAGE / package).glob("*.py")):
            if path.name.startswith("_"):
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            names = {node.name for node in tree.body
                     if isinstance(node, ast.ClassDef) and not node.name.startswith("_")}
            if names:
                found[f"{PACKAGE}.{package}.{path.stem}"] = names
    return found


def test_the_every_class_dag_names_every_public_operator_sensor_and_notifier() -> None:
    tree = ast.parse(EVERY_CLASS_DAG.read_text(encoding="utf-8"))
    imported = {alias.name for node in tree.body if isinstance(node, ast.ImportFrom) for alias in node.names}
    classes = public_classes()
    assert len(classes) >= 10  # every operator module, the sensors, the notifiers
    missing = {module: sorted(names - imported) for module, names in classes.items() if names - imported}
    assert missing == {}, f"add these to {EVERY_CLASS_DAG.relative_to(REPO)}: {missing}"


def test_a_heavy_top_level_import_in_an_operator_module_is_caught(tmp_path: Path) -> None:
    """The rules, on a copy of the package whose SMS operator module gained four top-level imports.

    ``tenacity`` is imported by ``airflow.sdk`` already, and ``requests`` by the baseline DAG's Asset
    when the Amazon provider is installed: only the recorded import statement catches them.
    ``third_party_stand_in`` is a package nothing else loads, so the module-set rule must catch it.
    """
    copy = tmp_path / "src"
    shutil.copytree(REPO / PACKAGE, copy / PACKAGE, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "third_party_stand_in").mkdir()
    (copy / "third_party_stand_in" / "__init__.py").write_text("")
    sms = copy / PACKAGE / "operators" / "sms.py"
    added = (f"import requests\nimport tenacity\nimport third_party_stand_in\n"
             f"from {PACKAGE}.clients import MensatekClient\n")
    sms.write_text(sms.read_text().replace("from airflow.sdk import Context\n",
                                           "from airflow.sdk import Context\n" + added, 1))
    dag = tmp_path / "dag.py"
    dag.write_text(f"from {PACKAGE}.operators.sms import MensatekSendSmsOperator\n")
    result = parse([dag], tmp_path, pythonpath=copy)
    assert str(copy) in sms.as_posix() and f"{PACKAGE}.operators.sms" in result["files"][str(dag)]["loaded"]
    found = problems(result)
    assert "dag.py: loads third_party_stand_in, a package a DAG using Airflow alone does not load" in found
    assert f"dag.py: {PACKAGE}.operators.sms runs `import requests` at parse time" in found
    assert f"dag.py: {PACKAGE}.operators.sms runs `import tenacity` at parse time" in found
    assert f"dag.py: loads {PACKAGE}.clients.mensatek.client (vendor client, transport or machinery)" in found
