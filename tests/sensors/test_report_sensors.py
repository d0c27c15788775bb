"""Mensatek sensors in webhook mode: one look at the stored reports before deferring, no vendor call while
reports arrive, the mode chosen by the connection (``wait_for="auto"``), LegallyMail unchanged.

The sandbox pushes its reports to a stand-in receiver that writes the channel Asset's state store by the
receiver's contract (``tests/report_states.py``); the sensors read it through Airflow's Execution API.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException, TaskDeferred

from airflow_provider_mensatek.clients import MensatekClient
from airflow_provider_mensatek.delivery import waiting
from airflow_provider_mensatek.sandbox import Sandbox
from airflow_provider_mensatek.sensors.delivery import (
    LegallyMailEmailSensor,
    MensatekCertifiedEmailSensor,
    MensatekSmsDeliverySensor,
)
from airflow_provider_mensatek.webhooks.assets import CERTIFIED_EMAIL_REPORTS, SMS_REPORTS
from tests.airflow_versions import needs_airflow
from tests.report_states import SerialComms, StateStoreReceiver
from tests.sandbox_clock import DictStateStore, SandboxClock

pytestmark = needs_airflow((3, 3), "Asset state stores, where the receiver keeps reports: webhook mode")

REPORT = "GetReportEMAILCERTIFICADO"


class PushingClock(SandboxClock):
    """A sensor's sleep moves sandbox time on; the reports of what changed meanwhile are pushed and stored
    before it wakes, as a receiver would have stored them while the sensor slept."""

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        self.sandbox.reports.flush()


@pytest.fixture
def pushing_clock(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> PushingClock:
    clock = PushingClock(sandbox)
    monkeypatch.setattr(waiting, "CLOCK", clock)
    return clock


@pytest.fixture
def reports_conn(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> str:
    """``mensatek_default`` at the sandbox, its extra saying the panel sends reports."""
    monkeypatch.setenv("AIRFLOW_CONN_MENSATEK_DEFAULT", json.dumps({
        "conn_type": "mensatek", "login": sandbox.mensatek_user, "password": sandbox.mensatek_token,
        "host": sandbox.mensatek_url, "extra": {"reports": True}}))
    return "mensatek_default"


def context() -> dict[str, Any]:
    return {"task_state_store": DictStateStore()}


def send(client: MensatekClient, *emails: str) -> list[int]:
    return client.send_certified_email("sender@example.com", list(emails), "Asunto", "Mensaje").message_ids


def settle(sandbox: Sandbox, minutes: int = 10) -> None:
    """Let the sandbox's messages run their course, every report pushed."""
    for _ in range(minutes):
        sandbox.clock.advance(60)
        sandbox.reports.flush()


def test_a_report_stored_before_the_task_ends_it_without_deferring(
    sandbox: Sandbox, sandbox_clock: SandboxClock, mensatek_conn: str, mensatek_client: MensatekClient,
    report_reads: SerialComms, state_receiver: StateStoreReceiver,
) -> None:
    sandbox.configure_reports(state_receiver.url)
    ids = send(mensatek_client, "ana@example.com", "ben@example.com")
    settle(sandbox)  # both certified and reported before the sensor starts

    sensor = MensatekCertifiedEmailSensor(task_id="wait", message_ids=ids, deferrable=True, wait_for="reports")
    result = sensor.execute(context())  # no TaskDeferred: the one look before deferring found both

    assert result["reached"] == [str(i) for i in ids]
    assert {r["source"] for r in result["reports"].values()} == {"webhook"}
    assert sandbox.requests_to(REPORT) == []


def test_the_trigger_gets_what_the_look_before_deferring_found(
    sandbox: Sandbox, sandbox_clock: SandboxClock, mensatek_conn: str, mensatek_client: MensatekClient,
    report_reads: SerialComms, state_receiver: StateStoreReceiver,
) -> None:
    sandbox.configure_reports(state_receiver.url)
    [early] = send(mensatek_client, "ana@example.com")
    settle(sandbox)
    [late] = send(mensatek_client, "ben@example.com")

    sensor = MensatekCertifiedEmailSensor(task_id="wait", message_ids=[early, late], deferrable=True,
                                          wait_for="reports")
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(context())

    _, kwargs = deferred.value.trigger.serialize()
    assert kwargs["wait_for"] == "reports"
    assert kwargs["state"]["reports"][str(early)]["code"] == "14"
    assert kwargs["state"]["reports"].get(str(late), {}).get("status") != "certified"  # "awaiting delivery" maybe
    done = {key for key, m in kwargs["state"]["schedule"]["messages"].items() if m["done"]}
    assert done == {str(early)}
    assert sandbox.requests_to(REPORT) == []


