"""Deferred waits in webhook mode: they read the stored reports, ask the vendor nothing while reports arrive,
and reconcile a message whose reports were lost with one status check after the silence.

The sandbox pushes its reports (every status change, as the vendor panel does) to a stand-in receiver
that writes the channel Asset's state store by the receiver's contract (``tests/report_states.py``); the
trigger reads it through Airflow's Execution API, as in the triggerer. Vendor calls are counted from the
sandbox's request log. Time is the sandbox's, moved by the test only (``DrivenClock``).
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta
from typing import Any

import pytest

from airflow_provider_mensatek.clients import MensatekClient
from airflow_provider_mensatek.clients.errors import ValidationError
from airflow_provider_mensatek.clients.send_at import send_at_timestamp
from airflow_provider_mensatek.delivery import waiting
from airflow_provider_mensatek.delivery.polling import MENSATEK_POLICY
from airflow_provider_mensatek.delivery.report_waiting import ReportWait
from airflow_provider_mensatek.sandbox import Sandbox
from airflow_provider_mensatek.triggers import report_watcher
from airflow_provider_mensatek.triggers.delivery import (
    LegallyMailEmailTrigger,
    MensatekCertifiedEmailTrigger,
)
from tests.airflow_versions import needs_airflow
from tests.report_states import SerialComms, StateStoreReceiver
from tests.sandbox_clock import SandboxClock

pytestmark = needs_airflow((3, 3), "Asset state stores, where the receiver keeps reports: webhook mode")

REPORT = "GetReportEMAILCERTIFICADO"
HOUR = 3600.0


class DrivenClock(SandboxClock):
    """Sandbox time that only the test moves: a sleep waits (really) until the test has moved time past it."""

    def sleep(self, seconds: float) -> None:
        target = self.now() + max(seconds, 0.0)
        while self.now() < target:
            time.sleep(0.005)

    async def async_sleep(self, seconds: float) -> None:
        target = self.now() + max(seconds, 0.0)
        while self.now() < target:
            await asyncio.sleep(0.005)


@pytest.fixture
def driven_clock(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> DrivenClock:
    clock = DrivenClock(sandbox)
    monkeypatch.setattr(waiting, "CLOCK", clock)
    # The journal watcher reads every 50 ms of real time (default 5 s): the test waits for it, never on it.
    monkeypatch.setenv("AIRFLOW__MENSATEK__REPORT_WATCH_INTERVAL", "0.05")
    return clock


def listening_trigger(ids: list[int], now: float, *, reconcile_after: float = 6 * HOUR,
                      target: str = "certified", send_at: float | None = None) -> MensatekCertifiedEmailTrigger:
    wait = ReportWait.start(lambda keys: iter(()), ids, target=target, min_fraction=1, policy=MENSATEK_POLICY,
                            now=now, reconcile_after=reconcile_after, send_at=send_at)
    return MensatekCertifiedEmailTrigger(message_ids=[str(i) for i in ids], target=target, min_fraction=1.0,
                                         state=wait.state(), conn_id="mensatek_default", wait_for="reports")


async def run_while_time_passes(trigger: Any, sandbox: Sandbox, receiver: StateStoreReceiver, *,
                                step: float = 60.0, until: float) -> list[dict[str, Any]]:
    """Run the trigger; move sandbox time on by ``step`` (the sandbox pushes what changed) each time the
    trigger's watcher has read every report written so far, up to ``until`` seconds of sandbox time."""

    async def collect() -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    task = asyncio.ensure_future(collect())
    start = sandbox.clock.now().timestamp()
    writes = sum(w.writes for w in receiver.writers.values())
    while not task.done() and sandbox.clock.now().timestamp() - start < until:
        await asyncio.to_thread(sandbox.clock.advance, step)
        await asyncio.to_thread(sandbox.reports.flush)
        written = sum(w.writes for w in receiver.writers.values())
        if written != writes:
            await _watcher_caught_up(receiver)
            writes = written
        await asyncio.sleep(0.02)  # the woken trigger reads its keys
    return await asyncio.wait_for(task, timeout=60)


async def _watcher_caught_up(receiver: StateStoreReceiver) -> None:
    watcher = report_watcher.watcher()
    for _ in range(3000):  # a safety net of 30 s, never a measure
        journals = {c: watcher._journals.get(c) for c in receiver.writers}
        if all(j is not None and j.seq >= receiver.writers[c].writes for c, j in journals.items()
               if receiver.writers[c].writes):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the journal watcher never read the reports written")


def send(client: MensatekClient, *emails: str) -> list[int]:
    return client.send_certified_email("sender@example.com", list(emails), "Asunto", "Mensaje").message_ids


