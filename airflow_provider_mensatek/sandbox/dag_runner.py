"""Run a DAG file end to end with ``dag.test()`` against the sandbox (used by ``make demo`` and the tests).

The caller must have set ``AIRFLOW_HOME`` (and migrated its database) before
Airflow is imported; :func:`prepare_airflow_home` does both for a throwaway home.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from airflow_provider_mensatek.sandbox.server import Sandbox

BUNDLE_CLASS = "airflow.dag_processing.bundles.local.LocalDagBundle"


def airflow_environment(home: Path, dag_folders: dict[str, Path]) -> dict[str, str]:
    """Environment for a throwaway Airflow: SQLite home, no example DAGs, one local bundle per folder."""
    bundles = [{"name": name, "classpath": BUNDLE_CLASS, "kwargs": {"path": str(path), "refresh_interval": 0}}
               for name, path in dag_folders.items()]
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(next(iter(dag_folders.values()))),
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(bundles),
    }


def prepare_airflow_home(home: Path) -> None:
    """``airflow db migrate`` once per Airflow version (a marker file remembers it)."""
    import airflow

    home.mkdir(parents=True, exist_ok=True)
    marker = home / f".migrated-{airflow.__version__}"
    if not marker.exists():
        subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True,
                       env={**os.environ, "AIRFLOW_HOME": str(home)})
        marker.touch()


def sandbox_connections(sandbox: Sandbox) -> dict[str, str]:
    """``AIRFLOW_CONN_*`` values pointing both vendors' default connections at the sandbox."""
    return {
        "AIRFLOW_CONN_MENSATEK_DEFAULT": json.dumps({
            "conn_type": "mensatek", "login": sandbox.mensatek_user, "password": sandbox.mensatek_token,
            "host": sandbox.mensatek_url,
        }),
        "AIRFLOW_CONN_LEGALLYMAIL_DEFAULT": json.dumps({
            "conn_type": "legallymail", "password": sandbox.legallymail_token, "host": sandbox.legallymail_url,
        }),
    }


@dataclass
class DagRunResult:
    dag_id: str
    state: str
    run_id: str
    task_states: dict[str, str | None] = field(default_factory=dict)
    xcoms: dict[str, Any] = field(default_factory=dict)


def load_dag(path: str | Path, attribute: str = "dag") -> Any:
    path = Path(path).resolve()
    name = f"_dag_file_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"Cannot load DAG file {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return getattr(module, attribute)


def run_dag(dag: Any, run_conf: dict[str, Any] | None = None, logical_date: datetime | None = None) -> DagRunResult:
    """``dag.test()`` then the final task states and ``return_value`` XComs, read from the metadata DB.

    By default the run has no logical date, as runs started by ``airflow dags trigger``, the REST API
    and the UI have in Airflow 3 (``dag.test()`` alone would give it one).
    """
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with warnings.catch_warnings():
        # dag.test() first deletes an earlier run of the DAG with the same logical date, here "none";
        # when the DAG has several serialized versions SQLAlchemy warns while loading it for the delete.
        warnings.filterwarnings("ignore", message="Multiple rows returned with uselist=False")
        dagrun = dag.test(run_conf=run_conf, logical_date=logical_date)
    result = DagRunResult(dag_id=dag.dag_id, state=str(dagrun.state), run_id=dagrun.run_id)
    with create_session() as session:
        for ti in dagrun.get_task_instances(session=session):
            key = ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"
            result.task_states[key] = str(ti.state) if ti.state else None
        query = XComModel.get_many(run_id=dagrun.run_id, dag_ids=dag.dag_id, key="return_value")
        rows: list[Any] = list(session.scalars(query))
        for row in rows:
            key = row.task_id if row.map_index < 0 else f"{row.task_id}[{row.map_index}]"
            result.xcoms[key] = XComModel.deserialize_value(row)
    return result