def test_auto_listens_when_the_connection_says_reports_are_configured(
    sandbox: Sandbox, pushing_clock: PushingClock, reports_conn: str, mensatek_client: MensatekClient,
    report_reads: SerialComms, state_receiver: StateStoreReceiver,
) -> None:
    sandbox.configure_reports(state_receiver.url)
    ids = send(mensatek_client, "ana@example.com", "ben@example.com", "eva@example.com")
    sensor = MensatekCertifiedEmailSensor(task_id="wait", message_ids=ids)  # poke mode, wait_for="auto"
    assert CERTIFIED_EMAIL_REPORTS in sensor.inlets  # keeps the Asset (and its state store) active

    result = sensor.execute(context())

    assert result["reached"] == [str(i) for i in ids]
    assert {r["source"] for r in result["reports"].values()} == {"webhook"}
    assert sandbox.requests_to(REPORT) == []
    assert pushing_clock.sleeps and max(pushing_clock.sleeps) <= sensor.poke_interval


def test_auto_polls_when_the_connection_does_not_say_so(
    sandbox: Sandbox, sandbox_clock: SandboxClock, mensatek_conn: str, mensatek_client: MensatekClient,
) -> None:
    ids = send(mensatek_client, "ana@example.com")
    result = MensatekCertifiedEmailSensor(task_id="wait", message_ids=ids).execute(context())
    assert result["reached"] == [str(i) for i in ids]
    assert [int(r.param("Idmensaje")) for r in sandbox.requests_to(REPORT)][:1] == ids


def test_sms_with_phones_per_message_ends_on_every_phone_reported(
    sandbox: Sandbox, pushing_clock: PushingClock, reports_conn: str, mensatek_client: MensatekClient,
    report_reads: SerialComms, state_receiver: StateStoreReceiver,
) -> None:
    sandbox.configure_reports(state_receiver.url)
    sent = mensatek_client.send_sms("EMPRESA", ["34600000001", "34600000002"], "Hola")
    sensor = MensatekSmsDeliverySensor(task_id="wait", message_ids=sent.message_id,
                                       phones_per_message=sent.recipients)
    assert SMS_REPORTS in sensor.inlets

    result = sensor.execute(context())

    report = result["reports"][str(sent.message_id)]
    assert report["status"] == "delivered" and report["parts"] == 2
    assert sandbox.requests_to("GetReportSMS") == []


def test_sms_without_phones_per_message_confirms_with_one_status_check(
    sandbox: Sandbox, pushing_clock: PushingClock, reports_conn: str, mensatek_client: MensatekClient,
    report_reads: SerialComms, state_receiver: StateStoreReceiver,
) -> None:
    sandbox.configure_reports(state_receiver.url)
    sent = mensatek_client.send_sms("EMPRESA", ["34600000001", "34600000002"], "Hola")
    result = MensatekSmsDeliverySensor(task_id="wait", message_ids=sent.message_id).execute(context())
    assert result["reached"] == [str(sent.message_id)]
    # The reports cannot say how many phones the send had: one GetReportSMS (every phone) confirms it.
    assert [r.param("Idmensaje") for r in sandbox.requests_to("GetReportSMS")] == [sent.message_id]


def test_a_wrong_reports_extra_fails_the_task_before_any_request(
    sandbox: Sandbox, sandbox_clock: SandboxClock, mensatek_client: MensatekClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_MENSATEK_DEFAULT", json.dumps({
        "conn_type": "mensatek", "login": sandbox.mensatek_user, "password": sandbox.mensatek_token,
        "host": sandbox.mensatek_url, "extra": {"reports": "yes"}}))
    ids = send(mensatek_client, "ana@example.com")
    sandbox.clear_requests()
    with pytest.raises(AirflowFailException, match="extra 'reports' must be true or false"):
        MensatekCertifiedEmailSensor(task_id="wait", message_ids=ids).execute(context())
    assert sandbox.requests == []


