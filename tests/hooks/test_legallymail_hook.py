"""LegallyMailHook: Connection -> client, and a test_connection that makes exactly one GET /info."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from airflow_provider_mensatek.clients._http.rate_limit import reset_limiters
from airflow_provider_mensatek.clients.errors import ValidationError
from airflow_provider_mensatek.hooks.legallymail import LegallyMailHook
from airflow_provider_mensatek.sandbox import Sandbox
from tests.conftest import LEGALLYMAIL_TOKEN


@pytest.fixture(autouse=True)
def _fresh_limiters() -> Iterator[None]:
    reset_limiters()
    yield
    reset_limiters()


def set_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str = "legallymail_default", **fields: object) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "legallymail", **fields}))


def test_hook_builds_a_client_from_the_connection(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, password=LEGALLYMAIL_TOKEN, host=sandbox.legallymail_url,
             extra={"read_timeout": 5, "connect_timeout": 2, "max_retries": 2, "requests_per_minute": 6,
                    "max_recipients": 20})
    hook = LegallyMailHook()
    client = hook.get_conn()
    assert client.base_url == sandbox.legallymail_url
    assert client.transport.timeouts.as_tuple() == (2.0, 5.0)
    assert client.transport.retry.max_attempts == 2
    assert client.rate_limiter.per_minute == 6
    assert client.max_recipients == 20
    assert client.get_info().remaining_emails == 100
    assert sandbox.requests[0].headers["authorization"] == f"Bearer {LEGALLYMAIL_TOKEN}"
    assert LEGALLYMAIL_TOKEN not in repr(hook) + repr(client)


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, conn_id="legallymail_prod", password="t0ken")
    client = LegallyMailHook("legallymail_prod").get_conn()
    assert client.base_url == "https://legallymail.com/api"
    assert (client.rate_limiter.per_minute, client.max_recipients) == (10, 10)


def test_plain_http_outside_loopback_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, conn_id="legallymail_bad", password="t", host="http://legallymail.com/api")
    with pytest.raises(ValidationError, match="clear text"):
        LegallyMailHook("legallymail_bad").get_conn()


def test_bad_extra_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, conn_id="legallymail_extra", password="t", extra={"requests_per_minute": "fast"})
    with pytest.raises(ValidationError, match="requests_per_minute"):
        LegallyMailHook("legallymail_extra").get_conn()


def test_missing_token_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, conn_id="legallymail_notoken")
    with pytest.raises(ValidationError, match="token"):
        LegallyMailHook("legallymail_notoken").get_conn()


def test_test_connection_makes_exactly_one_info_call(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, password=LEGALLYMAIL_TOKEN, host=sandbox.legallymail_url)
    ok, message = LegallyMailHook().test_connection()
    assert ok is True and "100 emails left" in message
    assert [(r.method, r.path) for r in sandbox.requests] == [("GET", "/legallymail/api/info")]


def test_test_connection_with_bad_token_reports_once_and_does_not_retry(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    set_conn(monkeypatch, password="bad-token-value", host=sandbox.legallymail_url)
    ok, message = LegallyMailHook().test_connection()
    assert ok is False and "401" in message and "bad-token-value" not in message
    ok_again, _ = LegallyMailHook().test_connection()
    assert ok_again is False
    assert len(sandbox.requests) == 1
    assert "bad-token-value" not in caplog.text
