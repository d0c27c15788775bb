"""Status sensors in poke and reschedule mode, and the hand-off to a trigger, against the sandbox."""

from __future__ import annotations

import itertools
import json
from datetime import datetime
from typing import Any

import pytest
from airflow.sdk.exceptions import (
    AirflowFailException,
    AirflowRescheduleException,
    AirflowSensorTimeout,
    AirflowSkipException,
    TaskDeferred,
)

from airflow_provider_mensatek.clients import MensatekClient
from airflow_provider_mensatek.sandbox import Fault, Sandbox
from airflow_provider_mensatek.sensors.delivery import WAIT_STATE_KEY, MensatekCertifiedEmailSensor
from airflow_provider_mensatek.triggers.delivery import MensatekCertifiedEmailTrigger
from tests.conftest import MENSATEK_TOKEN, MENSATEK_USER
from tests.sandbox_clock import DictStateStore, SandboxClock

REPORT = "GetReportEMAILCERTIFICADO"


def send(client: MensatekClient, *emails: str) -> list[int]:
    return client.send_certified_email("sender@example.com", list(emails), "Asunto", "Mensaje").message_ids


def report_times(sandbox: Sandbox) -> list[float]:
    return [r.at.timestamp() for r in sandbox.requests_to(REPORT)]


def context() -> dict[str, Any]:
    return {"task_state_store": DictStateStore()}