def test_reconcile_after_has_a_floor_against_the_real_vendor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_MENSATEK_DEFAULT", json.dumps({
        "conn_type": "mensatek", "login": "u", "password": "t", "extra": {"reports": True}}))
    sensor = MensatekCertifiedEmailSensor(task_id="wait", message_ids=[1], reconcile_after=600)
    with pytest.raises(AirflowFailException, match="reconcile_after=600 s is below 3600 s"):
        sensor.execute(context())


def test_legallymail_sensors_have_no_webhook_mode() -> None:
    with pytest.raises(ValueError, match="no real-time reports"):
        LegallyMailEmailSensor(task_id="wait", message_ids=["x"], wait_for="reports")
    sensor = LegallyMailEmailSensor(task_id="wait", message_ids=["x"])
    assert sensor.wait_for == "poll" and not sensor.inlets


def test_reschedule_mode_listens_across_tries_without_a_vendor_call(
    sandbox: Sandbox, sandbox_clock: SandboxClock, reports_conn: str, mensatek_client: MensatekClient,
    report_reads: SerialComms, state_receiver: StateStoreReceiver,
) -> None:
    from airflow.sdk.exceptions import AirflowRescheduleException

    from airflow_provider_mensatek.sensors.delivery import WAIT_STATE_KEY

    sandbox.configure_reports(state_receiver.url)
    ids = send(mensatek_client, "ana@example.com", "ben@example.com")
    sandbox.reports.flush()  # their first reports are stored now, not while a try runs
    ctx = context()
    tries = 0
    while True:
        # A new operator object each time, as a rescheduled try runs in a new process.
        sensor = MensatekCertifiedEmailSensor(task_id="wait", message_ids=ids, mode="reschedule")
        try:
            result = sensor.execute(ctx)
            break
        except AirflowRescheduleException:
            tries += 1
            assert tries < 30
            stored = ctx["task_state_store"].get(WAIT_STATE_KEY)
            assert stored["identity"]["wait_for"] == "reports" and "webhook" in stored["state"]
            if tries == 1:  # a try with no news since the last reads the journal only
                before = len(report_reads.keys_read)
                with pytest.raises(AirflowRescheduleException):
                    MensatekCertifiedEmailSensor(task_id="wait", message_ids=ids, mode="reschedule").execute(ctx)
                assert report_reads.keys_read[before:] == ["_journal"]
            settle(sandbox, minutes=1)  # the next try comes a poke_interval later
    assert tries >= 2
    assert result["reached"] == [str(i) for i in ids]
    assert sandbox.requests_to(REPORT) == []
    assert ctx["task_state_store"].get(WAIT_STATE_KEY) is None


def test_send_at_from_the_operators_xcom_reaches_the_trigger_and_puts_the_first_reconcile_after_it(
    sandbox: Sandbox, sandbox_clock: SandboxClock, mensatek_conn: str, mensatek_client: MensatekClient,
    report_reads: SerialComms, state_receiver: StateStoreReceiver,
) -> None:
    from datetime import timedelta

    sandbox.configure_reports(state_receiver.url)
    result = mensatek_client.send_certified_email("sender@example.com", ["ana@example.com"], "Asunto", "Mensaje",
                                                  send_at=sandbox.clock.now() + timedelta(hours=10))
    send_at = result.send_at  # what the send operator's XCom carries: "YYYY-MM-DD HH:MM", Europe/Madrid
    sensor = MensatekCertifiedEmailSensor(task_id="wait", message_ids=result.message_ids, deferrable=True,
                                          wait_for="reports", send_at=send_at)
    assert "send_at" in sensor.template_fields
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(context())

    state = deferred.value.trigger.serialize()[1]["state"]
    assert state["webhook"]["send_at"] >= sandbox.clock.now().timestamp() + 10 * 3600 - 60
    [message] = state["schedule"]["messages"].values()
    assert message["next_at"] >= state["webhook"]["send_at"] + 6 * 3600
    assert sandbox.requests_to(REPORT) == []


@pytest.mark.parametrize("send_at", ["", "None"])
def test_a_send_at_whose_template_lost_its_value_fails_before_any_request(
    sandbox: Sandbox, mensatek_conn: str, send_at: str,
) -> None:
    sensor = MensatekCertifiedEmailSensor(task_id="wait", message_ids=[12345], wait_for="reports", send_at=send_at)
    with pytest.raises(AirflowFailException, match="send_at"):
        sensor.execute(context())
    assert sandbox.requests == []
