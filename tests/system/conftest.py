"""Run DAGs end to end against the sandbox over real HTTP: with ``dag.test()``, or in a real deployment.

``run_dag("example_dags/certified_email_scheduled.py")`` imports the file, runs
its ``dag`` with ``dag.test()`` (no logical date, as users' triggers start runs)
and the ``mensatek_default`` / ``legallymail_default`` connections pointed at
the sandbox, and returns a
:class:`~airflow_provider_mensatek.sandbox.dag_runner.DagRunResult` with the
final task states and XCom return values.

``airflow_deployment`` is the example DAGs folder in a real Airflow deployment
(:class:`~airflow_provider_mensatek.sandbox.deployment.AirflowDeployment`),
started once per session against ``deployed_sandbox``.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_mensatek.sandbox import Clock, Sandbox
from airflow_provider_mensatek.sandbox.dag_runner import (
    DagRunResult,
    load_dag,
    prepare_airflow_home,
    sandbox_connections,
)
from airflow_provider_mensatek.sandbox.dag_runner import (
    run_dag as run_dag_object,
)
from airflow_provider_mensatek.sandbox.deployment import AirflowDeployment
from tests.conftest import REPO

__all__ = ["DagRunResult"]


@pytest.fixture(scope="session")
def airflow_db() -> None:
    prepare_airflow_home(Path(os.environ["AIRFLOW_HOME"]))


@pytest.fixture
def run_dag(
    airflow_db: None, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., DagRunResult]]:
    """Runs a DAG with no logical date, as ``airflow dags trigger`` and the REST API start runs."""
    for key, value in sandbox_connections(sandbox).items():
        monkeypatch.setenv(key, value)
    # The examples write to folders under tempfile.gettempdir() by default (read when the DAG file is
    # loaded), which is also a default allowed root for local files: the session's pytest folder, so
    # their files stay out of the machine's temp dir and every test's tmp_path is allowed too.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path_factory.getbasetemp()))

    def run(path_or_dag: Any, *, run_conf: dict[str, Any] | None = None) -> DagRunResult:
        if isinstance(path_or_dag, str | Path):
            path = Path(path_or_dag)
            path_or_dag = load_dag(path if path.is_absolute() else REPO / path)
        return run_dag_object(path_or_dag, run_conf=run_conf)

    yield run


# -- a real local Airflow deployment (api-server, scheduler, dag-processor, triggerer) ----------------

#: Simulated seconds per real second for the deployment's sandbox: one status step (60 simulated
#: seconds) per real second, while "tomorrow 09:00" stays hours of real time away.
DEPLOYED_SANDBOX_SPEED = 60.0


@pytest.fixture(scope="session")
def deployed_sandbox() -> Iterator[Sandbox]:
    """A sandbox of its own for the deployment, its clock running: tasks there run in real time."""
    with Sandbox(clock=Clock(speed=DEPLOYED_SANDBOX_SPEED)) as sandbox:
        yield sandbox


#: The Basic credential the deployment's report receiver expects (``mensatek_reports_default``): the sandbox
#: sends it with every report it pushes (``tests/system/test_report_examples_deployed.py``).
REPORTS_USER = "mensatek-panel"
REPORTS_PASSWORD = secrets.token_urlsafe(24)


@pytest.fixture(scope="session")
def airflow_deployment(deployed_sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory
                       ) -> Iterator[AirflowDeployment]:
    """The example DAGs in a real Airflow deployment on loopback, started once per session; stopped
    (every process group) at the end of the session, whether the tests passed or not. Its api-server
    receives Mensatek reports at ``/mensatek/reports``, with reply texts in the Asset events (the SMS
    replies example reads them)."""
    receiver = {"conn_type": "mensatek_reports", "login": REPORTS_USER, "password": REPORTS_PASSWORD,
                "extra": {"personal_data": True}}
    deployment = AirflowDeployment(tmp_path_factory.mktemp("airflow-deployment"), REPO / "example_dags",
                                   env={**sandbox_connections(deployed_sandbox),
                                        "AIRFLOW_CONN_MENSATEK_REPORTS_DEFAULT": json.dumps(receiver)})
    with deployment:
        yield deployment
