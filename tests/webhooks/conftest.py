"""A real Airflow deployment with the receiver plugin mounted as Airflow mounts it, per database backend.

``receiver`` is started once per session and backend: ``airflow db migrate`` (which
creates the provider's tables through its DB manager), then ``api-server``,
``dag-processor`` and ``scheduler`` as separate processes, with the consumer DAGs
of ``tests/webhooks/dags`` and the ``mensatek_reports_default`` connection. Tests
POST to ``receiver.url`` over real HTTP and read what was stored straight from the
metadata database (:class:`~tests.webhooks.support.Inbox`).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from airflow_provider_mensatek.sandbox.deployment import AirflowDeployment
from tests.airflow_versions import AIRFLOW_VERSION, missing_reason
from tests.local_services.postgres import PostgresCluster
from tests.webhooks.support import Inbox, receiver_connection

DAGS = Path(__file__).resolve().parent / "dags"
COMPONENTS = ("api-server", "dag-processor", "scheduler")
CONSUMER_DAGS = ("reports_partitioned", "reports_plain", "reports_paused", "reports_inlets")
BACKENDS = ("sqlite", "postgresql")


@dataclass
class Receiver:
    """A running deployment with the receiver: ``url`` is ``<api-server>/mensatek/reports``."""

    backend: str
    deployment: AirflowDeployment
    inbox: Inbox

    @property
    def url(self) -> str:
        return f"{self.deployment.url}/mensatek/reports"

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``python -m airflow_provider_mensatek.webhooks <args>`` where the deployment's processes run."""
        deployment = self.deployment
        done = subprocess.run([deployment.python, "-m", "airflow_provider_mensatek.webhooks", *args],
                              cwd=deployment.home, env=deployment.env, capture_output=True, text=True, timeout=180,
                              check=False)
        if check:
            assert done.returncode == 0, done.stderr[-3000:]
        return done

    def log_text(self) -> str:
        """Every log the deployment wrote so far: its components' and its tasks'."""
        home = self.deployment.home
        files = [*home.glob("*.log"), *(home / "logs").rglob("*")]
        return "\n".join(path.read_text(errors="replace") for path in files if path.is_file())


def start_receiver(home: Path, database_url: str | None = None, *, components: tuple[str, ...] = COMPONENTS,
                   env: dict[str, str] | None = None, api_workers: int = 1) -> Receiver:
    deployment = AirflowDeployment(home, DAGS, components=components, database_url=database_url,
                                   env=env if env is not None else receiver_connection(), api_workers=api_workers)
    deployment.start()
    try:
        if "dag-processor" in components:
            deployment.wait_for_dags(CONSUMER_DAGS)
    except BaseException:
        deployment.stop()
        raise
    backend = "postgresql" if deployment.database_url.startswith("postgresql") else "sqlite"
    return Receiver(backend=backend, deployment=deployment, inbox=Inbox(deployment.database_url))


def backend_database(request: pytest.FixtureRequest, backend: str, name: str) -> str | None:
    """None (SQLite in the deployment's home) or a new database of the session's PostgreSQL cluster."""
    if backend == "sqlite":
        return None
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    return cluster.create_database(name)


@pytest.fixture(scope="session", params=BACKENDS)
def receiver(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Receiver]:
    """The receiver on each backend, with the consumer DAGs parsed and the scheduler running.

    Two api-server workers: separate processes with separate memories, as in production, so the
    duplicate and concurrency tests cross processes (uvicorn spreads connections over both).
    """
    started = start_receiver(tmp_path_factory.mktemp(f"receiver-{request.param}"),
                             backend_database(request, request.param, "receiver"), api_workers=2)
    yield started
    started.deployment.stop()
    started.inbox.close()


#: What the receiver needs that Airflow 3.2 lacks; only the report Assets (test_assets.py) are usable there.
_RECEIVER_NEEDS = "the receiver writes reports to Asset state stores (airflow.state)"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if AIRFLOW_VERSION >= (3, 3):
        return
    skip = pytest.mark.skip(reason=missing_reason((3, 3), _RECEIVER_NEEDS))
    here = Path(__file__).parent
    for item in items:
        if item.path.parent == here and item.path.name != "test_assets.py":
            item.add_marker(skip)
