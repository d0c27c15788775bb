"""Every example DAG triggered as users trigger it, in a real Airflow deployment: no logical date.

``airflow dags trigger <dag_id>`` (most) and ``POST /api/v2/dags/{dag_id}/dagRuns`` with
``logical_date: null`` (what the UI does) against api-server, scheduler (LocalExecutor),
dag-processor and triggerer running as separate processes, each task in its own process, against
a sandbox whose clock runs 60x. The sensors get a fast ``poll_policy`` through the run conf (a conf
does not give the run a logical date); everything else runs on the examples' defaults, including
their files under ``tempfile.gettempdir()`` (the deployment's own TMPDIR).
"""

from __future__ import annotations

import base64
import getpass
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_mensatek.sandbox import RecordedRequest, Sandbox
from airflow_provider_mensatek.sandbox.deployment import AirflowDeployment, DagRun

pytestmark = [pytest.mark.deployment, pytest.mark.system]

#: 30 s before a sensor's first check and between checks (the sandbox moves a status step per real
#: second, so one check finds the target). Not less: Airflow 3.3.2's scheduler fails a sensor that
#: is queued again (its reschedule date came, or its trigger fired) before the scheduler processed the
#: executor's event for the previous run of the task ("finished with state success, but the task
#: instance's state attribute is queued"); that took up to 7 s on a loaded 2-core machine.
SENSOR_POLICY = {"initial_delay": 30, "min_interval": 30, "max_interval": 60, "initial_spread": 0, "jitter": 0}

# dag_id -> (how it is triggered, run conf)
EXAMPLES: dict[str, tuple[str, dict[str, Any] | None]] = {
    "mensatek_certified_email_scheduled": ("cli", None),
    "mensatek_certify_and_archive": ("api", {"poll_policy": SENSOR_POLICY}),
    "certify_and_wait": ("cli", {"poll_policy": SENSOR_POLICY}),
    "legallymail_signature": ("cli", None),
    "mensatek_scheduled_campaign": ("cli", None),
    "mensatek_sms_and_email": ("api", None),
}


@pytest.fixture(scope="module")
def runs(airflow_deployment: AirflowDeployment) -> dict[str, DagRun]:
    """Trigger every example at once and wait for all of them (they run side by side)."""
    airflow_deployment.wait_for_dags(EXAMPLES)
    started = {}
    for dag_id, (how, conf) in EXAMPLES.items():
        trigger = airflow_deployment.trigger_cli if how == "cli" else airflow_deployment.trigger_api
        started[dag_id] = trigger(dag_id, conf)
    return {dag_id: airflow_deployment.wait_for_run(dag_id, run_id, timeout=150)
            for dag_id, run_id in started.items()}


def day_of(run: DagRun) -> str:
    """The day the run was asked for (what ``{{ dag_run.run_after | ds }}`` renders)."""
    assert run.run_after is not None
    return datetime.fromisoformat(run.run_after.replace("Z", "+00:00")).strftime("%Y-%m-%d")


def example_files(airflow_deployment: AirflowDeployment) -> Path:
    """The examples' default folder as the deployment's processes compute it (their TMPDIR)."""
    return airflow_deployment.tmp_dir / f"mensatek-examples-{getpass.getuser()}"


def mensatek_sent(sandbox: Sandbox, function: str, run: DagRun) -> list[RecordedRequest]:
    """This run's requests to a Mensatek function (the default reference is <dag>.<task>.<run_id>)."""
    return [r for r in sandbox.requests_to(function)
            if str(r.param("Referenciausuario", "")).startswith(f"{run.dag_id}.")
            and str(r.param("Referenciausuario")).endswith(f".{run.run_id}")]


def legallymail_sent(sandbox: Sandbox, path: str, matches: Callable[[RecordedRequest], bool]) -> RecordedRequest:
    (request,) = [r for r in sandbox.requests if r.path.endswith(path) and matches(r)]
    return request


@pytest.mark.parametrize("dag_id", sorted(EXAMPLES))
def test_each_example_succeeds_without_a_logical_date(dag_id: str, runs: dict[str, DagRun],
                                                      airflow_deployment: AirflowDeployment) -> None:
    run = runs[dag_id]
    assert run.state == "success", airflow_deployment.explain(run)
    assert set(run.task_states.values()) == {"success"}, airflow_deployment.explain(run)
    assert run.logical_date is None and run.run_after is not None
    assert run.conf == (EXAMPLES[dag_id][1] or {})


def test_certified_email_subjects_name_the_run_day(runs: dict[str, DagRun], deployed_sandbox: Sandbox,
                                                   airflow_deployment: AirflowDeployment) -> None:
    run = runs["mensatek_certified_email_scheduled"]
    sends = mensatek_sent(deployed_sandbox, "EnviarEMAILCERTIFICADO", run)
    assert len(sends) == 2  # scheduled, and sent now
    for send in sends:
        assert send.param("Asunto") == f"Aviso para {{{{Nombre}}}} ({day_of(run)})"
        assert f"(aviso generado el {day_of(run)})" in send.param("Mensaje")
        assert "None" not in send.param("Asunto") + send.param("Mensaje")
    (scheduled,) = [s for s in sends if s.param("Fecha")]
    (scheduled_id,) = airflow_deployment.xcom(run.dag_id, run.run_id, "schedule_notice")["message_ids"]
    (moved,) = [r for r in deployed_sandbox.requests_to("ReprogramarEMAILCERTIFICADO")
                if str(r.param("Idmensaje")) == str(scheduled_id)]
    assert moved.param("Fecha") != scheduled.param("Fecha")
    assert [str(r.param("Idmensaje")) for r in deployed_sandbox.requests_to("CancelarEMAILCERTIFICADO")] == [
        str(scheduled_id)]


