"""Webhook mode on an Airflow without Asset state stores (3.2): no reports to read, so no listening.

Runs on every Airflow: the store's absence is forced where Airflow has one, and the detection itself is
checked against the version the suite runs on.
"""

from __future__ import annotations

import json
import logging

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_mensatek.clients import MensatekClient
from airflow_provider_mensatek.sandbox import Sandbox
from airflow_provider_mensatek.sensors import _reports
from airflow_provider_mensatek.sensors.delivery import MensatekCertifiedEmailSensor
from tests.airflow_versions import AIRFLOW_VERSION, AIRFLOW_VERSION_TEXT
from tests.sandbox_clock import DictStateStore, SandboxClock

REPORT = "GetReportEMAILCERTIFICADO"


@pytest.fixture
def without_asset_state_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_reports, "asset_state_store_available", lambda: False)


@pytest.fixture
def reports_conn(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AIRFLOW_CONN_MENSATEK_DEFAULT", json.dumps({
        "conn_type": "mensatek", "login": sandbox.mensatek_user, "password": sandbox.mensatek_token,
        "host": sandbox.mensatek_url, "extra": {"reports": True}}))
    return "mensatek_default"


def test_asset_state_stores_are_found_from_airflow_3_3() -> None:
    assert _reports.asset_state_store_available() is (AIRFLOW_VERSION >= (3, 3)), AIRFLOW_VERSION_TEXT


def test_wait_for_reports_fails_before_any_request_naming_airflow_3_3(
    sandbox: Sandbox, reports_conn: str, without_asset_state_store: None,
) -> None:
    sensor = MensatekCertifiedEmailSensor(task_id="wait", message_ids=[1], wait_for="reports")
    with pytest.raises(AirflowFailException, match=r"wait_for='reports' needs Airflow 3\.3 .*wait_for='poll'"):
        sensor.execute({"task_state_store": DictStateStore()})
    assert sandbox.requests_to(REPORT) == []


def test_auto_polls_with_a_warning_when_the_connection_says_reports(
    sandbox: Sandbox, sandbox_clock: SandboxClock, reports_conn: str, mensatek_client: MensatekClient,
    without_asset_state_store: None, caplog: pytest.LogCaptureFixture,
) -> None:
    [mid] = mensatek_client.send_certified_email("sender@example.com", ["ana@example.com"], "Asunto",
                                                 "Mensaje").message_ids
    with caplog.at_level(logging.WARNING, logger="airflow_provider_mensatek.sensors"):
        result = MensatekCertifiedEmailSensor(task_id="wait", message_ids=[mid]).execute(
            {"task_state_store": DictStateStore()})
    assert result["reached"] == [str(mid)]
    assert [int(r.param("Idmensaje")) for r in sandbox.requests_to(REPORT)][:1] == [mid]
    assert any("keeps no Asset state store" in r.getMessage() for r in caplog.records)
