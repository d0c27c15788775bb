"""Input that can never be sent fails as validation, before anything leaves: never "may have been sent".

``extra_params`` that are not plain JSON (a datetime, NaN) or that override a
parameter the call sets itself, and connection extras that are not positive
finite numbers, used to fail inside the send (after the "in flight" marker)
and block every later try as a possible double send. Each case here: a clear
error that Airflow does not retry, nothing received by the sandbox, and the
corrected next try of the same task instance sends.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_mensatek.clients import MensatekClient
from airflow_provider_mensatek.clients._http.transport import SEND, send_attempts_started
from airflow_provider_mensatek.clients.errors import ValidationError
from airflow_provider_mensatek.operators._base import SEND_STATE_KEY
from airflow_provider_mensatek.operators.certified_email import MensatekSendCertifiedEmailOperator
from airflow_provider_mensatek.operators.email import MensatekSendEmailOperator
from airflow_provider_mensatek.operators.rcs import MensatekSendRcsOperator
from airflow_provider_mensatek.operators.sms import MensatekSendSmsOperator
from airflow_provider_mensatek.sandbox import Sandbox
from tests.conftest import MENSATEK_TOKEN, MENSATEK_USER
from tests.operator_support import FakeTaskStateStore, context


def send_op(**overrides: Any) -> MensatekSendCertifiedEmailOperator:
    args: dict[str, Any] = {"task_id": "enviar", "sender": "avisos@example.com",
                            "recipients": [{"name": "Ana", "email": "ana@example.com"}],
                            "subject": "Aviso para {{Nombre}}", "message": "Texto"}
    args.update(overrides)
    return MensatekSendCertifiedEmailOperator(**args)


BAD_EXTRA_PARAMS = {
    "a datetime": ({"Tracking": datetime(2026, 1, 1, tzinfo=timezone.utc)}, "not plain JSON"),
    "NaN": ({"Peso": math.nan}, "not plain JSON"),
    "infinity inside a list": ({"Pesos": [1, math.inf]}, "not plain JSON"),
    "a set": ({"Tags": {"a"}}, "not plain JSON"),
    "the send date": ({"Fecha": "2020-01-01 00:00"}, "would override"),
    "the reference, lower-case": ({"referenciausuario": "other"}, "would override"),
    "the answer format": ({"RESP": "XML"}, "would override"),
}


@pytest.mark.parametrize("bad", BAD_EXTRA_PARAMS.values(), ids=BAD_EXTRA_PARAMS.keys())
def test_bad_extra_params_fail_clearly_and_a_corrected_try_sends(conn: Sandbox, bad: tuple[dict, str]) -> None:
    extra, message = bad
    store = FakeTaskStateStore()
    with pytest.raises(AirflowFailException, match=message) as info:  # AirflowFailException: never retried
        send_op(extra_params=extra).execute(context(store))
    assert "extra_params" in str(info.value) and "may have" not in str(info.value)
    assert conn.requests == [] and store.data == {}

    result = send_op(extra_params={"Tracking": "2026-01-01"}).execute(context(store))  # the corrected try

    assert result["sent"] == 1 and store.data[SEND_STATE_KEY]["state"] == "accepted"
    (request,) = conn.requests
    assert request.param("Tracking") == "2026-01-01"


def test_an_sms_with_nan_extra_params_fails_the_same_way(conn: Sandbox) -> None:
    store = FakeTaskStateStore()
    op = MensatekSendSmsOperator(task_id="sms", sender="AVISOS", recipients=["+34600000001"], message="Hola",
                                 extra_params={"Peso": math.nan})
    with pytest.raises(AirflowFailException, match="not plain JSON"):
        op.execute(context(store))
    assert conn.requests == [] and store.data == {}


BAD_EXTRAS = {
    "read_timeout": -1, "connect_timeout": 0, "deadline": "inf", "max_retry_wait": -5,
    "max_retries": 1.5, "max_response_bytes": "lots",
}


@pytest.mark.parametrize(("key", "value"), BAD_EXTRAS.items(), ids=BAD_EXTRAS.keys())
def test_a_bad_connection_extra_fails_clearly_and_a_corrected_connection_sends(
    conn: Sandbox, monkeypatch: pytest.MonkeyPatch, key: str, value: Any
) -> None:
    def connection(extra: dict[str, Any]) -> None:
        monkeypatch.setenv("AIRFLOW_CONN_MENSATEK_DEFAULT", json.dumps({
            "conn_type": "mensatek", "login": MENSATEK_USER, "password": MENSATEK_TOKEN,
            "host": conn.mensatek_url, "extra": extra}))

    connection({key: value, "max_retries": 1} if key != "max_retries" else {key: value})
    store = FakeTaskStateStore()
    with pytest.raises(AirflowFailException, match=f"extra '{key}'"):
        send_op().execute(context(store))
    assert conn.requests == [] and store.data == {}

    connection({"max_retries": 1})
    assert send_op().execute(context(store))["sent"] == 1
    assert len(conn.requests) == 1


def test_a_request_that_cannot_be_encoded_is_local_validation_not_a_send(sandbox: Sandbox) -> None:
    """The transport's own guard, for any caller: nothing counts as sent until the request is built."""
    client = MensatekClient(MENSATEK_USER, MENSATEK_TOKEN, base_url=sandbox.mensatek_url)
    before = send_attempts_started()
    with pytest.raises(ValidationError, match="nothing was sent"):
        client.call("send_certified_email", {"Peso": math.nan}, kind=SEND, reference="r")
    assert send_attempts_started() == before and sandbox.requests == []


