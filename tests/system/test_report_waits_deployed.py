"""A deferred sensor in webhook mode in a real Airflow deployment: the sandbox pushes its reports to the
api-server's receiver (``/mensatek/reports``), which stores them and writes the channel Asset's state store;
the trigger runs in the triggerer process, reads that store and wakes the task; Mensatek is never asked for a
status.

The sandbox's clock is frozen until the task is deferred, so every status change (and so every report)
comes after the sensor's look before deferring: the wake can only come from the triggerer.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from airflow_provider_mensatek.sandbox import Clock, Sandbox
from airflow_provider_mensatek.sandbox.dag_runner import sandbox_connections
from airflow_provider_mensatek.sandbox.deployment import AirflowDeployment
from tests.airflow_versions import needs_airflow
from tests.conftest import REPO
from tests.webhooks.support import PASSWORD, USER, Inbox, dedupe_key_of, receiver_connection

pytestmark = [pytest.mark.deployment, pytest.mark.system,
              needs_airflow((3, 3), "Asset state stores, where the receiver keeps reports: webhook mode")]

DAG_ID = "mensatek_report_wait"


@pytest.fixture(scope="module")
def frozen_sandbox() -> Iterator[Sandbox]:
    with Sandbox(clock=Clock(speed=0.0)) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def deployment(frozen_sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowDeployment]:
    env = sandbox_connections(frozen_sandbox)
    conn = json.loads(env["AIRFLOW_CONN_MENSATEK_DEFAULT"])
    env["AIRFLOW_CONN_MENSATEK_DEFAULT"] = json.dumps({**conn, "extra": {"reports": True}})
    env["AIRFLOW__MENSATEK__REPORT_WATCH_INTERVAL"] = "0.5"
    env.update(receiver_connection())
    with AirflowDeployment(tmp_path_factory.mktemp("report-waits"), REPO / "tests" / "system" / "report_dags",
                           env=env) as airflow:
        airflow.wait_for_dags([DAG_ID])
        yield airflow


def task_state(airflow: AirflowDeployment, run_id: str, task_id: str) -> str | None:
    path = f"dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}"
    return airflow.api("GET", path)["state"]


def wait_for_state(airflow: AirflowDeployment, run_id: str, task_id: str, wanted: str,
                   timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout  # a safety net, never a measure
    while (state := task_state(airflow, run_id, task_id)) != wanted:
        airflow.check_alive()
        assert state not in ("failed", "upstream_failed", "success"), f"{task_id} is {state}, not {wanted}"
        assert time.monotonic() < deadline, f"{task_id} still {state} after {timeout:.0f} s"
        time.sleep(0.5)


def test_the_triggerer_wakes_the_sensor_on_reports_without_a_vendor_status_call(
    deployment: AirflowDeployment, frozen_sandbox: Sandbox,
) -> None:
    sandbox = frozen_sandbox
    sandbox.configure_reports(f"{deployment.url}/mensatek/reports", user=USER, password=PASSWORD, timeout=60)
    run_id = deployment.trigger_api(DAG_ID)
    wait_for_state(deployment, run_id, "wait", "deferred")

    deadline = time.monotonic() + 180
    while (run := deployment.dag_run(DAG_ID, run_id)).state not in ("success", "failed"):
        assert time.monotonic() < deadline, run.task_states
        sandbox.clock.advance(60)  # one status step; its reports are pushed and stored
        sandbox.reports.flush()
        time.sleep(0.5)

    assert run.state == "success", deployment.explain(run)
    (send,) = sandbox.requests_to("EnviarEMAILCERTIFICADO")
    reference = f"{DAG_ID}.send.{run_id}"
    assert send.param("Report") == "1" and send.param("Referenciausuario") == reference
    assert sandbox.requests_to("GetReportEMAILCERTIFICADO") == []
    result = deployment.xcom(DAG_ID, run_id, "wait")
    assert len(result["reached"]) == 2
    assert {r["source"] for r in result["reports"].values()} == {"webhook"}
    pushed = [a for a in sandbox.reports.attempts if a["outcome"] == "delivered"]
    assert pushed and {a["payload"]["Referencia"] for a in pushed} == {reference}  # ties each report to the run
    inbox = Inbox(deployment.database_url)
    try:
        stored = inbox.reports("channel = :c", c="certified_email")
        assert inbox.dedupe_keys() >= {dedupe_key_of(a["payload"]) for a in pushed}
    finally:
        inbox.close()
    message_ids = {str(m) for m in deployment.xcom(DAG_ID, run_id, "send")["message_ids"]}
    assert {row["message_id"] for row in stored} == message_ids
    assert {row["reference"] for row in stored} == {reference}
    assert any(row["advanced"] for row in stored)
    log = deployment.task_log(DAG_ID, run_id, "wait")
    assert "Listening to Mensatek's reports" in log
