"""Deferrable status triggers: exact serialisation, and a run against the sandbox in one event loop."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import pytest

from airflow_provider_mensatek.clients import MensatekClient
from airflow_provider_mensatek.delivery.polling import MENSATEK_POLICY, PollPolicy
from airflow_provider_mensatek.delivery.waiting import DeliveryWaiter
from airflow_provider_mensatek.sandbox import Fault, Sandbox
from airflow_provider_mensatek.triggers.delivery import (
    CHANNELS,
    DeliveryStatusTrigger,
    LegallyMailEmailTrigger,
    LegallyMailSignatureTrigger,
    LegallyMailSmsTrigger,
    MensatekCertifiedEmailTrigger,
    MensatekSmsDeliveryTrigger,
)
from tests.conftest import MENSATEK_USER
from tests.sandbox_clock import SandboxClock

REPORT = "GetReportEMAILCERTIFICADO"


def start_state(ids: list[int], policy: PollPolicy, now: float) -> dict[str, Any]:
    waiter = DeliveryWaiter.start(lambda keys: iter(()), ids, target="certified", min_fraction=1, policy=policy,
                                  now=now)
    return waiter.state()


def make_trigger(ids: list[int], policy: PollPolicy, now: float, **kwargs: Any) -> MensatekCertifiedEmailTrigger:
    return MensatekCertifiedEmailTrigger(message_ids=[str(i) for i in ids], target=kwargs.pop("target", "certified"),
                                         min_fraction=kwargs.pop("min_fraction", 1.0),
                                         state=start_state(ids, policy, now), conn_id="mensatek_default")


def events(trigger: DeliveryStatusTrigger) -> list[dict[str, Any]]:
    async def collect() -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    return asyncio.run(collect())


ALL_TRIGGERS = [MensatekCertifiedEmailTrigger, MensatekSmsDeliveryTrigger, LegallyMailEmailTrigger,
                LegallyMailSignatureTrigger, LegallyMailSmsTrigger]


def test_every_trigger_has_a_channel() -> None:
    assert sorted(cls.channel for cls in ALL_TRIGGERS) == sorted(CHANNELS)


@pytest.mark.parametrize("cls", ALL_TRIGGERS)
def test_serialisation_round_trips_exactly(cls: type[DeliveryStatusTrigger]) -> None:
    trigger = cls(message_ids=["108366001", "108366002"], target="read", min_fraction=0.5,
                  state=start_state([108366001, 108366002], MENSATEK_POLICY, 1_700_000_000.0),
                  conn_id="some_conn")
    classpath, kwargs = trigger.serialize()
    # Through JSON, as the triggerer stores it.
    kwargs = json.loads(json.dumps(kwargs))
    module, _, name = classpath.rpartition(".")
    cls = getattr(__import__(module, fromlist=[name]), name)
    rebuilt = cls(**kwargs)
    assert type(rebuilt) is cls
    assert rebuilt.serialize() == (classpath, kwargs) == trigger.serialize()


def test_trigger_waits_politely_and_reports(
    sandbox: Sandbox, sandbox_clock: SandboxClock, mensatek_conn: str, mensatek_client: MensatekClient,
) -> None:
    sandbox.step_seconds = 3000
    ids = mensatek_client.send_certified_email("s@example.com", ["a@example.com", "b@example.com"], "A",
                                               "M").message_ids
    started = sandbox_clock.now()
    [event] = events(make_trigger(ids, MENSATEK_POLICY, started))
    assert event["status"] == "success"
    assert event["result"]["reached"] == [str(i) for i in ids]
    for mid in ids:
        times = [r.at.timestamp() for r in sandbox.requests_to(REPORT) if int(r.param("Idmensaje")) == mid]
        assert times[0] - started >= 300
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert all(300 <= g <= 3600 for g in gaps), gaps
    json.dumps(event)


def test_trigger_fails_on_bounce_with_vendor_text(
    sandbox: Sandbox, sandbox_clock: SandboxClock, mensatek_conn: str, mensatek_client: MensatekClient,
) -> None:
    [mid] = mensatek_client.send_certified_email("s@example.com", ["bounce@example.com"], "A", "M").message_ids
    [event] = events(make_trigger([mid], MENSATEK_POLICY, sandbox_clock.now()))
    assert event["status"] == "failed"
    assert f"{mid}: 50 Rebotado: el buzón no existe [bounced]" in event["message"]


def test_trigger_stops_after_one_auth_failure(
    sandbox: Sandbox, sandbox_clock: SandboxClock, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_MENSATEK_DEFAULT", json.dumps({
        "conn_type": "mensatek", "login": MENSATEK_USER, "password": "wrong", "host": sandbox.mensatek_url}))
    [event] = events(make_trigger([1, 2], PollPolicy(0, 1, 1), sandbox_clock.now()))
    assert event["status"] == "error"
    assert event["error"] == "AuthenticationError"
    assert len(sandbox.requests) == 1


def test_trigger_honours_retry_after(
    sandbox: Sandbox, sandbox_clock: SandboxClock, mensatek_conn: str, mensatek_client: MensatekClient,
) -> None:
    [mid] = mensatek_client.send_certified_email("s@example.com", ["a@example.com"], "A", "M").message_ids
    sandbox.inject(REPORT, Fault("status", status=429, retry_after=1200))
    [event] = events(make_trigger([mid], PollPolicy(300, 300, 3600, jitter=0), sandbox_clock.now()))
    assert event["status"] == "success"
    first, second = (r.at.timestamp() for r in sandbox.requests_to(REPORT))
    assert second - first == pytest.approx(1200, abs=1)


def test_legallymail_signature_trigger_coalesces_and_respects_the_rate_limit(
    sandbox: Sandbox, sandbox_clock: SandboxClock, legallymail_conn: str,
) -> None:
    from airflow_provider_mensatek.delivery.polling import LEGALLYMAIL_POLICY
    from airflow_provider_mensatek.hooks.legallymail import LegallyMailHook
    from airflow_provider_mensatek.sandbox.pdf import make_pdf

    client = LegallyMailHook().get_conn()
    # 30 requests: more than the 25 one list call returns, so the oldest need GET /signature.
    uuids = [client.request_signature(make_pdf(["C"]), [{"name": "F", "email": f"f{i}@example.com"}],
                                      document_name="c.pdf").uuid for i in range(30)]
    sandbox.clear_requests()
    state = DeliveryWaiter.start(lambda keys: iter(()), uuids, target="signed", min_fraction=1,
                                 policy=LEGALLYMAIL_POLICY, now=sandbox_clock.now()).state()
    [event] = events(LegallyMailSignatureTrigger(message_ids=uuids, target="signed", min_fraction=1, state=state,
                                                 conn_id=legallymail_conn))
    assert event["status"] == "success"
    lists = [r for r in sandbox.requests if r.path.endswith("/signatures")]
    singles = [r for r in sandbox.requests if r.path.endswith("/signature")]
    assert len(lists) == 1
    assert sorted(r.query["uuid"] for r in singles) == sorted(uuids[:5])
    times = sorted(r.at.timestamp() for r in sandbox.requests)
    assert max(sum(1 for u in times if t <= u < t + 60) for t in times) <= 10
