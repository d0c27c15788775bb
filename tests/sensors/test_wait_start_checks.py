"""Every sensor refuses, before its first request or wait, ids no status call could use and a poll
policy faster than the vendor accepts (relaxed only for the loopback sandbox)."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException, TaskDeferred

from airflow_provider_mensatek.clients import MensatekClient
from airflow_provider_mensatek.delivery import floors as poll_floors
from airflow_provider_mensatek.delivery.polling import PollPolicy
from airflow_provider_mensatek.sandbox import Sandbox
from airflow_provider_mensatek.sensors.delivery import (
    DeliveryStatusSensor,
    LegallyMailEmailSensor,
    LegallyMailSignatureSensor,
    LegallyMailSmsSensor,
    MensatekCertifiedEmailSensor,
    MensatekSmsDeliverySensor,
)
from tests.sandbox_clock import DictStateStore, SandboxClock

MENSATEK_SENSORS = [MensatekCertifiedEmailSensor, MensatekSmsDeliverySensor]
LEGALLYMAIL_SENSORS = [LegallyMailEmailSensor, LegallyMailSignatureSensor, LegallyMailSmsSensor]
ALL_SENSORS = MENSATEK_SENSORS + LEGALLYMAIL_SENSORS
#: Ids of the right shape for each vendor (the refusals below happen before anyone asks about them).
GOOD_IDS = {"mensatek": ["108366001"], "legallymail": ["b1f0c6a2-5d1e-4f8a-9c3b-2a7e1d4f6b90"]}
FAST = {"initial_delay": 0.2, "min_interval": 0.2, "max_interval": 1.0}


@pytest.fixture
def conns(mensatek_conn: str, legallymail_conn: str) -> None:
    """Both default connections on the sandbox, the LegallyMail limiter on the sandbox clock."""


def context() -> dict[str, Any]:
    return {"task_state_store": DictStateStore()}


def sensor(cls: type[DeliveryStatusSensor], **kwargs: Any) -> DeliveryStatusSensor:
    kwargs.setdefault("message_ids", GOOD_IDS[cls.vendor])
    return cls(task_id="wait", **kwargs)


def _no_network(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError(f"a network lookup was attempted: {args[:2]}")


def assert_nothing_happened(sandbox: Sandbox, clock: SandboxClock) -> None:
    assert sandbox.requests == []  # no status call, not even a rate-limited one
    assert clock.sleeps == []      # and no wait before failing


@pytest.mark.parametrize(("cls", "ids", "error"), [
    (MensatekCertifiedEmailSensor, "abc", "whole number"),
    (MensatekCertifiedEmailSensor, "108366001,108366002", "whole number"),
    (MensatekSmsDeliverySensor, [108366001, "12x"], "whole number"),
    (MensatekSmsDeliverySensor, "[108366001, 2", "not valid JSON"),
    (MensatekCertifiedEmailSensor, "None", "upstream task pushed no ids"),
    (LegallyMailEmailSensor, "None", "upstream task pushed no ids"),
    (LegallyMailSignatureSensor, "uuid with spaces", "identifier the vendor returned"),
    (LegallyMailSmsSensor, ["ok-id", "x" * 200], "identifier the vendor returned"),
    (LegallyMailSmsSensor, [], "No message ids"),
])
@pytest.mark.parametrize("deferrable", [False, True])
def test_unusable_message_ids_fail_at_the_start(
    sandbox: Sandbox, sandbox_clock: SandboxClock, conns: None, cls: type[DeliveryStatusSensor], ids: Any,
    error: str, deferrable: bool,
) -> None:
    with pytest.raises(AirflowFailException, match=error):
        sensor(cls, message_ids=ids, deferrable=deferrable).execute(context())
    assert_nothing_happened(sandbox, sandbox_clock)


@pytest.mark.parametrize("cls", ALL_SENSORS)
@pytest.mark.parametrize("policy", [FAST, PollPolicy(**FAST), {"min_interval": 0.2}],
                         ids=["dict", "PollPolicy", "min_interval-only"])
@pytest.mark.parametrize("deferrable", [False, True])
def test_a_policy_faster_than_the_vendor_floor_fails_before_any_request(
    sandbox: Sandbox, sandbox_clock: SandboxClock, conns: None, monkeypatch: pytest.MonkeyPatch,
    cls: type[DeliveryStatusSensor], policy: Any, deferrable: bool,
) -> None:
    # The sandbox stands in for the real host: the floors apply to it as they would to the vendor.
    monkeypatch.setattr(poll_floors, "floors_apply", lambda base_url: True)
    with pytest.raises(AirflowFailException, match=rf"poll_policy is faster than {cls.vendor} accepts: .*min_interval"):
        sensor(cls, poll_policy=policy, deferrable=deferrable).execute(context())
    assert_nothing_happened(sandbox, sandbox_clock)


def test_the_floors_are_60_s_for_mensatek_and_6_s_for_legallymail(
    sandbox: Sandbox, sandbox_clock: SandboxClock, conns: None, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(poll_floors, "floors_apply", lambda base_url: True)
    for cls, floor in ((MensatekCertifiedEmailSensor, 60.0), (LegallyMailEmailSensor, 6.0)):
        at_floor = {"initial_delay": floor, "min_interval": floor}
        with pytest.raises(TaskDeferred):  # accepted: the wait is handed to the triggerer
            sensor(cls, poll_policy=at_floor, deferrable=True).execute(context())
        for name in at_floor:
            below = {**at_floor, name: floor - 0.5}
            with pytest.raises(AirflowFailException, match=rf"{name}={floor - 0.5:g} s \(at least {floor:g} s\)"):
                sensor(cls, poll_policy=below, deferrable=True).execute(context())
    assert_nothing_happened(sandbox, sandbox_clock)


@pytest.mark.parametrize(("cls", "conn", "host"), [
    (MensatekSmsDeliverySensor, "mensatek", "https://mensatek.invalid/v7"),
    (LegallyMailSignatureSensor, "legallymail", "https://legallymail.invalid/api"),
])
def test_a_non_loopback_host_gets_the_floors_without_any_network(
    sandbox_clock: SandboxClock, monkeypatch: pytest.MonkeyPatch, cls: type[DeliveryStatusSensor], conn: str,
    host: str,
) -> None:
    # ".invalid" never resolves (RFC 2606), and a guard makes sure nothing even tries to resolve it.
    monkeypatch.setattr(socket, "getaddrinfo", _no_network)
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn.upper()}_DEFAULT", json.dumps({
        "conn_type": conn, "login": "user", "password": "not-a-real-token", "host": host}))
    with pytest.raises(AirflowFailException, match=r"faster than .* only against a loopback host"):
        sensor(cls, poll_policy=FAST).execute(context())
    with pytest.raises(TaskDeferred):  # the default policy is within the floors
        sensor(cls, deferrable=True).execute(context())
    assert sandbox_clock.sleeps == []


def test_the_loopback_sandbox_relaxes_the_floors(
    sandbox: Sandbox, sandbox_clock: SandboxClock, mensatek_conn: str, mensatek_client: MensatekClient,
) -> None:
    sandbox.step_seconds = 5
    [mid] = mensatek_client.send_certified_email("s@example.com", ["ana@example.com"], "A", "M").message_ids
    policy = {**FAST, "initial_spread": 0}
    result = MensatekCertifiedEmailSensor(task_id="wait", message_ids=mid, poll_policy=policy).execute(context())
    assert result["reached"] == [str(mid)]
    checks = [r.at.timestamp() for r in sandbox.requests_to("GetReportEMAILCERTIFICADO")]
    assert len(checks) > 5 and checks[-1] - checks[0] < 60  # faster than the real vendor would allow
