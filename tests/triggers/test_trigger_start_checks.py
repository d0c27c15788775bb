"""A trigger rebuilt from serialised kwargs (which can be edited in the database) checks its ids and its
poll policy as the sensor did, and refuses before any request."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest

from airflow_provider_mensatek.delivery import floors as poll_floors
from airflow_provider_mensatek.delivery.polling import LEGALLYMAIL_POLICY, MENSATEK_POLICY, PollPolicy
from airflow_provider_mensatek.delivery.waiting import DeliveryWaiter
from airflow_provider_mensatek.sandbox import Sandbox
from airflow_provider_mensatek.triggers.delivery import (
    DeliveryStatusTrigger,
    LegallyMailEmailTrigger,
    LegallyMailSignatureTrigger,
    LegallyMailSmsTrigger,
    MensatekCertifiedEmailTrigger,
    MensatekSmsDeliveryTrigger,
)
from tests.sandbox_clock import SandboxClock

ALL_TRIGGERS = [MensatekCertifiedEmailTrigger, MensatekSmsDeliveryTrigger, LegallyMailEmailTrigger,
                LegallyMailSignatureTrigger, LegallyMailSmsTrigger]
IDS = {"mensatek": "108366001", "legallymail": "b1f0c6a2-5d1e-4f8a-9c3b-2a7e1d4f6b90"}
POLICIES = {"mensatek": MENSATEK_POLICY, "legallymail": LEGALLYMAIL_POLICY}
FAST = PollPolicy(initial_delay=0.2, min_interval=0.2, max_interval=1.0)


@pytest.fixture
def conns(mensatek_conn: str, legallymail_conn: str) -> None:
    """Both default connections on the sandbox."""


def vendor(cls: type[DeliveryStatusTrigger]) -> str:
    return cls.channel.split(".")[0]


def rebuilt(cls: type[DeliveryStatusTrigger], now: float, *, policy: PollPolicy | None = None,
            edit: Any = None) -> DeliveryStatusTrigger:
    """The trigger as the triggerer rebuilds it: serialised, through JSON (edited), constructed again."""
    key = IDS[vendor(cls)]
    waiter = DeliveryWaiter.start(lambda keys: iter(()), [key], target="delivered", min_fraction=1,
                                  policy=policy or POLICIES[vendor(cls)], now=now)
    trigger = cls(message_ids=[key], target="delivered", min_fraction=1.0, state=waiter.state(),
                  conn_id=f"{vendor(cls)}_default")
    _, kwargs = trigger.serialize()
    kwargs = json.loads(json.dumps(kwargs))
    if edit is not None:
        edit(kwargs)
    return cls(**kwargs)


def events(trigger: DeliveryStatusTrigger) -> list[dict[str, Any]]:
    async def collect() -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    return asyncio.run(collect())


def refused(trigger: DeliveryStatusTrigger, sandbox: Sandbox, clock: SandboxClock, match: str) -> None:
    [event] = events(trigger)
    assert event["status"] == "error" and event["result"] is None
    assert event["error"] == "ValidationError"
    assert re.search(match, event["message"]), event["message"]
    assert sandbox.requests == [] and clock.sleeps == []


@pytest.mark.parametrize("cls", ALL_TRIGGERS)
def test_a_trigger_with_a_policy_faster_than_the_vendor_floor_refuses(
    sandbox: Sandbox, sandbox_clock: SandboxClock, conns: None, monkeypatch: pytest.MonkeyPatch,
    cls: type[DeliveryStatusTrigger],
) -> None:
    monkeypatch.setattr(poll_floors, "floors_apply", lambda base_url: True)  # as against the real vendor

    def speed_up(kwargs: dict[str, Any]) -> None:
        kwargs["state"]["schedule"]["policy"].update(initial_delay=0.2, min_interval=0.2, max_interval=1.0)

    refused(rebuilt(cls, sandbox_clock.now(), edit=speed_up), sandbox, sandbox_clock,
            rf"poll_policy is faster than {vendor(cls)} accepts")
    refused(rebuilt(cls, sandbox_clock.now(), policy=FAST), sandbox, sandbox_clock, "faster than")


@pytest.mark.parametrize("cls", ALL_TRIGGERS)
def test_a_trigger_with_edited_ids_refuses(
    sandbox: Sandbox, sandbox_clock: SandboxClock, conns: None, cls: type[DeliveryStatusTrigger],
) -> None:
    def bad_ids(kwargs: dict[str, Any]) -> None:
        kwargs["message_ids"] = ["None"]

    def bad_schedule_key(kwargs: dict[str, Any]) -> None:
        messages = kwargs["state"]["schedule"]["messages"]
        messages["not an id"] = messages.pop(IDS[vendor(cls)])

    def broken_state(kwargs: dict[str, Any]) -> None:
        del kwargs["state"]["schedule"]["policy"]

    refused(rebuilt(cls, sandbox_clock.now(), edit=bad_ids), sandbox, sandbox_clock, "pushed no ids")
    refused(rebuilt(cls, sandbox_clock.now(), edit=bad_schedule_key), sandbox, sandbox_clock,
            "whole number|identifier the vendor returned")
    refused(rebuilt(cls, sandbox_clock.now(), edit=broken_state), sandbox, sandbox_clock, "Malformed trigger state")


def test_the_loopback_sandbox_relaxes_the_floors_for_triggers(
    sandbox: Sandbox, sandbox_clock: SandboxClock, conns: None,
) -> None:
    from airflow_provider_mensatek.hooks.mensatek import MensatekHook

    sandbox.step_seconds = 1
    with MensatekHook().get_conn() as client:
        mid = client.send_sms("EMPRESA", "34600000001", "Hola").message_id
    sandbox.clear_requests()
    trigger = MensatekSmsDeliveryTrigger(
        message_ids=[str(mid)], target="delivered", min_fraction=1.0, conn_id="mensatek_default",
        state=DeliveryWaiter.start(lambda keys: iter(()), [mid], target="delivered", min_fraction=1, policy=FAST,
                                   now=sandbox_clock.now()).state())
    [event] = events(trigger)
    assert event["status"] == "success"
    assert len(sandbox.requests_to("GetReportSMS")) > 1
