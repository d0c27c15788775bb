"""ReportWait (Airflow-free): what stored reports do to a wait, and the reconcile status call against the sandbox."""

from __future__ import annotations

import json
import logging

import pytest

from airflow_provider_mensatek.clients import MensatekClient
from airflow_provider_mensatek.clients.errors import ValidationError
from airflow_provider_mensatek.clients.mensatek.reports import parse_report
from airflow_provider_mensatek.delivery import fetchers
from airflow_provider_mensatek.delivery.inbox import Journal, MessageState, report_part
from airflow_provider_mensatek.delivery.polling import PollPolicy
from airflow_provider_mensatek.delivery.report import DeliveryReport
from airflow_provider_mensatek.delivery.report_waiting import ReportWait, check_reconcile_after
from airflow_provider_mensatek.sandbox import Sandbox

REPORT = "GetReportEMAILCERTIFICADO"
HOUR = 3600.0
POLICY = PollPolicy(initial_delay=300, min_interval=300, max_interval=3600, jitter=0)


def stored(message_id: int, code: str, seq: int) -> MessageState:
    """The state store value the receiver writes after a certified-email report with ``code``."""
    payload = {"Servicio": "EMAILCERTIFICADO", "Resultado": code, "Destinatario": "ana@example.com",
               "Fecha": "2026-11-24 10:00", "idMensaje": str(message_id), "Referencia": "d.t.r"}
    report = DeliveryReport.from_mensatek(parse_report("application/json", json.dumps(payload).encode()))
    return MessageState(channel="certified_email", message_id=str(message_id), seq=seq, report_id=seq,
                        parts={report_part(report): report})


def test_a_report_restarts_the_reconcile_timer_and_a_lagging_answer_does_not_move_the_wait_back(
    sandbox: Sandbox, mensatek_client: MensatekClient,
) -> None:
    [mid] = mensatek_client.send_certified_email("s@example.com", ["ana@example.com"], "A", "M").message_ids
    sandbox.clear_requests()
    t0 = sandbox.clock.now().timestamp()
    wait = ReportWait.start(fetchers.mensatek_certified_email(mensatek_client), [mid], target="read",
                            min_fraction=1, policy=POLICY, now=t0, reconcile_after=6 * HOUR)
    assert wait.reconcile_due(t0 + 6 * HOUR)

    assert wait.apply(1, {str(mid): stored(mid, "14", 1)}, t0 + 5 * HOUR) == [str(mid)]  # certified, not read
    assert not wait.reconcile_due(t0 + 6 * HOUR) and wait.reconcile_due(t0 + 11 * HOUR)

    # The sandbox's clock never moved: the vendor still says "awaiting delivery", behind the report.
    outcome = wait.reconcile(t0 + 11 * HOUR)
    assert [int(r.param("Idmensaje")) for r in sandbox.requests_to(REPORT)] == [mid]
    assert outcome.kind == "waiting"
    assert wait.waiter.reports[str(mid)]["code"] == "14"
    assert not wait.reconcile_due(t0 + 17 * HOUR - 1) and wait.reconcile_due(t0 + 17 * HOUR)
    assert list(wait.warnings(t0 + 11 * HOUR)) == []

    # Through JSON (a reschedule, a trigger's kwargs), the same wait.
    again = ReportWait.resume(wait.waiter.fetch, json.loads(json.dumps(wait.state())), target="read",
                              min_fraction=1)
    assert again.state() == wait.state()


def test_a_reconcile_that_finds_more_than_the_reports_said_warns_that_reports_are_lost(
    sandbox: Sandbox, mensatek_client: MensatekClient,
) -> None:
    [mid] = mensatek_client.send_certified_email("s@example.com", ["ana@example.com"], "A", "M").message_ids
    t0 = sandbox.clock.now().timestamp()
    wait = ReportWait.start(fetchers.mensatek_certified_email(mensatek_client), [mid], target="certified",
                            min_fraction=1, policy=POLICY, now=t0, reconcile_after=2 * HOUR)
    sandbox.clock.advance(2 * HOUR)  # certified at the vendor; no report ever came
    outcome = wait.reconcile(t0 + 2 * HOUR)
    assert outcome.kind == "success"
    [lost] = list(wait.warnings(t0 + 2 * HOUR))  # and no "no report lately": nothing is in flight any more
    assert f"1 message(s) further on than any report said ({mid})" in lost


def test_a_journal_that_cannot_say_what_changed_makes_the_wait_read_every_key() -> None:
    wait = ReportWait.start(lambda keys: iter(()), [1, 2, 3], target="certified", min_fraction=1, policy=POLICY,
                            now=0.0)
    assert wait.keys_to_read(Journal()) == ["1", "2", "3"]  # nothing read yet
    wait.apply(5, {"1": None, "2": None, "3": None}, 1.0)
    window = Journal(seq=700, recent=tuple((seq, "2") for seq in range(189, 701)))
    assert wait.keys_to_read(window) == ["1", "2", "3"]  # entries 6..188 are gone: anything may have changed
    recent = Journal(seq=7, recent=((6, "2"), (7, "9")))
    assert wait.keys_to_read(recent) == ["2"]


