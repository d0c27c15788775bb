"""Certified-email operators: one client call each, at-most-once sends, error mapping, placeholders."""

from __future__ import annotations

import json
import warnings
from typing import Any

import pendulum
import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_mensatek.clients.errors import RateLimitedError
from airflow_provider_mensatek.operators._base import (
    SEND_STATE_KEY,
    RetriesNotDeduplicatedWarning,
    protect_vendor_placeholders,
)
from airflow_provider_mensatek.operators.certified_email import (
    MensatekCancelCertifiedEmailOperator,
    MensatekRescheduleCertifiedEmailOperator,
    MensatekSendCertifiedEmailOperator,
)
from airflow_provider_mensatek.sandbox import Fault, Sandbox
from tests.conftest import MENSATEK_TOKEN
from tests.operator_support import FakeTaskStateStore, context


def send_op(**overrides: Any) -> MensatekSendCertifiedEmailOperator:
    args: dict[str, Any] = {"task_id": "enviar", "sender": "avisos@example.com",
                            "recipients": [{"name": "Ana", "email": "ana@example.com"}],
                            "subject": "Aviso para {{Nombre}}", "message": "Texto"}
    args.update(overrides)
    return MensatekSendCertifiedEmailOperator(**args)


def test_send_returns_json_xcom_with_message_ids_and_default_reference(conn: Sandbox) -> None:
    result = send_op().execute(context(FakeTaskStateStore()))
    assert json.loads(json.dumps(result)) == result
    assert result["sent"] == 1 and len(result["message_ids"]) == 1
    assert result["reference"] == "avisos.enviar.manual__2026-11-24"
    (req,) = conn.requests
    assert req.param("Referenciausuario") == "avisos.enviar.manual__2026-11-24"
    assert MENSATEK_TOKEN not in json.dumps(result)


def test_a_retry_after_an_accepted_send_returns_the_recorded_result(conn: Sandbox) -> None:
    store = FakeTaskStateStore()
    first = send_op().execute(context(store))
    assert store.data[SEND_STATE_KEY]["state"] == "accepted"
    second = send_op().execute(context(store))  # the next try of the same task instance
    assert second == first
    assert len(conn.requests_to("EnviarEMAILCERTIFICADO")) == 1


def test_a_retry_after_a_worker_died_mid_send_refuses_to_send(conn: Sandbox) -> None:
    store = FakeTaskStateStore()
    store.set(SEND_STATE_KEY, {"state": "in_flight", "reference": "ref-9", "started": "2026-11-24T10:00:00+00:00"})
    with pytest.raises(AirflowFailException, match="ref-9"):
        send_op(reference="ref-9").execute(context(store))
    assert conn.requests == []


def test_ambiguous_send_fails_without_retry_and_blocks_later_tries(conn: Sandbox) -> None:
    store = FakeTaskStateStore()
    conn.inject("EnviarEMAILCERTIFICADO", Fault("drop_after_accept"))
    with pytest.raises(AirflowFailException, match="may have reached the vendor"):
        send_op(reference="exp-1").execute(context(store))
    assert store.data[SEND_STATE_KEY]["state"] == "ambiguous"
    with pytest.raises(AirflowFailException, match="exp-1"):
        send_op(reference="exp-1").execute(context(store))
    assert len(conn.requests_to("EnviarEMAILCERTIFICADO")) == 1


def test_invalid_input_fails_fast_with_no_request_and_no_marker(conn: Sandbox) -> None:
    store = FakeTaskStateStore()
    with pytest.raises(AirflowFailException, match="lacks Nombre"):
        send_op(recipients=["ana@example.com"]).execute(context(store))
    assert conn.requests == [] and store.data == {}


def test_rate_limit_stays_retryable_and_clears_the_marker(conn: Sandbox) -> None:
    store = FakeTaskStateStore()
    conn.inject("EnviarEMAILCERTIFICADO", Fault("status", status=429, retry_after=3600))
    with pytest.raises(RateLimitedError):
        send_op().execute(context(store))
    assert store.data == {}  # nothing went out, so the next try may send
    assert send_op().execute(context(store))["sent"] == 1
    assert len(conn.requests_to("EnviarEMAILCERTIFICADO")) == 2


def test_without_a_task_state_store_a_warning_says_retries_are_not_deduplicated(conn: Sandbox) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        send_op().execute(context(None))
    assert any(issubclass(w.category, RetriesNotDeduplicatedWarning) for w in caught)


