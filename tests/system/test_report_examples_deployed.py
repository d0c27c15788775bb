"""The event-driven examples in a real deployment: the sandbox pushes reports to the api-server's receiver.

``mensatek_archive_on_certified`` and ``mensatek_sms_replies`` have no sensor: they
run on the report Assets. Here the sandbox (its clock at 60x, one status step per
real second) pushes its reports, as the vendor panel would, to
``/mensatek/reports`` of the session's deployment (``airflow_deployment``, whose
receiver connection has ``personal_data`` on); the receiver stores them and emits the
Asset events; the scheduler starts the consumers; the test reads what they wrote.
"""

from __future__ import annotations

import getpass
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import pytest

from airflow_provider_mensatek.clients import MensatekClient
from airflow_provider_mensatek.sandbox import Sandbox
from airflow_provider_mensatek.sandbox.deployment import AirflowDeployment
from tests.airflow_versions import needs_airflow
from tests.system.conftest import REPORTS_PASSWORD, REPORTS_USER

pytestmark = [pytest.mark.deployment, pytest.mark.system,
              needs_airflow((3, 3), "Asset state stores, where the receiver keeps reports")]

ARCHIVE_DAG = "mensatek_archive_on_certified"
REPLIES_DAG = "mensatek_sms_replies"
T = TypeVar("T")


def wait_until(check: Callable[[], T | None], what: str, timeout: float = 180.0) -> T:
    """Poll ``check`` every second until it returns something truthy (a bound on a wait, not a timing assert)."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:.0f} s for {what}")
        time.sleep(1.0)


def example_files(deployment: AirflowDeployment) -> Path:
    """The examples' default folder as the deployment's processes compute it (their TMPDIR)."""
    return deployment.tmp_dir / f"mensatek-examples-{getpass.getuser()}"


@pytest.fixture(scope="module")
def pushing(airflow_deployment: AirflowDeployment, deployed_sandbox: Sandbox) -> Iterator[Sandbox]:
    """The sandbox pushing certified-email and received-SMS reports to the deployment's receiver."""
    airflow_deployment.wait_for_dags([ARCHIVE_DAG, REPLIES_DAG])
    deployed_sandbox.configure_reports(f"{airflow_deployment.url}/mensatek/reports", user=REPORTS_USER,
                                       password=REPORTS_PASSWORD, services=["EMAILCERTIFICADO", "SMSRECIBIDO"])
    yield deployed_sandbox
    deployed_sandbox.reports.disable()


@pytest.fixture(scope="module")
def client(deployed_sandbox: Sandbox) -> Iterator[MensatekClient]:
    with MensatekClient(deployed_sandbox.mensatek_user, deployed_sandbox.mensatek_token,
                        base_url=deployed_sandbox.mensatek_url) as mensatek:
        yield mensatek


def finished_runs(deployment: AirflowDeployment, dag_id: str) -> list[dict[str, Any]]:
    """The DAG's asset-triggered runs that are over, each with its task states and ``partition_key``."""
    runs = deployment.api("GET", f"dags/{quote(dag_id, safe='')}/dagRuns", params={"limit": 100})["dag_runs"]
    done = []
    for run in runs:
        if run["run_type"] != "asset_triggered" or run["state"] not in ("success", "failed"):
            continue
        done.append({**run, "tasks": deployment.dag_run(dag_id, run["dag_run_id"]).task_states})
    return done