def test_certify_and_archive_waits_in_the_triggerer_and_archives_to_the_per_user_folder(
    runs: dict[str, DagRun], deployed_sandbox: Sandbox, airflow_deployment: AirflowDeployment
) -> None:
    run = runs["mensatek_certify_and_archive"]
    (send,) = mensatek_sent(deployed_sandbox, "EnviarEMAILCERTIFICADO", run)
    assert send.param("Asunto") == f"Notificación para {{{{Nombre}}}} ({day_of(run)})"
    (message_id,) = airflow_deployment.xcom(run.dag_id, run.run_id, "send_notice")["message_ids"]
    assert any(str(r.param("Idmensaje")) == str(message_id)
               for r in deployed_sandbox.requests_to("GetReportEMAILCERTIFICADO"))
    manifest = example_files(airflow_deployment) / "lake" / "mensatek" / "certified_email" / str(message_id) \
        / "manifest.json"
    assert json.loads(manifest.read_text())["files"], manifest


def test_certify_and_wait_names_the_run_day_in_the_notice_and_the_contract(
    runs: dict[str, DagRun], deployed_sandbox: Sandbox, airflow_deployment: AirflowDeployment
) -> None:
    run = runs["certify_and_wait"]
    day = day_of(run)
    (send,) = mensatek_sent(deployed_sandbox, "EnviarEMAILCERTIFICADO", run)
    assert send.param("Asunto") == f"Notificación fehaciente ({day})"
    contract = example_files(airflow_deployment) / "certify-and-wait" / f"contract-{day}.pdf"
    sign = legallymail_sent(deployed_sandbox, "/signature/send",
                            lambda r: base64.b64decode(r.params["document"]) == contract.read_bytes())
    assert sign.params["document_name"] == f"Contract {day}.pdf"
    signed = airflow_deployment.xcom(run.dag_id, run.run_id, "wait_signed")
    assert signed["reports"][signed["reached"][0]]["status"] == "signed"


def test_legallymail_signature_names_the_run_day(runs: dict[str, DagRun], deployed_sandbox: Sandbox,
                                                 airflow_deployment: AirflowDeployment) -> None:
    run = runs["legallymail_signature"]
    day = day_of(run)
    contract = example_files(airflow_deployment) / "legallymail" / f"contract-{day}.pdf"
    sign = legallymail_sent(deployed_sandbox, "/signature/send",
                            lambda r: base64.b64decode(r.params["document"]) == contract.read_bytes())
    assert sign.params["document_name"] == f"Contract {day}.pdf"
    mail = legallymail_sent(deployed_sandbox, "/api/send", lambda r: r.params["subject"].startswith("Contract "))
    assert mail.params["subject"] == f"Contract {day}: your signature is requested"
    assert f"the contract of {day} for signature" in mail.params["message"]


def test_the_campaign_is_read_from_the_per_user_lake_and_names_the_run_day(
    runs: dict[str, DagRun], deployed_sandbox: Sandbox, airflow_deployment: AirflowDeployment
) -> None:
    run = runs["mensatek_scheduled_campaign"]
    sends = [r for r in deployed_sandbox.requests_to("EnviarEMAILCERTIFICADO")
             if str(r.param("Referenciausuario", "")).startswith("renovaciones-2026-11-")]
    assert len(sends) == 3  # 5 valid recipients in batches of 2
    for send in sends:
        assert f"(aviso del {day_of(run)})" in send.param("Mensaje") and send.param("Fecha")
    campaign = example_files(airflow_deployment) / "lake" / "campaigns" / "renovaciones-2026-11"
    assert json.loads((campaign / "summary.json").read_text())["sent"] == 5


def test_sms_and_email_triggered_like_the_ui_names_the_run_day(runs: dict[str, DagRun], deployed_sandbox: Sandbox,
                                                               airflow_deployment: AirflowDeployment) -> None:
    run = runs["mensatek_sms_and_email"]
    day = day_of(run)
    (sms,) = mensatek_sent(deployed_sandbox, "EnviarSMS", run)
    assert sms.param("Mensaje") == (f"Hola {{{{Variable_1}}}}, su factura del {day}: "
                                    f"(SMSFILE:factura{day.replace('-', '')}.pdf)")
    assert (example_files(airflow_deployment) / "invoices" / f"factura{day.replace('-', '')}.pdf").is_file()
    assert len(mensatek_sent(deployed_sandbox, "EnviarEMAIL", run)) == 1
    assert len(mensatek_sent(deployed_sandbox, "EnviarRCS", run)) == 1
