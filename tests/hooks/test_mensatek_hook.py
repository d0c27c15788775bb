"""MensatekHook: Connection -> client, and a test_connection that makes exactly one cheap call."""

from __future__ import annotations

import json

import pytest

from airflow_provider_mensatek.clients.errors import ValidationError
from airflow_provider_mensatek.hooks.mensatek import MensatekHook
from airflow_provider_mensatek.sandbox import Sandbox
from tests.conftest import MENSATEK_TOKEN, MENSATEK_USER


def set_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str = "mensatek_default", **fields) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "mensatek", **fields}))


def test_hook_builds_a_client_from_the_connection(sandbox: Sandbox, monkeypatch) -> None:
    set_conn(monkeypatch, login=MENSATEK_USER, password=MENSATEK_TOKEN, host=sandbox.mensatek_url,
             extra={"read_timeout": 5, "connect_timeout": 2, "max_retries": 2})
    hook = MensatekHook()
    client = hook.get_conn()
    assert client.base_url == sandbox.mensatek_url
    assert client.transport.timeouts.as_tuple() == (2.0, 5.0)
    assert client.transport.retry.max_attempts == 2
    assert client.get_credits() == 1000.0
    assert sandbox.requests[0].basic_auth == (MENSATEK_USER, MENSATEK_TOKEN)
    assert MENSATEK_TOKEN not in repr(hook) + repr(client)


def test_default_base_url_is_https(monkeypatch) -> None:
    set_conn(monkeypatch, conn_id="mensatek_prod", login="u", password="t")
    assert MensatekHook("mensatek_prod").get_conn().base_url == "https://api.mensatek.com/v7"


def test_plain_http_outside_loopback_is_refused(monkeypatch) -> None:
    set_conn(monkeypatch, conn_id="mensatek_bad", login="u", password="t", host="http://api.mensatek.com/v7")
    with pytest.raises(ValidationError, match="clear text"):
        MensatekHook("mensatek_bad").get_conn()


def test_test_connection_makes_exactly_one_credits_call(sandbox: Sandbox, monkeypatch) -> None:
    set_conn(monkeypatch, login=MENSATEK_USER, password=MENSATEK_TOKEN, host=sandbox.mensatek_url)
    ok, message = MensatekHook().test_connection()
    assert ok is True and "1000 credits" in message
    assert [r.function for r in sandbox.requests] == ["GetCreditos"]


def test_test_connection_with_bad_token_reports_and_does_not_retry(sandbox: Sandbox, monkeypatch) -> None:
    set_conn(monkeypatch, login=MENSATEK_USER, password="bad-token-value", host=sandbox.mensatek_url)
    ok, message = MensatekHook().test_connection()
    assert ok is False and "Authentication" in message and "bad-token-value" not in message
    ok_again, _ = MensatekHook().test_connection()
    assert ok_again is False
    assert len(sandbox.requests) == 1  # the remembered failure spared the vendor a second bad login


def test_max_retries_zero_means_a_single_attempt(monkeypatch) -> None:
    set_conn(monkeypatch, conn_id="mensatek_once", login="u", password="t", extra={"max_retries": 0})
    assert MensatekHook("mensatek_once").get_conn().transport.retry.max_attempts == 1


def test_deadline_and_answer_cap_come_from_the_connection_with_documented_defaults(monkeypatch) -> None:
    set_conn(monkeypatch, conn_id="mensatek_limits", login="u", password="t",
             extra={"deadline": "45", "max_response_bytes": 1024})
    transport = MensatekHook("mensatek_limits").get_conn().transport
    assert (transport.timeouts.deadline, transport.max_response_bytes) == (45.0, 1024)
    set_conn(monkeypatch, conn_id="mensatek_plain", login="u", password="t")
    transport = MensatekHook("mensatek_plain").get_conn().transport
    assert (transport.timeouts.deadline, transport.max_response_bytes) == (300.0, 8 * 1024 * 1024)