def test_reports_end_the_wait_without_one_vendor_call(
    sandbox: Sandbox, driven_clock: DrivenClock, mensatek_conn: str, mensatek_client: MensatekClient,
    report_reads: SerialComms, state_receiver: StateStoreReceiver,
) -> None:
    sandbox.configure_reports(state_receiver.url)
    ids = send(mensatek_client, "ana@example.com", "ben@example.com", "eva@example.com")
    trigger = listening_trigger(ids, driven_clock.now())

    # Two simulated hours: a polling trigger asks about each message from its 5th minute on.
    [event] = asyncio.run(run_while_time_passes(trigger, sandbox, state_receiver, until=2 * HOUR))

    assert event["status"] == "success", event
    assert event["result"]["reached"] == [str(i) for i in ids]
    assert {r["source"] for r in event["result"]["reports"].values()} == {"webhook"}
    assert {r["code"] for r in event["result"]["reports"].values()} == {"14"}
    assert sandbox.requests_to(REPORT) == []
    assert {r.message_id for r in state_receiver.received} == {str(i) for i in ids}
    json.dumps(event)


def test_a_lost_report_is_reconciled_by_one_status_check_after_the_silence(
    sandbox: Sandbox, driven_clock: DrivenClock, mensatek_conn: str, mensatek_client: MensatekClient,
    report_reads: SerialComms, state_receiver: StateStoreReceiver,
) -> None:
    sandbox.configure_reports(state_receiver.url)
    heard, lost = send(mensatek_client, "ana@example.com", "ben@example.com")
    state_receiver.lose.add(str(lost))
    started = driven_clock.now()
    trigger = listening_trigger([heard, lost], started, reconcile_after=2 * HOUR)

    [event] = asyncio.run(run_while_time_passes(trigger, sandbox, state_receiver, until=4 * HOUR))

    assert event["status"] == "success", event
    calls = sandbox.requests_to(REPORT)
    assert [int(r.param("Idmensaje")) for r in calls] == [lost]
    # Not before two hours of silence; within the policy's first-check spread after them.
    assert 2 * HOUR <= calls[0].at.timestamp() - started <= 2 * HOUR + MENSATEK_POLICY.initial_spread + 120
    reports = event["result"]["reports"]
    assert reports[str(heard)]["source"] == "webhook"
    assert reports[str(lost)]["code"] == "14" and "source" not in reports[str(lost)]


def test_a_scheduled_message_whose_reports_arrive_costs_no_vendor_call_before_send_at_plus_the_silence(
    sandbox: Sandbox, driven_clock: DrivenClock, mensatek_conn: str, mensatek_client: MensatekClient,
    report_reads: SerialComms, state_receiver: StateStoreReceiver,
) -> None:
    sandbox.configure_reports(state_receiver.url)
    started = driven_clock.now()
    send_at = sandbox.clock.now() + timedelta(hours=10)
    [mid] = mensatek_client.send_certified_email("sender@example.com", ["ana@example.com"], "Asunto", "Mensaje",
                                                 send_at=send_at).message_ids
    # What the sensor hands its trigger when told the send operator's send_at (the vendor's minute).
    trigger = listening_trigger([mid], started, send_at=send_at_timestamp(send_at.strftime("%Y-%m-%dT%H:%M%z")))
    assert trigger.serialize()[1]["state"]["webhook"]["send_at"] == send_at.replace(second=0, microsecond=0).timestamp()

    # Silent (only the "scheduled" report) for 10 h, longer than reconcile_after; then sent and reported.
    [event] = asyncio.run(run_while_time_passes(trigger, sandbox, state_receiver, step=300, until=13 * HOUR))

    assert event["status"] == "success", event
    assert event["result"]["reports"][str(mid)]["source"] == "webhook"
    assert sandbox.requests_to(REPORT) == []
    # The "scheduled" report of the send did arrive, hours before the message went out.
    assert "scheduled" in {r.status.to_dict()["status"] for r in state_receiver.received}


def test_a_report_that_came_before_the_trigger_started_is_read_first(
    sandbox: Sandbox, driven_clock: DrivenClock, mensatek_conn: str, mensatek_client: MensatekClient,
    report_reads: SerialComms, state_receiver: StateStoreReceiver,
) -> None:
    sandbox.configure_reports(state_receiver.url)
    [mid] = send(mensatek_client, "ana@example.com")
    started = driven_clock.now()
    for _ in range(10):  # the message is certified and reported before anything listens
        sandbox.clock.advance(60)
        sandbox.reports.flush()

    async def first_event() -> dict[str, Any]:
        async for event in listening_trigger([mid], started).run():
            return event.payload
        raise AssertionError("no event")

    event = asyncio.run(asyncio.wait_for(first_event(), timeout=60))  # time does not move here
    assert event["status"] == "success"
    assert sandbox.requests_to(REPORT) == []


