"""The SMS / email / RCS example DAG, end to end with dag.test() against the sandbox."""

from __future__ import annotations

import json
import re

from airflow_provider_mensatek.sandbox import Sandbox
from tests.conftest import MENSATEK_TOKEN, MENSATEK_USER

DAG_FILE = "example_dags/sms_and_email.py"


def test_example_dag_uploads_texts_emails_and_sends_rcs(run_dag, sandbox: Sandbox) -> None:
    result = run_dag(DAG_FILE)

    assert result.state == "success", result.task_states
    assert set(result.task_states.values()) == {"success"}

    (upload,) = sandbox.requests_to("CargarFichero")
    assert upload.param("Tipo") == "FILES"
    name = result.xcoms["upload_invoice"]["name"]
    assert upload.param("Nombre") == name and name in sandbox.mensatek.stores["files"]

    (sms,) = sandbox.requests_to("EnviarSMS")
    assert sms.basic_auth == (MENSATEK_USER, MENSATEK_TOKEN)
    # The Mensatek placeholder intact, the Airflow macro rendered.
    assert re.fullmatch(r"Hola \{\{Variable_1\}\}, su factura del \d{4}-\d{2}-\d{2}: \(SMSFILE:"
                        + re.escape(name) + r"\)", sms.param("Mensaje"))
    assert json.loads(sms.param("Destinatarios")) == [{"Movil": "34600000001", "Variable_1": "Ana"}]
    assert result.xcoms["send_sms"]["segments"] == 1

    (email,) = sandbox.requests_to("EnviarEMAIL")
    assert email.param("Plantilla") == "1234567" and email.param("Mensaje") is None
    assert json.loads(email.param("Destinatarios"))[0]["Variables"] == [
        {"Nombre": "Motivo", "Valor": "su factura ya está disponible"}]
    assert result.xcoms["send_email"]["message_ids"]

    assert [r.function for r in sandbox.requests if "RCS" in r.function] == [
        "GetVariablesPlantillaRCS", "EnviarRCS"]
    assert result.xcoms["send_rcs"]["sent"][0]["address"] == "34600000001"
    assert MENSATEK_TOKEN not in json.dumps(result.xcoms)


def test_a_failed_task_texts_the_on_call_phone(run_dag, sandbox: Sandbox) -> None:
    result = run_dag(DAG_FILE, run_conf={"phones": ["600"]})

    assert result.task_states["send_sms"] == "failed"
    notifications = [r for r in sandbox.requests_to("EnviarSMS")
                     if json.loads(r.param("Destinatarios")) == [{"Movil": "34600000999"}]]
    assert len(notifications) == 1, [r.params for r in sandbox.requests_to("EnviarSMS")]
    text = notifications[0].param("Mensaje")
    assert text.startswith(f"Airflow mensatek_sms_and_email.send_sms task_failure run {result.run_id} http")
    assert len(text) == 160 and text.endswith("...")  # the log URL cut to one SMS part