def test_a_certified_report_archives_the_certificate_with_no_status_query(
    pushing: Sandbox, client: MensatekClient, airflow_deployment: AirflowDeployment
) -> None:
    sent = client.send_certified_email("avisos@example.com", ["ana.garcia@example.com"], "Aviso",
                                       "Le notificamos el aviso.")
    (message_id,) = [str(m) for m in sent.message_ids]

    def archived() -> dict[str, Any] | None:
        runs = [r for r in finished_runs(airflow_deployment, ARCHIVE_DAG) if r["partition_key"] == message_id]
        return next((r for r in runs if r["tasks"].get("archive_certificates") == "success"), None)

    run = wait_until(archived, f"a run of {ARCHIVE_DAG} that archives message {message_id}")
    assert run["state"] == "success" and run["logical_date"] is None, airflow_deployment.explain(
        airflow_deployment.dag_run(ARCHIVE_DAG, run["dag_run_id"]))
    assert run["tasks"]["verify_archive"] == "success"
    manifest = example_files(airflow_deployment) / "lake" / "mensatek" / "certified_email" / message_id \
        / "manifest.json"
    assert json.loads(manifest.read_text())["files"], manifest
    # Runs for the statuses before "certified" (pending, sent) skip the archive; none fails.
    runs = [r for r in finished_runs(airflow_deployment, ARCHIVE_DAG) if r["partition_key"] == message_id]
    assert all(r["state"] == "success" for r in runs)
    assert any(r["tasks"]["archive_certificates"] == "skipped" for r in runs) or len(runs) == 1
    # Event-driven: the message's status was never asked; its certificate was downloaded.
    assert not [r for r in pushing.requests_to("GetReportEMAILCERTIFICADO")
                if str(r.param("Idmensaje")) == message_id]
    assert [r for r in pushing.requests_to("GetCertificadoEMAILCERTIFICADO") if str(r.param("Idmensaje")) == message_id]
    assert {a["outcome"] for a in pushing.reports.attempts if a["message_id"] == message_id} == {"delivered"}


def test_sms_replies_are_recorded_once_each_whatever_the_runs_they_land_in(
    pushing: Sandbox, client: MensatekClient, airflow_deployment: AirflowDeployment
) -> None:
    sms = client.send_sms("MIEMPRESA", [{"Movil": "34600000101"}, {"Movil": "34600000102"}],
                          "¿Confirma su cita de mañana? Responda SI o NO")
    sms_id = str(sms.message_id)
    pushing.reports.inject_inbound_sms("Si, allí estaré", reply_to=sms_id, sender="34600000101")
    pushing.reports.inject_inbound_sms("NO", reply_to=sms_id, sender="34600000102")
    pushing.reports.inject_inbound_sms("BAJA", sender="34600000199")

    def recorded() -> list[dict[str, Any]] | None:
        runs = finished_runs(airflow_deployment, REPLIES_DAG)
        replies = [reply for run in runs if run["state"] == "success"
                   for reply in airflow_deployment.xcom(REPLIES_DAG, run["dag_run_id"], "record_replies")["replies"]]
        return replies if len(replies) >= 3 else None

    replies = wait_until(recorded, "three replies recorded")
    assert sorted(r["answer"] for r in replies) == ["confirmed", "declined", "opt-out"]
    assert len({r["report_id"] for r in replies}) == 3  # each reply once, in whichever run it landed
    files = {int(p.stem): json.loads(p.read_text()) for p in (example_files(airflow_deployment) / "sms-replies")
             .glob("*.json")}
    by_answer = {files[r["report_id"]]["answer"]: files[r["report_id"]] for r in replies}
    assert by_answer["confirmed"]["answers_message_id"] == sms_id
    assert by_answer["confirmed"]["sender"] == "34600000101"
    assert by_answer["declined"]["answers_message_id"] == sms_id
    assert by_answer["opt-out"]["answers_message_id"] is None and by_answer["opt-out"]["sender"] == "34600000199"
    runs = finished_runs(airflow_deployment, REPLIES_DAG)
    keys = {run["partition_key"] for run in runs}
    assert sms_id in keys and f"report:{by_answer['opt-out']['report_id']}" in keys
    assert all(run["state"] == "success" for run in runs)


@pytest.mark.parametrize("dag_id", [ARCHIVE_DAG, REPLIES_DAG])
def test_triggered_by_hand_without_a_logical_date_the_run_has_no_events_and_does_nothing(
    dag_id: str, pushing: Sandbox, airflow_deployment: AirflowDeployment
) -> None:
    trigger = airflow_deployment.trigger_cli if dag_id == REPLIES_DAG else airflow_deployment.trigger_api
    run = airflow_deployment.wait_for_run(dag_id, trigger(dag_id, None))
    assert run.state == "success" and run.logical_date is None, airflow_deployment.explain(run)
    if dag_id == ARCHIVE_DAG:
        assert run.task_states == {"certified": "success", "archive_certificates": "skipped",
                                   "verify_archive": "skipped"}
    else:
        assert airflow_deployment.xcom(dag_id, run.run_id, "record_replies") == {"partition_key": None,
                                                                                 "replies": []}
