"""Under dag.test(): MensatekRetryPolicy retries after the vendor's Retry-After and never retries refusals."""

from __future__ import annotations

import json
import re

import pytest
from airflow.sdk.exceptions import AirflowOptionalProviderFeatureException

from airflow_provider_mensatek.sandbox import Fault, Sandbox
from airflow_provider_mensatek.sandbox.dag_runner import load_dag
from tests.airflow_versions import AIRFLOW_VERSION, AIRFLOW_VERSION_TEXT, needs_airflow
from tests.conftest import MENSATEK_TOKEN, MENSATEK_USER, REPO

DAG_FILE = "tests/system/dags/mensatek_retry_policy.py"


@pytest.mark.skipif(AIRFLOW_VERSION >= (3, 3), reason="Airflow 3.3 has task-level retry policies: the test below")
def test_a_dag_with_a_retry_policy_fails_to_load_on_an_airflow_without_them() -> None:
    # Airflow 3.2 alone would refuse retry_policy= as "Invalid arguments were passed": making the policy
    # fails first, so the DAG's import error (in the UI) says what it needs.
    with pytest.raises(AirflowOptionalProviderFeatureException,
                       match=rf"needs Airflow 3\.3 .*this is Airflow {re.escape(AIRFLOW_VERSION_TEXT)}"):
        load_dag(REPO / DAG_FILE)


@needs_airflow((3, 3), "task-level retry_policy")
def test_rate_limited_send_retries_after_retry_after_and_refusals_fail_once(
    run_dag, sandbox: Sandbox, monkeypatch
) -> None:
    # A Retry-After above max_retry_wait is not waited inside the task: it goes to the retry policy.
    monkeypatch.setenv("AIRFLOW_CONN_MENSATEK_DEFAULT", json.dumps({
        "conn_type": "mensatek", "login": MENSATEK_USER, "password": MENSATEK_TOKEN,
        "host": sandbox.mensatek_url, "extra": {"max_retry_wait": 0.5},
    }))
    sandbox.inject("EnviarEMAILCERTIFICADO", Fault("status", status=429, retry_after=1))

    result = run_dag(DAG_FILE)

    assert result.task_states["send"] == "success"
    assert result.xcoms["send"]["sent"] == 1
    assert result.task_states["send_from_unvalidated_sender"] == "failed"
    sends = sandbox.requests_to("EnviarEMAILCERTIFICADO")
    by_sender: dict[str, int] = {}
    for req in sends:
        by_sender[req.param("Remitente")] = by_sender.get(req.param("Remitente"), 0) + 1
    # One 429, then one accepted send after the policy's 1 s delay (not the task's 30 min retry_delay).
    assert by_sender["avisos@example.com"] == 2
    # The vendor refused the sender (-5): no retry despite retries=3.
    assert by_sender["avisos@unvalidated.example"] == 1
    assert len(sandbox.mensatek.certified) == 1