def test_listening_is_refused_for_a_channel_without_reports_and_for_a_poll_state() -> None:
    from airflow_provider_mensatek.delivery.polling import LEGALLYMAIL_POLICY
    from airflow_provider_mensatek.delivery.waiting import DeliveryWaiter

    uuids = ["0b9f3c9e-0000-4000-8000-000000000001"]
    state = DeliveryWaiter.start(lambda keys: iter(()), uuids, target="delivered", min_fraction=1,
                                 policy=LEGALLYMAIL_POLICY, now=0.0).state()
    trigger = LegallyMailEmailTrigger(message_ids=uuids, target="delivered", min_fraction=1, state=state,
                                      conn_id="legallymail_default", wait_for="reports")
    with pytest.raises(ValidationError, match="cannot wait for 'reports'"):
        trigger._resume(lambda keys: iter(()), type("C", (), {"base_url": "http://127.0.0.1:1"})())
    poll_state = DeliveryWaiter.start(lambda keys: iter(()), [1], target="certified", min_fraction=1,
                                      policy=MENSATEK_POLICY, now=0.0).state()
    with pytest.raises(ValidationError, match="started to poll"):
        ReportWait.resume(lambda keys: iter(()), poll_state, target="certified", min_fraction=1)


def test_serialisation_keeps_the_mode() -> None:
    trigger = listening_trigger([108366001], 1_700_000_000.0)
    classpath, kwargs = trigger.serialize()
    kwargs = json.loads(json.dumps(kwargs))
    assert kwargs["wait_for"] == "reports"
    assert MensatekCertifiedEmailTrigger(**kwargs).serialize() == (classpath, kwargs)


def test_one_watcher_reads_the_journal_for_every_wait_and_wakes_only_the_waits_reported(
    sandbox: Sandbox, driven_clock: DrivenClock, mensatek_conn: str, mensatek_client: MensatekClient,
    report_reads: SerialComms, state_receiver: StateStoreReceiver,
) -> None:
    sandbox.configure_reports(state_receiver.url)
    ids = send(mensatek_client, *(f"user{i}@example.com" for i in range(10)))
    heard = ids[0]
    state_receiver.lose.update(str(i) for i in ids[1:])
    started = driven_clock.now()
    triggers = [listening_trigger([mid], started) for mid in ids]

    async def run_all() -> tuple[list[dict[str, Any]], int]:
        async def first(trigger: MensatekCertifiedEmailTrigger) -> dict[str, Any]:
            async for event in trigger.run():
                return event.payload
            raise AssertionError("no event")

        tasks = [asyncio.ensure_future(first(t)) for t in triggers]
        await _all_started(report_reads, ids)
        gathered = asyncio.gather(*tasks[:1])
        done = await run_while_time_passes(_Awaiting(gathered), sandbox, state_receiver, until=HOUR)
        for task in tasks[1:]:
            assert not task.done()
            task.cancel()
        await asyncio.gather(*tasks[1:], return_exceptions=True)
        return done, report_watcher.watcher().reads

    [[event]], watcher_reads = asyncio.run(run_all())

    assert event["status"] == "success" and event["result"]["reached"] == [str(heard)]
    reads = report_reads.keys_read
    for mid in ids[1:]:
        assert reads.count(f"m:{mid}") == 1  # once when its trigger started; never woken since
    assert reads.count(f"m:{heard}") >= 2
    # The journal: once per trigger start and per wake of the reported one; otherwise only the watcher's
    # reads, one per tick for the ten waits together.
    assert watcher_reads > 0
    assert reads.count("_journal") == 10 + (reads.count(f"m:{heard}") - 1) + watcher_reads
    assert sandbox.requests_to(REPORT) == []


async def _all_started(reads: SerialComms, ids: list[int]) -> None:
    """Wait until every trigger has made its first read of its message, before sandbox time moves: on a busy
    machine a trigger started late would otherwise find its report already there and never be woken."""
    for _ in range(3000):  # a safety net of 30 s, never a measure
        if all(f"m:{mid}" in reads.keys_read for mid in ids):
            await asyncio.to_thread(reads.wait_idle)  # the last read has been answered
            await asyncio.sleep(0.05)  # its trigger subscribes to the watcher
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the triggers never made their first read")


class _Awaiting:
    """A 'trigger' whose run yields what an awaitable returns (so run_while_time_passes can drive it)."""

    def __init__(self, awaitable: Any) -> None:
        self.awaitable = awaitable

    async def run(self) -> Any:
        yield _Payload(await self.awaitable)


class _Payload:
    def __init__(self, payload: Any) -> None:
        self.payload = payload