def test_every_parameter_a_send_sets_is_protected_from_extra_params(conn: Sandbox) -> None:
    from airflow_provider_mensatek.clients._http.extra_params import MODELED_PARAMS
    from airflow_provider_mensatek.clients.mensatek.email import build_email_params
    from airflow_provider_mensatek.clients.mensatek.rcs import build_rcs_params
    from airflow_provider_mensatek.clients.mensatek.sms import build_sms_params

    when, window, pdf = "2099-01-01T10:00:00+01:00", [{"start": "9:00", "end": "10:00"}], b"%PDF-1.4"
    client = MensatekClient(MENSATEK_USER, MENSATEK_TOKEN, base_url=conn.mensatek_url)
    built = {
        "EnviarEMAILCERTIFICADO": client.build_certified_email_params(
            "avisos@example.com", [{"name": "Ana", "email": "a@example.com"}], "Aviso {{Nombre}}", "Texto",
            send_at=when, require_acceptance=True, acceptance_days=3,
            attachments=[{"name": "a.pdf", "content": pdf}], reference="r", report=True),
        "EnviarSMS": build_sms_params(
            "AVISOS", ["+34600000001"], "Hola", send_at=when, reference="r", report=True, group_with=5,
            fail2voice=True, voice_language="es-ES", voice_sender="+34600000002", ignore_blacklist=True,
            fix_utf8=True)[0],
        "EnviarEMAIL": {**build_email_params(
            "a@example.com", ["b@example.com"], "S", html="<p>x</p>", sender_name="A", reply_to="c@example.com",
            send_at=when, forbidden_interval=window, attachments=[{"name": "a.pdf", "content": pdf}],
            track_opens=True, track_clicks=True, list_unsubscribe="<mailto:baja@example.com>",
            list_help="<mailto:ayuda@example.com>", reference="r", report=True),
            **build_email_params("a@example.com", ["b@example.com"], "S", template_id=12)},
        "EnviarRCS": build_rcs_params(7, ["+34600000001"], agent="ag", send_at=when, forbidden_interval=window,
                                      reference="r", report=True)[0],
    }
    for function, params in built.items():
        assert {k.lower() for k in params} <= MODELED_PARAMS[function], function


class RecordingStore(FakeTaskStateStore):
    """A task state store that keeps every write, so a marker written and then removed still shows."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[tuple[str, Any]] = []

    def set(self, key: str, value: Any, **kwargs: Any) -> None:
        self.writes.append((key, json.loads(json.dumps(value))))
        super().set(key, value, **kwargs)


#: Every send operator that takes extra_params: its arguments, and a parameter it models itself.
SEND_OPERATORS: dict[str, tuple[Any, dict[str, Any], str]] = {
    "certified_email": (MensatekSendCertifiedEmailOperator, {
        "sender": "avisos@example.com", "recipients": [{"name": "Ana", "email": "ana@example.com"}],
        "subject": "Aviso para {{Nombre}}", "message": "Texto"}, "Asunto"),
    "sms": (MensatekSendSmsOperator, {"sender": "AVISOS", "recipients": ["+34600000001"], "message": "Hola"},
            "remitente"),
    "email": (MensatekSendEmailOperator, {"sender_email": "info@empresa.example",
                                          "recipients": ["ana@cliente.example"], "subject": "Hola",
                                          "html": "<p>Hola</p>"}, "EmailRemitente"),
    "rcs": (MensatekSendRcsOperator, {"template_id": "1234567", "agent": "sandbox-agent", "recipients": [
        {"Nombre": "Ana", "Telefono": "34600000001", "variables": {"Importe": "10 €"}}]}, "PLANTILLA"),
}
BAD_INPUTS = {
    "a datetime": (lambda _: {"Tracking": datetime(2026, 1, 1, tzinfo=timezone.utc)}, "not plain JSON"),
    "NaN": (lambda _: {"Peso": math.nan}, "not plain JSON"),
    "a modelled parameter": (lambda modelled: {modelled: "x"}, "would override"),
    "the send date": (lambda _: {"fecha": "2020-01-01 00:00"}, "would override"),
}


@pytest.mark.parametrize("bad", sorted(BAD_INPUTS))
@pytest.mark.parametrize("operator", sorted(SEND_OPERATORS))
def test_bad_extra_params_are_refused_before_the_send_marker_is_ever_written(
    conn: Sandbox, operator: str, bad: str
) -> None:
    cls, arguments, modelled = SEND_OPERATORS[operator]
    extra, message = BAD_INPUTS[bad]
    store = RecordingStore()
    with pytest.raises(AirflowFailException, match=message):
        cls(task_id="enviar", extra_params=extra(modelled), **arguments).execute(context(store))
    assert store.writes == []  # not even an "in flight" marker, later removed
    assert conn.requests == []  # nothing reached the vendor, not even a read before the send

    cls(task_id="enviar", extra_params={"Tracking": "2026-01-01"}, **arguments).execute(context(store))
    assert [value["state"] for key, value in store.writes if key == SEND_STATE_KEY] == ["in_flight", "accepted"]
