"""LegallyMail operators: one client call each, at-most-once sends, JSON XCom, error mapping, no token leaks."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from airflow.sdk import ObjectStoragePath
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_mensatek.clients._http.rate_limit import reset_limiters
from airflow_provider_mensatek.clients.errors import RateLimitedError
from airflow_provider_mensatek.operators._base import SEND_STATE_KEY
from airflow_provider_mensatek.operators.legallymail import (
    LegallyMailRequestSignatureOperator,
    LegallyMailSendCertifiedEmailOperator,
    LegallyMailSendCertifiedSmsOperator,
)
from airflow_provider_mensatek.sandbox import Fault, Sandbox
from tests.conftest import LEGALLYMAIL_TOKEN
from tests.legallymail_support import PDF
from tests.operator_support import FakeTaskStateStore, context


@pytest.fixture(autouse=True)
def _fresh_limiters() -> Iterator[None]:
    reset_limiters()
    yield
    reset_limiters()


@pytest.fixture
def conn(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    monkeypatch.setenv("AIRFLOW_CONN_LEGALLYMAIL_DEFAULT", json.dumps({
        "conn_type": "legallymail", "password": LEGALLYMAIL_TOKEN, "host": sandbox.legallymail_url,
        "extra": {"max_retries": 1},
    }))
    return sandbox


def email_op(**overrides: Any) -> LegallyMailSendCertifiedEmailOperator:
    args: dict[str, Any] = {"task_id": "notify", "recipients": ["ana@example.com", "bob@example.com"],
                            "subject": "Notice", "message": "<p>Hello</p>"}
    args.update(overrides)
    return LegallyMailSendCertifiedEmailOperator(**args)


def test_send_email_xcom_has_a_tracking_id_per_recipient(conn: Sandbox) -> None:
    result = email_op(reply_to="legal@example.com").execute(context(FakeTaskStateStore()))
    assert json.loads(json.dumps(result)) == result
    assert set(result["tracking_ids"]) == {"ana@example.com", "bob@example.com"}
    assert result["success_count"] == 2
    [req] = conn.requests
    assert (req.method, req.path) == ("POST", "/legallymail/api/send")
    assert req.headers["authorization"] == f"Bearer {LEGALLYMAIL_TOKEN}"
    assert req.params["recipient"] == "ana@example.com, bob@example.com"
    assert req.params["reply_to"] == "legal@example.com"
    assert LEGALLYMAIL_TOKEN not in json.dumps(result)


def test_templated_recipients_from_xcom_json(conn: Sandbox) -> None:
    email_op(recipients='["ana@example.com", "bob@example.com"]').execute(context(FakeTaskStateStore()))
    assert conn.requests[0].params["recipient"] == "ana@example.com, bob@example.com"


def test_template_fields() -> None:
    assert set(LegallyMailSendCertifiedEmailOperator.template_fields) >= {"recipients", "subject", "message"}
    assert set(LegallyMailRequestSignatureOperator.template_fields) >= {"document", "signers", "document_name"}
    assert set(LegallyMailSendCertifiedSmsOperator.template_fields) == {"phone", "message"}


def test_a_retry_after_an_accepted_send_returns_the_recorded_result(conn: Sandbox) -> None:
    store = FakeTaskStateStore()
    first = email_op().execute(context(store))
    second = email_op().execute(context(store))
    assert second == first
    assert len(conn.requests_to("/api/send")) == 1


def test_drop_after_accept_fails_without_retry_and_blocks_later_tries(conn: Sandbox) -> None:
    store = FakeTaskStateStore()
    conn.inject("/api/send", Fault("drop_after_accept"))
    with pytest.raises(AirflowFailException, match="may have reached the vendor") as info:
        email_op().execute(context(store))
    assert "Notice" in str(info.value)
    assert store.data[SEND_STATE_KEY]["state"] == "ambiguous"
    with pytest.raises(AirflowFailException, match="outcome is unknown"):
        email_op().execute(context(store))
    assert len(conn.requests_to("/api/send")) == 1


def test_invalid_input_fails_fast_with_no_request_and_no_marker(conn: Sandbox) -> None:
    store = FakeTaskStateStore()
    with pytest.raises(AirflowFailException, match="11 recipients"):
        email_op(recipients=[f"u{i}@example.com" for i in range(11)]).execute(context(store))
    assert conn.requests == [] and store.data == {}


def test_auth_failure_fails_the_task_and_is_not_repeated(conn: Sandbox, monkeypatch: pytest.MonkeyPatch,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("AIRFLOW_CONN_LEGALLYMAIL_BAD", json.dumps({
        "conn_type": "legallymail", "password": "bad-token-xyz", "host": conn.legallymail_url}))
    for _ in range(2):
        with pytest.raises(AirflowFailException) as info:
            email_op(legallymail_conn_id="legallymail_bad").execute(context(FakeTaskStateStore()))
        assert "bad-token-xyz" not in str(info.value)
    assert len(conn.requests) == 1
    assert "bad-token-xyz" not in caplog.text


def test_rate_limit_stays_retryable_and_clears_the_marker(conn: Sandbox) -> None:
    store = FakeTaskStateStore()
    conn.inject("/api/sms/send", Fault("status", status=429, retry_after=3600))
    with pytest.raises(RateLimitedError):
        LegallyMailSendCertifiedSmsOperator(task_id="sms", phone="+34600000000", message="hi").execute(
            context(store))
    assert store.data == {}


@pytest.mark.parametrize("source", ["bytes", "path", "object_storage", "url"])
def test_request_signature_reads_the_document_from_anywhere(conn: Sandbox, tmp_path: Any, source: str) -> None:
    path = tmp_path / "Contract.pdf"
    path.write_bytes(PDF)
    document: Any = {"bytes": PDF, "path": str(path), "object_storage": ObjectStoragePath(f"file://{path}"),
                     "url": f"file://{path}"}[source]
    op = LegallyMailRequestSignatureOperator(
        task_id="sign", document=document, document_name="Contract.pdf" if source == "bytes" else None,
        signers=[{"name": "Ana", "email": "ana@example.com"}, {"name": "Bob", "email": "bob@example.com"}],
        language="en",
    )
    result = op.execute(context(FakeTaskStateStore()))
    assert json.loads(json.dumps(result)) == result
    assert result["uuid"] and result["status"] == "pending" and result["document_name"] == "Contract.pdf"
    assert [s["email"] for s in result["signers"]] == ["ana@example.com", "bob@example.com"]
    [req] = conn.requests
    assert req.path == "/legallymail/api/signature/send"
    assert base64.b64decode(req.params["document"]) == PDF
    assert req.params["document_name"] == "Contract.pdf"


def test_request_signature_refuses_a_non_pdf_without_a_request(conn: Sandbox, tmp_path: Any) -> None:
    path = tmp_path / "notes.pdf"
    path.write_bytes(b"just text")
    with pytest.raises(AirflowFailException, match="not a PDF"):
        LegallyMailRequestSignatureOperator(task_id="sign", document=str(path),
                                            signers=[{"name": "A", "email": "a@example.com"}]).execute(
            context(FakeTaskStateStore()))
    assert conn.requests == []


def test_send_sms_xcom(conn: Sandbox) -> None:
    result = LegallyMailSendCertifiedSmsOperator(task_id="sms", phone="+34 600 000 000", message="Code 1").execute(
        context(FakeTaskStateStore()))
    assert result["uuid"] and result["status"] == "sent" and result["phone"] == "+34600000000"
    assert json.loads(json.dumps(result)) == result
    assert conn.requests[0].params == {"phone": "+34600000000", "message": "Code 1"}
