"""What the receiver keeps of a body: the parsed report, or the raw bytes and a reason that quotes no value."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from airflow_provider_mensatek.clients.mensatek.reports import parse_report
from airflow_provider_mensatek.webhooks.intake import RAW_KEY_PREFIX, raw_key, read_body
from tests.clients.mensatek.test_reports import SAMPLES

NOW = datetime(2024, 3, 1, 9, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("service", sorted(SAMPLES))
def test_every_documented_report_becomes_a_parsed_row(service: str) -> None:
    body = SAMPLES[service].encode()
    intake = read_body(body, "application/json", NOW, max_bytes=65536)
    assert intake.report is not None and intake.parse_error is None
    assert intake.dedupe_key == parse_report("application/json", body).dedupe_key
    row = intake.row()
    assert row["parsed"] and row["service"] == service and row["body"] == body and row["received_at"] == NOW
    assert row["normalised"]["dedupe_key"] == intake.dedupe_key and row["normalised"]["recipient"] is not None
    assert "Destinatario" not in repr(intake) and "destino" not in repr(intake)


@pytest.mark.parametrize(("body", "content_type", "reason"), [
    (b'{"Servicio": "SMSMASIVO", "Resultado": "11", "resultado": "secret-12"}', "application/json",
     "field 'resultado' is sent twice with different values"),
    (b'{"Resultado": "11", "Movil": "34600000001"}', "application/json", "no Servicio: not a Mensatek report"),
    (b"\xff\xfe", "application/json", "the body is not valid utf-8-sig"),
    (json.dumps({"Servicio": "SMSMASIVO", "idMensaje": "9" * 300}).encode(), "application/json",
     "idMensaje is longer than 250 characters"),
    (b"x" * 2000, "text/csv", "unsupported Content-Type 'text/csv': reports are JSON or form data"),
])
def test_a_body_that_does_not_parse_is_kept_raw_with_a_reason(body: bytes, content_type: str, reason: str) -> None:
    intake = read_body(body, content_type, NOW, max_bytes=65536)
    assert intake.report is None and intake.parse_error == reason
    assert intake.dedupe_key == raw_key(content_type, body) and intake.dedupe_key.startswith(RAW_KEY_PREFIX)
    assert "secret-12" not in intake.parse_error and "34600000001" not in intake.parse_error
    row = intake.row()
    assert row["parsed"] is False and row["body"] == body and row["normalised"] is None


def test_the_raw_key_is_the_bytes_and_their_type() -> None:
    assert raw_key("application/json", b"{}") == raw_key("application/json", b"{}")
    assert raw_key("application/json", b"{}") != raw_key("text/plain", b"{}") != raw_key("text/plain", b"{} ")
