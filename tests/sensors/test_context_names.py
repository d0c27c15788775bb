"""In a real run without a logical date (``airflow dags trigger``, the REST API, the UI), a sensor whose
template names ``{{ ds }}`` fails once, saying the run has no logical date and naming the field, as the
operators do; never with Jinja's bare UndefinedError, which Airflow retries.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from airflow_provider_mensatek.operators._context_names import LOGICAL_DATE_ALTERNATIVES
from airflow_provider_mensatek.sandbox import Sandbox
from airflow_provider_mensatek.sandbox.dag_runner import load_dag
from tests.airflow_versions import AIRFLOW_VERSION, missing_reason
from tests.conftest import REPO

DAG_FILE = REPO / "tests/system/dags/mensatek_sensors_without_logical_date.py"


def _tries(run_id: str) -> dict[str, int]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(select(TaskInstance.task_id, TaskInstance.try_number).where(
            TaskInstance.run_id == run_id))
        return {task_id: try_number for task_id, try_number in rows}


def test_every_sensor_in_every_mode_says_the_run_has_no_logical_date_and_is_not_retried(
    run_dag: Any, sandbox: Sandbox
) -> None:
    dag = load_dag(DAG_FILE)
    dag_module = inspect.getmodule(dag.default_args["on_failure_callback"])
    failures, sensors, modes = dag_module.FAILURES, dag_module.SENSORS, dag_module.MODES

    result = run_dag(dag)

    tasks = {f"{cls.__name__}_{mode}" for cls in sensors for mode in modes}
    assert result.task_states == dict.fromkeys(tasks, "failed")
    assert _tries(result.run_id) == dict.fromkeys(tasks, 1)  # a failure Airflow does not retry
    if AIRFLOW_VERSION < (3, 3):
        # Airflow 3.2's dag.test() calls on_failure_callback without context["exception"] (a real run sets
        # it): the states and tries are checked above, the failure texts cannot be read here.
        pytest.skip(missing_reason((3, 3), "dag.test() giving on_failure_callback the exception; states and "
                                           "tries were checked, the failure texts were not"))
    for cls, (arguments, field) in sensors.items():
        (name,) = {n for n in LOGICAL_DATE_ALTERNATIVES if f" {n} " in str(arguments[field])}
        for mode in modes:
            text = failures[f"{cls.__name__}_{mode}"]
            assert text.startswith("AirflowFailException: "), text
            assert f"in {field!r}" in text and f"uses {{{{ {name} }}}}, but this run has no logical date" in text
            assert str(LOGICAL_DATE_ALTERNATIVES[name]) in text
    assert sandbox.requests == []