def test_an_older_state_is_never_applied_twice(caplog: pytest.LogCaptureFixture) -> None:
    wait = ReportWait.start(lambda keys: iter(()), [1], target="read", min_fraction=1, policy=POLICY, now=0.0)
    assert wait.apply(2, {"1": stored(1, "14", 2)}, 10.0) == ["1"]
    assert wait.apply(2, {"1": stored(1, "14", 2)}, 20.0) == []  # the same write, read again
    with caplog.at_level(logging.INFO):
        assert wait.apply(3, {"1": stored(1, "10", 3)}, 30.0) == []  # a lesser status: ignored
    assert wait.waiter.reports["1"]["code"] == "14"


@pytest.mark.parametrize("value", [0, -5, "soon", True, None])
def test_reconcile_after_must_be_positive_seconds(value: object) -> None:
    with pytest.raises(ValidationError, match="reconcile_after"):
        check_reconcile_after(value, floors_apply=False)


def test_reconcile_after_floor_applies_to_real_hosts_only() -> None:
    from datetime import timedelta

    assert check_reconcile_after(timedelta(minutes=10), floors_apply=False) == 600.0
    assert check_reconcile_after("7200", floors_apply=True) == 7200.0
    with pytest.raises(ValidationError, match="below 3600 s"):
        check_reconcile_after(600, floors_apply=True)


def test_no_report_at_all_is_said_once_per_silence() -> None:
    wait = ReportWait.start(lambda keys: iter(()), [1, 2], target="certified", min_fraction=1, policy=POLICY,
                            now=0.0)
    assert list(wait.warnings(1799.0)) == [] and wait.next_warning_at() == 1800.0
    [text] = list(wait.warnings(1800.0))
    assert "2 message(s) in flight have none after 30 min" in text and "report URL" not in text
    assert list(wait.warnings(1801.0)) == [] and wait.next_warning_at() == 3600.0
    wait.apply(1, {"1": stored(1, "10", 1), "2": stored(2, "10", 1)}, 2000.0)
    assert wait.next_warning_at() is None  # every message has been heard of


def test_a_scheduled_message_is_not_reconciled_before_its_send_time_plus_the_silence() -> None:
    t0 = 1_000_000.0
    wait = ReportWait.start(lambda keys: iter(()), [7], target="certified", min_fraction=1, policy=POLICY,
                            now=t0, reconcile_after=6 * HOUR, send_at=t0 + 10 * HOUR)
    assert not wait.reconcile_due(t0 + 16 * HOUR - 1) and wait.reconcile_due(t0 + 16 * HOUR)

    # The "scheduled" report of the send itself: the message still has nothing to say before it goes out.
    assert wait.apply(1, {"7": stored(7, "1", 1)}, t0 + 60) == ["7"]
    assert wait.waiter.reports["7"]["status"] == "scheduled"
    assert not wait.reconcile_due(t0 + 16 * HOUR - 1) and wait.reconcile_due(t0 + 16 * HOUR)

    # Once it went out, a report restarts the silence from the report, as for any message.
    wait.apply(2, {"7": stored(7, "10", 2)}, t0 + 11 * HOUR)  # sent
    assert not wait.reconcile_due(t0 + 17 * HOUR - 1) and wait.reconcile_due(t0 + 17 * HOUR)

    # A reschedule or a trigger (its kwargs carry the state) keeps the send time.
    again = ReportWait.resume(wait.waiter.fetch, json.loads(json.dumps(wait.state())), target="certified",
                              min_fraction=1)
    assert again.send_at == t0 + 10 * HOUR and again.state() == wait.state()


def test_a_scheduled_report_without_a_known_send_time_restarts_the_silence_from_the_report() -> None:
    t0 = 1_000_000.0
    wait = ReportWait.start(lambda keys: iter(()), [7], target="certified", min_fraction=1, policy=POLICY,
                            now=t0, reconcile_after=6 * HOUR)
    wait.apply(1, {"7": stored(7, "1", 1)}, t0 + 60)
    assert not wait.reconcile_due(t0 + 6 * HOUR + 59) and wait.reconcile_due(t0 + 6 * HOUR + 60)


def test_a_reconcile_of_a_scheduled_message_waits_for_its_send_time_again(
    sandbox: Sandbox, mensatek_client: MensatekClient,
) -> None:
    """A send time that moved later (a reschedule) leaves the vendor saying "scheduled": no loop of checks."""
    [mid] = mensatek_client.send_certified_email("s@example.com", ["ana@example.com"], "A", "M").message_ids
    t0 = sandbox.clock.now().timestamp()
    wait = ReportWait.start(fetchers.mensatek_certified_email(mensatek_client), [mid], target="certified",
                            min_fraction=1, policy=POLICY, now=t0, reconcile_after=2 * HOUR)
    wait.send_at = t0 + 30 * HOUR  # learnt after the start (e.g. a resumed state)
    wait.reconcile(t0 + 2 * HOUR)
    assert len(sandbox.requests_to(REPORT)) == 1
    assert not wait.reconcile_due(t0 + 32 * HOUR - 1) and wait.reconcile_due(t0 + 32 * HOUR)