def test_cancel_and_reschedule_accept_an_xcom_list(conn: Sandbox) -> None:
    when = pendulum.now("Europe/Madrid").add(days=1).at(9, 0)
    sent = send_op(recipients=[{"name": "Ana", "email": "ana@example.com"},
                               {"name": "Luis", "email": "luis@example.com"}],
                   send_at=when).execute(context(FakeTaskStateStore()))
    ids_text = json.dumps(sent["message_ids"])  # what "{{ ... | tojson }}" renders
    moved = MensatekRescheduleCertifiedEmailOperator(
        task_id="r", message_id=ids_text, send_at=when.add(days=1).isoformat()
    ).execute(context(None))
    assert [m["message_id"] for m in moved] == sent["message_ids"]
    cancelled = MensatekCancelCertifiedEmailOperator(task_id="c", message_id=ids_text).execute(context(None))
    assert [c["cancelled"] for c in cancelled] == [1, 1]
    again = MensatekCancelCertifiedEmailOperator(task_id="c", message_id=sent["message_ids"][0]).execute(
        context(None))
    assert again[0]["already_cancelled"] is True


def test_cancel_of_a_sent_message_fails_the_task(conn: Sandbox) -> None:
    sent = send_op().execute(context(FakeTaskStateStore()))
    with pytest.raises(AirflowFailException, match="already been sent"):
        MensatekCancelCertifiedEmailOperator(task_id="c", message_id=sent["message_ids"][0]).execute(context(None))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Aviso para {{Nombre}} ({{ ds }})", "Aviso para {% raw %}{{Nombre}}{% endraw %} ({{ ds }})"),
        ("{{ Variable_1 }} {{params.x}} {{ ti.xcom_pull('a') }}",
         "{% raw %}{{ Variable_1 }}{% endraw %} {{params.x}} {{ ti.xcom_pull('a') }}"),
        ("sin variables", "sin variables"),
    ],
)
def test_vendor_placeholders_are_protected_from_jinja(text: str, expected: str) -> None:
    assert protect_vendor_placeholders(text, {"ds", "params", "ti", "macros"}) == expected


def test_an_unreadable_answer_blocks_every_later_try(conn: Sandbox) -> None:
    store = FakeTaskStateStore()
    conn.inject("EnviarEMAILCERTIFICADO", Fault("garble_after_accept", status=200, body="<html>oops</html>"))
    with pytest.raises(AirflowFailException, match="may have reached"):
        send_op(reference="exp-2").execute(context(store))
    assert store.data[SEND_STATE_KEY]["state"] == "ambiguous"
    with pytest.raises(AirflowFailException, match="exp-2"):
        send_op(reference="exp-2").execute(context(store))
    assert len(conn.requests_to("EnviarEMAILCERTIFICADO")) == 1


def test_an_unexpected_error_after_the_request_left_counts_as_ambiguous(conn: Sandbox, monkeypatch) -> None:
    from airflow_provider_mensatek.clients.mensatek.client import MensatekClient

    def explode(*args: Any, **kwargs: Any) -> Any:
        raise KeyError("bug while reading the answer")

    monkeypatch.setattr(MensatekClient, "_check", explode)
    store = FakeTaskStateStore()
    with pytest.raises(AirflowFailException, match="KeyError after the request was sent"):
        send_op().execute(context(store))
    assert store.data[SEND_STATE_KEY]["state"] == "ambiguous"
    assert len(conn.requests_to("EnviarEMAILCERTIFICADO")) == 1


def test_a_local_failure_before_any_request_leaves_the_next_try_free_to_send(conn: Sandbox, tmp_path) -> None:
    store = FakeTaskStateStore()
    with pytest.raises(AirflowFailException, match="Cannot read attachment"):
        send_op(attachments=[str(tmp_path)]).execute(context(store))  # a directory, not a file
    assert store.data == {} and conn.requests == []
    assert send_op().execute(context(store))["sent"] == 1


@pytest.mark.parametrize("operator_class", [MensatekCancelCertifiedEmailOperator,
                                            MensatekRescheduleCertifiedEmailOperator])
def test_every_id_is_checked_before_the_first_call(conn: Sandbox, operator_class) -> None:
    sent = send_op(send_at=pendulum.now("Europe/Madrid").add(days=1).at(9, 0)).execute(
        context(FakeTaskStateStore()))
    extra = {"send_at": pendulum.now("Europe/Madrid").add(days=2).isoformat()}
    if operator_class is MensatekCancelCertifiedEmailOperator:
        extra = {}
    count = len(conn.requests)
    with pytest.raises(AirflowFailException, match="message id"):
        operator_class(task_id="x", message_id=[sent["message_ids"][0], "not-an-id"], **extra).execute(
            context(None))
    assert len(conn.requests) == count


def test_a_reschedule_to_a_past_date_makes_no_request(conn: Sandbox) -> None:
    with pytest.raises(AirflowFailException, match="not in the future"):
        MensatekRescheduleCertifiedEmailOperator(task_id="x", message_id=[1, 2], send_at="2020-01-01T09:00:00+01:00"
                                                 ).execute(context(None))
    assert conn.requests == []


def test_a_connection_a_retry_cannot_fix_fails_the_task_once(monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_MENSATEK_DEFAULT", json.dumps({
        "conn_type": "mensatek", "login": "u", "password": "t", "host": "http://api.mensatek.com/v7"}))
    with pytest.raises(AirflowFailException, match="clear text"):
        send_op().execute(context(FakeTaskStateStore()))
