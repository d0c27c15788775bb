"""SMS, email, RCS and file-library operators: one client call each, JSON XCom, errors mapped."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_mensatek.clients.validation import now_madrid
from airflow_provider_mensatek.operators.email import MensatekSendEmailOperator
from airflow_provider_mensatek.operators.files import MensatekUploadFileOperator
from airflow_provider_mensatek.operators.rcs import MensatekSendRcsOperator
from airflow_provider_mensatek.operators.sms import (
    MensatekCancelSmsOperator,
    MensatekRescheduleSmsOperator,
    MensatekSendSmsOperator,
)
from airflow_provider_mensatek.sandbox import Sandbox
from tests.conftest import MENSATEK_TOKEN
from tests.operator_support import FakeTaskStateStore, context

PDF = b"%PDF-1.4 test\n%%EOF\n"


def sms_op(**overrides: Any) -> MensatekSendSmsOperator:
    args: dict[str, Any] = {"task_id": "enviar", "sender": "MIEMPRESA",
                            "recipients": [{"Movil": "34600000001", "Variable_1": "Ana"}], "message": "Hola"}
    args.update(overrides)
    return MensatekSendSmsOperator(**args)


def test_send_sms_returns_json_xcom_with_the_message_id(conn: Sandbox) -> None:
    result = sms_op(max_segments=1).execute(context(FakeTaskStateStore()))
    assert json.loads(json.dumps(result)) == result
    assert result["accepted"] == 1 and result["message_id"]
    assert (result["encoding"], result["segments"], result["reference"]) == (
        "GSM", 1, "avisos.enviar.manual__2026-11-24")
    (req,) = conn.requests
    assert req.param("Referenciausuario") == "avisos.enviar.manual__2026-11-24"
    assert json.loads(req.param("Destinatarios")) == [{"Movil": "34600000001", "Variable_1": "Ana"}]
    assert MENSATEK_TOKEN not in json.dumps(result)


def test_a_retry_after_an_accepted_sms_does_not_send_again(conn: Sandbox) -> None:
    store = FakeTaskStateStore()
    first = sms_op().execute(context(store))
    again = sms_op().execute(context(store))
    assert again == first
    assert len(conn.requests_to("EnviarSMS")) == 1


def test_sms_above_max_segments_fails_without_a_request(conn: Sandbox) -> None:
    with pytest.raises(AirflowFailException, match="2 SMS part"):
        sms_op(message="a" * 200, max_segments=1).execute(context(FakeTaskStateStore()))
    assert len(conn.requests) == 0


def test_cancel_and_reschedule_take_the_send_xcom(conn: Sandbox) -> None:
    later = (now_madrid() + timedelta(days=1)).replace(second=0, microsecond=0)
    sent = sms_op(send_at=later.isoformat()).execute(context(FakeTaskStateStore()))
    moved = MensatekRescheduleSmsOperator(task_id="mover", message_id=str(sent["message_id"]),
                                          send_at=(later + timedelta(hours=1)).isoformat()).execute(context(None))
    assert moved[0]["send_at"] == (later + timedelta(hours=1)).strftime("%Y-%m-%d %H:%M")
    cancelled = MensatekCancelSmsOperator(task_id="cancelar", message_id=[sent["message_id"]]).execute(
        context(None))
    assert cancelled[0]["credits_recovered"] == 1
    assert conn.requests_to("CancelarSMS")[0].param("Idmensaje") == sent["message_id"]
    with pytest.raises(AirflowFailException, match="not in the future"):
        MensatekRescheduleSmsOperator(task_id="mover", message_id=1, send_at="2020-01-01T10:00:00+01:00"
                                      ).execute(context(None))


def test_send_email_with_a_template(conn: Sandbox) -> None:
    result = MensatekSendEmailOperator(
        task_id="email", sender_email="info@empresa.example",
        recipients=[{"email": "ana@cliente.example", "name": "Ana", "variables": {"Motivo": "tu cita"}}],
        subject="Hola ###Nombre###", template_id="1234567", forbidden_interval={"start": "22:00", "end": "8:00"},
    ).execute(context(FakeTaskStateStore()))
    assert json.loads(json.dumps(result)) == result
    assert result["sent"][0]["address"] == "ana@cliente.example" and result["message_ids"]
    req = conn.requests_to("EnviarEMAIL")[0]
    assert req.param("Plantilla") == "1234567"
    assert json.loads(req.param("Intervaloprohibido")) == [{"HoraInicio": "22:00", "HoraFin": "8:00",
                                                            "Accion": "1"}]


def test_email_with_both_html_and_template_fails_without_a_request(conn: Sandbox) -> None:
    op = MensatekSendEmailOperator(task_id="email", sender_email="info@empresa.example",
                                   recipients="ana@cliente.example", subject="Hola", html="<p>x</p>",
                                   template_id=1234567)
    with pytest.raises(AirflowFailException, match="exactly one of html"):
        op.execute(context(FakeTaskStateStore()))
    assert len(conn.requests) == 0


def test_rcs_operator_names_missing_variables_and_does_not_send(conn: Sandbox) -> None:
    store = FakeTaskStateStore()
    op = MensatekSendRcsOperator(task_id="rcs", template_id="1234567",
                                 recipients=[{"Telefono": "34600000001", "variables": {"Destinatario": "Ana"}}])
    with pytest.raises(AirflowFailException, match=r"recipient #1 \(34600000001\) lacks Importe"):
        op.execute(context(store))
    assert [r.function for r in conn.requests] == ["GetVariablesPlantillaRCS"]
    assert store.data == {}  # nothing was sent: a retry may send


def test_rcs_operator_sends(conn: Sandbox) -> None:
    result = MensatekSendRcsOperator(
        task_id="rcs", template_id="1234567", agent="sandbox-agent",
        recipients=[{"Nombre": "Ana", "Telefono": "34600000001", "variables": {"Importe": "10 €"}}],
    ).execute(context(FakeTaskStateStore()))
    assert result["sent"][0]["address"] == "34600000001" and len(result["message_ids"]) == 1


def test_upload_file_operator(conn: Sandbox, tmp_path) -> None:
    path = tmp_path / "factura.pdf"
    path.write_bytes(PDF)
    result = MensatekUploadFileOperator(task_id="subir", source=str(path)).execute(context(None))
    assert result == {"name": "factura.pdf", "mode": "FILES", "size": len(PDF), "auto_delete": False,
                      "credits_left": 1000.0}
    with pytest.raises(AirflowFailException, match="up to 15 letters"):
        MensatekUploadFileOperator(task_id="subir", source=str(path), name="factura-2024.pdf"
                                   ).execute(context(None))
    assert len(conn.requests) == 1


def test_sms_operator_refuses_a_national_number_unless_given_a_default_country(conn: Sandbox) -> None:
    with pytest.raises(AirflowFailException, match="may lack its country code"):
        sms_op(recipients=["600000001"]).execute(context(FakeTaskStateStore()))
    assert conn.requests == []
    sms_op(recipients=["600000001"], default_country_code="34").execute(context(FakeTaskStateStore()))
    assert json.loads(conn.requests_to("EnviarSMS")[0].param("Destinatarios")) == [{"Movil": "34600000001"}]


def test_sms_operator_without_a_sender_uses_the_accounts_default(conn: Sandbox) -> None:
    args: dict[str, Any] = {"task_id": "enviar", "recipients": ["34600000001"], "message": "Hola"}
    MensatekSendSmsOperator(**args).execute(context(FakeTaskStateStore()))
    assert conn.requests_to("EnviarSMS")[0].params["Remitente"] == ""


def test_rcs_operator_takes_a_default_country(conn: Sandbox) -> None:
    recipients = [{"Telefono": "600000001", "variables": {"Destinatario": "Ana", "Importe": "1"}}]
    with pytest.raises(AirflowFailException, match="may lack its country code"):
        MensatekSendRcsOperator(task_id="rcs", template_id="1234567",
                                recipients=recipients).execute(context(FakeTaskStateStore()))
    assert conn.requests == []
    MensatekSendRcsOperator(task_id="rcs", template_id="1234567", recipients=recipients,
                            default_country_code="34").execute(context(FakeTaskStateStore()))
    sent = json.loads(conn.requests_to("EnviarRCS")[0].param("Destinatarios"))
    assert sent[0]["Telefono"] == "34600000001"
