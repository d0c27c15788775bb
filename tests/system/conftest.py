"""Run DAGs end to end with ``dag.test()`` on SQLite, against the sandbox over real HTTP.

``run_dag("example_dags/certified_email_scheduled.py")`` imports the file, runs
its ``dag`` with the ``mensatek_default`` / ``legallymail_default`` connections
pointed at the sandbox, and returns a :class:`DagRunResult` with the final task
states and XCom return values.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_mensatek.sandbox import Sandbox
from tests.conftest import LEGALLYMAIL_TOKEN, MENSATEK_TOKEN, MENSATEK_USER, REPO


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """``airflow db migrate`` once per Airflow version (SQLite in the git-ignored test home)."""
    import airflow

    home = Path(os.environ["AIRFLOW_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    marker = home / f".migrated-{airflow.__version__}"
    if not marker.exists():
        subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True,
                       capture_output=True, env=os.environ.copy())
        marker.touch()


def sandbox_connections(sandbox: Sandbox) -> dict[str, str]:
    """``AIRFLOW_CONN_*`` values pointing both vendors' default connections at the sandbox."""
    return {
        "AIRFLOW_CONN_MENSATEK_DEFAULT": json.dumps({
            "conn_type": "mensatek", "login": MENSATEK_USER, "password": MENSATEK_TOKEN,
            "host": sandbox.mensatek_url,
        }),
        "AIRFLOW_CONN_LEGALLYMAIL_DEFAULT": json.dumps({
            "conn_type": "legallymail", "password": LEGALLYMAIL_TOKEN, "host": sandbox.legallymail_url,
        }),
    }


@dataclass
class DagRunResult:
    state: str
    run_id: str
    task_states: dict[str, str | None] = field(default_factory=dict)
    xcoms: dict[str, Any] = field(default_factory=dict)


def load_dag(path: str | Path, attribute: str = "dag") -> Any:
    path = Path(path)
    if not path.is_absolute():
        path = REPO / path
    name = f"_dag_under_test_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return getattr(module, attribute)


def _collect(dag: Any, dagrun: Any) -> DagRunResult:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    result = DagRunResult(state=str(dagrun.state), run_id=dagrun.run_id)
    with create_session() as session:
        for ti in dagrun.get_task_instances(session=session):
            key = ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"
            result.task_states[key] = str(ti.state) if ti.state else None
        rows = session.scalars(XComModel.get_many(run_id=dagrun.run_id, dag_ids=dag.dag_id,
                                                  key="return_value"))
        for row in rows:
            key = row.task_id if row.map_index < 0 else f"{row.task_id}[{row.map_index}]"
            result.xcoms[key] = XComModel.deserialize_value(row)
    return result


@pytest.fixture
def run_dag(airflow_db: None, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., DagRunResult]]:
    for key, value in sandbox_connections(sandbox).items():
        monkeypatch.setenv(key, value)

    def run(path_or_dag: Any, *, run_conf: dict[str, Any] | None = None) -> DagRunResult:
        dag = load_dag(path_or_dag) if isinstance(path_or_dag, str | Path) else path_or_dag
        dagrun = dag.test(run_conf=run_conf)
        return _collect(dag, dagrun)

    yield run