def test_poke_mode_follows_the_policy_and_returns_reports(
    sandbox: Sandbox, sandbox_clock: SandboxClock, mensatek_conn: str, mensatek_client: MensatekClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sandbox.step_seconds = 3000
    [mid] = send(mensatek_client, "ana@example.com")
    started = sandbox_clock.now()
    sensor = MensatekCertifiedEmailSensor(task_id="wait", message_ids=mid)
    result = sensor.execute(context())

    times = report_times(sandbox)
    assert times[0] - started >= 300
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(300 <= g <= 3600 for g in gaps), gaps
    assert result["reached"] == [str(mid)]
    assert result["reports"][str(mid)]["code"] == "14"
    assert result["reports"][str(mid)]["text"] == "Entregado y certificado"
    json.dumps(result)
    assert all(r.basic_auth == (MENSATEK_USER, MENSATEK_TOKEN) for r in sandbox.requests_to(REPORT))
    assert MENSATEK_TOKEN not in caplog.text
    assert MENSATEK_TOKEN not in json.dumps(result)


def test_no_vendor_minute_ever_sees_more_than_one_check_per_message(
    sandbox: Sandbox, sandbox_clock: SandboxClock, mensatek_conn: str, mensatek_client: MensatekClient,
) -> None:
    sandbox.step_seconds = 2000
    ids = send(mensatek_client, *(f"user{i}@example.com" for i in range(5)))
    MensatekCertifiedEmailSensor(task_id="wait", message_ids=ids).execute(context())
    per_minute: dict[tuple[int, int], int] = {}
    for request in sandbox.requests_to(REPORT):
        key = (int(request.param("Idmensaje")), int(request.at.timestamp() // 300))
        per_minute[key] = per_minute.get(key, 0) + 1
    # Mensatek policy: at most one check of a message in any 5-minute bucket.
    assert max(per_minute.values()) == 1
    assert len(sandbox.requests_to(REPORT)) <= 5 * 6


def test_reschedule_mode_continues_the_backoff(
    sandbox: Sandbox, sandbox_clock: SandboxClock, mensatek_conn: str, mensatek_client: MensatekClient,
) -> None:
    sandbox.step_seconds = 3000
    [mid] = send(mensatek_client, "ana@example.com")
    started = sandbox_clock.now()
    ctx = context()
    reschedules = 0
    while True:
        # A new operator object each time, as a rescheduled try runs in a new process.
        sensor = MensatekCertifiedEmailSensor(task_id="wait", message_ids=[mid], mode="reschedule")
        try:
            result = sensor.execute(ctx)
            break
        except AirflowRescheduleException as exc:
            reschedules += 1
            stored = ctx["task_state_store"].get(WAIT_STATE_KEY)
            wake = min(m["next_at"] for m in stored["state"]["schedule"]["messages"].values())
            assert abs((exc.reschedule_date - datetime.now(exc.reschedule_date.tzinfo)).total_seconds()
                       - (wake - sandbox_clock.now())) < 5
            sandbox.clock.advance(wake - sandbox_clock.now())
    times = report_times(sandbox)
    assert reschedules == len(times)  # the first try makes no request: nothing is due before 5 min
    assert times[0] - started >= 300
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps == sorted(gaps) and all(300 <= g <= 3600 for g in gaps), gaps
    assert result["reached"] == [str(mid)]
    assert ctx["task_state_store"].get(WAIT_STATE_KEY) is None


def test_a_bounce_fails_with_the_vendor_text(
    sandbox: Sandbox, sandbox_clock: SandboxClock, mensatek_conn: str, mensatek_client: MensatekClient,
) -> None:
    ids = send(mensatek_client, "ok@example.com", "bounce@example.com")
    sensor = MensatekCertifiedEmailSensor(task_id="wait", message_ids=ids)
    with pytest.raises(AirflowFailException, match=rf"{ids[1]}: 50 Rebotado: el buzón no existe \[bounced\]"):
        sensor.execute(context())
    soft = MensatekCertifiedEmailSensor(task_id="wait2", message_ids=ids, soft_fail=True)
    with pytest.raises(AirflowSkipException, match="Rebotado"):
        soft.execute(context())


def test_auth_failure_fails_the_task_after_one_request(
    sandbox: Sandbox, sandbox_clock: SandboxClock, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_MENSATEK_DEFAULT", json.dumps({
        "conn_type": "mensatek", "login": MENSATEK_USER, "password": "wrong", "host": sandbox.mensatek_url}))
    sensor = MensatekCertifiedEmailSensor(task_id="wait", message_ids=[1, 2, 3],
                                          poll_policy={"initial_delay": 0})
    with pytest.raises(AirflowFailException, match="Authentication"):
        sensor.execute(context())
    assert len(sandbox.requests) == 1


def test_retry_after_pushes_the_next_check(
    sandbox: Sandbox, sandbox_clock: SandboxClock, mensatek_conn: str, mensatek_client: MensatekClient,
) -> None:
    [mid] = send(mensatek_client, "ana@example.com")
    # Above the transport's own retry ceiling (max_retry_wait 120 s): it reaches the policy.
    sandbox.inject(REPORT, Fault("status", status=429, retry_after=1800))
    MensatekCertifiedEmailSensor(task_id="wait", message_ids=mid, poll_policy={"jitter": 0}).execute(context())
    first, second = report_times(sandbox)
    assert second - first == pytest.approx(1800, abs=1)


def test_timeout(sandbox: Sandbox, sandbox_clock: SandboxClock, mensatek_conn: str,
                 mensatek_client: MensatekClient) -> None:
    sandbox.step_seconds = 100_000
    [mid] = send(mensatek_client, "ana@example.com")
    sensor = MensatekCertifiedEmailSensor(task_id="wait", message_ids=mid, timeout=3600)
    with pytest.raises(AirflowSensorTimeout):
        sensor.execute(context())
    assert sandbox_clock.now() - sandbox.requests_to(REPORT)[0].at.timestamp() < 3600


def test_bad_arguments_make_no_request(sandbox: Sandbox, sandbox_clock: SandboxClock, mensatek_conn: str) -> None:
    for kwargs in ({"message_ids": []}, {"message_ids": [1], "target": "bounced"},
                   {"message_ids": [1], "min_fraction": 1.5}, {"message_ids": [1], "poll_policy": {"jitter": 3}},
                   {"message_ids": ["abc"]}):
        sensor = MensatekCertifiedEmailSensor(task_id="wait", **{"poll_policy": {"initial_delay": 0}, **kwargs})
        with pytest.raises(AirflowFailException):
            sensor.execute(context())
    assert len(sandbox.requests) == 0


def test_deferrable_hands_the_schedule_to_the_trigger(
    sandbox: Sandbox, sandbox_clock: SandboxClock, mensatek_conn: str,
) -> None:
    sensor = MensatekCertifiedEmailSensor(task_id="wait", message_ids=[11, 12], deferrable=True, timeout=7200,
                                          target="read", min_fraction=0.5)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(context())
    trigger = deferred.value.trigger
    assert isinstance(trigger, MensatekCertifiedEmailTrigger)
    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.timeout is not None and deferred.value.timeout.total_seconds() == pytest.approx(7200, 1)
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_mensatek.triggers.delivery.MensatekCertifiedEmailTrigger"
    assert kwargs["message_ids"] == ["11", "12"]
    assert kwargs["target"] == "read" and kwargs["min_fraction"] == 0.5
    assert set(kwargs["state"]["schedule"]["messages"]) == {"11", "12"}
    assert len(sandbox.requests) == 0


def test_execute_complete(sandbox: Sandbox) -> None:
    sensor = MensatekCertifiedEmailSensor(task_id="wait", message_ids=[1])
    result = {"reached": ["1"], "reports": {"1": {"code": "14"}}}
    ctx = context()
    assert sensor.execute_complete(ctx, {"status": "success", "message": "ok", "result": result}) == result
    with pytest.raises(AirflowFailException, match="1: 50 Rebotado"):
        sensor.execute_complete(ctx, {"status": "failed", "message": "1: 50 Rebotado", "result": {}})
    with pytest.raises(AirflowFailException, match="Authentication"):
        sensor.execute_complete(ctx, {"status": "error", "message": "Authentication error", "result": None})


def test_an_unknown_id_fails_naming_it_with_the_vendor_answer(
    sandbox: Sandbox, sandbox_clock: SandboxClock, mensatek_conn: str,
) -> None:
    sensor = MensatekCertifiedEmailSensor(task_id="wait", message_ids=[999], poll_policy={"initial_delay": 0})
    with pytest.raises(AirflowFailException, match=r"999: -2 No permission to query this message \[failed\]"):
        sensor.execute(context())
    assert len(sandbox.requests_to(REPORT)) == 1


@pytest.mark.parametrize("code", [17, 160, 181])
def test_a_wait_for_certified_ends_on_each_email_contract_status(
    sandbox: Sandbox, sandbox_clock: SandboxClock, mensatek_conn: str, mensatek_client: MensatekClient,
    code: int,
) -> None:
    [mid] = send(mensatek_client, f"contract{code}@example.com")
    result = MensatekCertifiedEmailSensor(task_id="wait", message_ids=mid).execute(context())
    report = result["reports"][str(mid)]
    assert result["reached"] == [str(mid)]
    assert (report["code"], report["known"], report["status"]) == (str(code), True, "signed")
    assert len(report_times(sandbox)) == 1  # the first check (after 5 min) already saw the contract status
