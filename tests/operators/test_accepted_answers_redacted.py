"""An accepted answer that echoes the credential: the operator's XCom, task state and log hold no form of it.

Error answers were already redacted; these are 200 answers the send succeeds
with, whose text fields (Mensatek's recipient echo and extra fields,
LegallyMail's ``message``, a status, a tracking id) quote the request's
credential. The sandbox processes the send, then answers that text; the check
is the oracle of ``tests.clients.test_secrets``, not the provider's own forms.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_mensatek.operators.certified_email import MensatekSendCertifiedEmailOperator
from airflow_provider_mensatek.operators.legallymail import LegallyMailSendCertifiedEmailOperator
from airflow_provider_mensatek.sandbox import Clock, Fault, Sandbox
from tests.clients.test_secrets import TOKEN, USER, b64, echo_forms, leaks
from tests.operator_support import FakeTaskStateStore, context

#: Every form a Mensatek echo may take: raw, ``Basic base64(user:token)``, URL- and JSON-escaped, a body dump.
MENSATEK_ECHO = "\n".join(echo_forms(USER, TOKEN).values())
LEGALLYMAIL_ECHO = "\n".join(echo_forms(None, TOKEN).values())


@pytest.fixture
def own(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    """A sandbox whose credentials hold the characters every encoding treats differently."""
    with Sandbox(clock=Clock(speed=0.0), mensatek_user=USER, mensatek_token=TOKEN, legallymail_token=TOKEN) as box:
        monkeypatch.setenv("AIRFLOW_CONN_MENSATEK_DEFAULT", json.dumps({
            "conn_type": "mensatek", "login": USER, "password": TOKEN, "host": box.mensatek_url,
            "extra": {"max_retries": 1}}))
        monkeypatch.setenv("AIRFLOW_CONN_LEGALLYMAIL_DEFAULT", json.dumps({
            "conn_type": "legallymail", "password": TOKEN, "host": box.legallymail_url,
            "extra": {"max_retries": 1}}))
        yield box


def assert_clean(*texts: str) -> None:
    for text in texts:
        assert not leaks(text), (leaks(text), text)


def test_a_mensatek_accepted_answer_echoing_the_credential_reaches_no_xcom_nor_log(
        own: Sandbox, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    echo = [{"Nombre": f"Ana {TOKEN}", "Email": "ana@example.com", "IdMensaje": "777"}]
    own.inject("EnviarEMAILCERTIFICADO", Fault("garble_after_accept", status=200, body=json.dumps([{
        "Res": "1", "Enviados": "1", "NoEnviados": "0", "Duplicados": "0", "CreditosUsados": "1", "Cred": "99",
        "Destinatarios": json.dumps(echo), "Mensaje": MENSATEK_ECHO,
        f"Debug {TOKEN}": f"Authorization: Basic {b64(f'{USER}:{TOKEN}')}",
    }])))
    store = FakeTaskStateStore()

    xcom = MensatekSendCertifiedEmailOperator(
        task_id="enviar", sender="avisos@example.com", recipients=[{"name": "Ana", "email": "ana@example.com"}],
        subject="Aviso", message="Texto", reference="r-1").execute(context(store))

    (request,) = own.requests
    assert request.basic_auth == (USER, TOKEN)  # the credential really travelled, and came back in the answer
    assert [m.email for m in own.mensatek.certified.values()] == ["ana@example.com"]
    assert (xcom["sent"], xcom["message_ids"]) == (1, [777])
    assert xcom["recipients"] == [{"email": "ana@example.com", "name": "Ana ***", "message_id": 777}]
    out = capsys.readouterr()
    assert_clean(json.dumps(xcom), json.dumps(store.data), caplog.text, out.out, out.err)


def test_a_legallymail_accepted_answer_echoing_the_token_reaches_no_xcom_nor_log(
        own: Sandbox, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    own.inject("/api/send", Fault("garble_after_accept", status=200, body=json.dumps({
        "success": True, "message": f"Email sent. {LEGALLYMAIL_ECHO}",
        "data": {"tracking_id": f"T-{TOKEN}", "subject": "Aviso", "sent_at": "2026-11-24 10:00:00",
                 "success_count": 1, "fail_count": 0, "error_status": f"Bearer {TOKEN}",
                 "recipients": [{"email": "ana@example.com", "status": f"sent with {b64(TOKEN)}",
                                 "tracking_id": f"T-{TOKEN}"}]},
    })))
    store = FakeTaskStateStore()

    xcom: dict[str, Any] = LegallyMailSendCertifiedEmailOperator(
        task_id="enviar", recipients=["ana@example.com"], subject="Aviso", message="<p>Texto</p>").execute(
        context(store))

    (request,) = own.requests
    assert request.bearer_token == TOKEN
    assert request.params["recipient"] == "ana@example.com"
    assert xcom["success_count"] == 1 and xcom["message"].startswith("Email sent. ")
    assert xcom["tracking_id"] == "T-***" and xcom["recipients"][0]["email"] == "ana@example.com"
    out = capsys.readouterr()
    assert_clean(json.dumps(xcom), json.dumps(store.data), caplog.text, out.out, out.err)
