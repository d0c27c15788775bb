"""DeliveryWaiter over real HTTP against the sandbox, with the sandbox clock driving the schedule."""

from __future__ import annotations

import itertools
import json
import random

import pytest

from airflow_provider_mensatek.clients import MensatekClient
from airflow_provider_mensatek.clients.errors import AuthenticationError
from airflow_provider_mensatek.delivery.fetchers import mensatek_certified_email
from airflow_provider_mensatek.delivery.polling import MENSATEK_POLICY, PollPolicy
from airflow_provider_mensatek.delivery.waiting import (
    OUTCOME_FAILED,
    OUTCOME_SUCCESS,
    OUTCOME_WAITING,
    DeliveryWaiter,
    WaitOutcome,
)
from airflow_provider_mensatek.sandbox import Fault, Sandbox
from tests.conftest import MENSATEK_USER

REPORT = "GetReportEMAILCERTIFICADO"


def send(client: MensatekClient, *emails: str) -> list[int]:
    result = client.send_certified_email("sender@example.com", list(emails), "Asunto", "Mensaje")
    return result.message_ids


def now(sandbox: Sandbox) -> float:
    return sandbox.clock.now().timestamp()


def drive(waiter: DeliveryWaiter, sandbox: Sandbox, limit: int = 500) -> WaitOutcome:
    """Poll, then jump the sandbox clock to the next due time, until the wait is over."""
    for _ in range(limit):
        outcome = waiter.poll(now(sandbox))
        if outcome.finished:
            return outcome
        assert outcome.next_check_at is not None
        sandbox.clock.advance(max(outcome.next_check_at - now(sandbox), 0.0))
    raise AssertionError("wait did not finish")


def report_times(sandbox: Sandbox, message_id: int) -> list[float]:
    return [r.at.timestamp() for r in sandbox.requests_to(REPORT) if int(r.param("Idmensaje")) == message_id]


def test_check_schedule_follows_the_mensatek_policy(sandbox: Sandbox, mensatek_client: MensatekClient) -> None:
    sandbox.step_seconds = 3000  # certified 100 minutes after the send
    [mid] = send(mensatek_client, "ana@example.com")
    started = now(sandbox)
    waiter = DeliveryWaiter.start(mensatek_certified_email(mensatek_client), mid, target="certified",
                                  min_fraction=1, policy=MENSATEK_POLICY, now=started, rng=random.Random(5))
    outcome = drive(waiter, sandbox)

    assert outcome.kind == OUTCOME_SUCCESS
    times = report_times(sandbox, mid)
    assert times[0] - started >= 300
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(300 <= g <= 3600 for g in gaps), gaps
    assert gaps == sorted(gaps)  # backing off, never speeding up
    assert times[-1] - started >= 6000
    # What the vendor received: the documented function, parameter and Basic auth.
    request = sandbox.requests_to(REPORT)[0]
    assert request.method == "POST"
    assert request.basic_auth == (MENSATEK_USER, sandbox.mensatek_token)
    assert request.params == {"Idmensaje": mid, "Resp": "JSON"}
    report = outcome.result["reports"][str(mid)]
    assert report["code"] == "14"
    assert report["status_text"] == "Entregado y certificado"
    assert report["checks"] == len(times)
    json.dumps(outcome.result)


def test_final_ids_are_never_queried_again(sandbox: Sandbox, mensatek_client: MensatekClient) -> None:
    fast, slow = send(mensatek_client, "fast@example.com", "read-me@example.com")
    policy = PollPolicy(initial_delay=60, min_interval=60, max_interval=60, jitter=0)
    waiter = DeliveryWaiter.start(mensatek_certified_email(mensatek_client), [fast, slow], target="read",
                                  min_fraction=1, policy=policy, now=now(sandbox))
    sandbox.clock.advance(130)  # both certified (14); only read-me@ will be read (11) at 180 s
    # "fast" reaches 14 (certified, not read) and stays there: it keeps being checked.
    outcome = waiter.poll(now(sandbox))
    assert outcome.kind == OUTCOME_WAITING
    sandbox.clock.advance(60)
    outcome = waiter.poll(now(sandbox))
    assert outcome.result["reached"] == [str(slow)]
    before = len(report_times(sandbox, slow))
    for _ in range(3):
        sandbox.clock.advance(60)
        waiter.poll(now(sandbox))
    assert len(report_times(sandbox, slow)) == before
    assert len(report_times(sandbox, fast)) == 5


def test_min_fraction_of_a_campaign(sandbox: Sandbox, mensatek_client: MensatekClient) -> None:
    ids = send(mensatek_client, "a@example.com", "b@example.com", "bounce@example.com")
    policy = PollPolicy(initial_delay=200, min_interval=60, max_interval=60, jitter=0)
    waiter = DeliveryWaiter.start(mensatek_certified_email(mensatek_client), ids, target="certified",
                                  min_fraction=0.6, policy=policy, now=now(sandbox))
    outcome = drive(waiter, sandbox)
    assert outcome.kind == OUTCOME_SUCCESS
    assert outcome.result["reached"] == [str(ids[0]), str(ids[1])]
    assert outcome.result["failed"] == [str(ids[2])]


def test_a_bounce_fails_fast_naming_the_id_and_vendor_text(sandbox: Sandbox,
                                                           mensatek_client: MensatekClient) -> None:
    ids = send(mensatek_client, "a@example.com", "bounce@example.com")
    policy = PollPolicy(initial_delay=200, min_interval=60, max_interval=60, jitter=0)
    waiter = DeliveryWaiter.start(mensatek_certified_email(mensatek_client), ids, target="certified",
                                  min_fraction=1, policy=policy, now=now(sandbox))
    outcome = drive(waiter, sandbox)
    assert outcome.kind == OUTCOME_FAILED
    assert f"{ids[1]}: 50 Rebotado: el buzón no existe [bounced]" in outcome.message


def test_retry_after_is_honoured(sandbox: Sandbox, mensatek_client: MensatekClient) -> None:
    [mid] = send(mensatek_client, "a@example.com")
    policy = PollPolicy(initial_delay=0, min_interval=10, max_interval=10, jitter=0)
    waiter = DeliveryWaiter.start(mensatek_certified_email(mensatek_client), mid, target="certified",
                                  min_fraction=1, policy=policy, now=now(sandbox))
    # Longer than the client's max_retry_wait (60 s in the fixture): the transport gives up at once.
    sandbox.inject(REPORT, Fault("status", status=429, retry_after=900))
    start = now(sandbox)
    outcome = waiter.poll(start)
    assert outcome.kind == OUTCOME_WAITING
    assert outcome.next_check_at == start + 900
    sandbox.clock.advance(899)
    waiter.poll(now(sandbox))
    assert len(sandbox.requests_to(REPORT)) == 1
    sandbox.clock.advance(1)
    assert waiter.poll(now(sandbox)).kind == OUTCOME_SUCCESS
    assert len(sandbox.requests_to(REPORT)) == 2


def test_auth_failure_stops_and_is_never_repeated(sandbox: Sandbox) -> None:
    client = MensatekClient(MENSATEK_USER, "wrong-token", base_url=sandbox.mensatek_url)
    policy = PollPolicy(initial_delay=0, min_interval=1, max_interval=1, jitter=0)
    waiter = DeliveryWaiter.start(mensatek_certified_email(client), [1, 2, 3], target="certified",
                                  min_fraction=1, policy=policy, now=now(sandbox))
    with pytest.raises(AuthenticationError):
        waiter.poll(now(sandbox))
    sandbox.clock.advance(5)
    with pytest.raises(AuthenticationError):
        waiter.poll(now(sandbox))
    assert len(sandbox.requests) == 1


def test_state_round_trip_continues_the_backoff(sandbox: Sandbox, mensatek_client: MensatekClient) -> None:
    [mid] = send(mensatek_client, "a@example.com")
    sandbox.step_seconds = 10_000
    fetch = mensatek_certified_email(mensatek_client)
    waiter = DeliveryWaiter.start(fetch, mid, target="certified", min_fraction=1, policy=MENSATEK_POLICY,
                                  now=now(sandbox))
    sandbox.clock.advance(600)
    first = waiter.poll(now(sandbox))
    state = json.loads(json.dumps(waiter.state()))
    resumed = DeliveryWaiter.resume(fetch, state, target="certified", min_fraction=1)
    assert resumed.state() == waiter.state()
    # Straight after the resume nothing is due: no burst of checks after a reschedule.
    assert resumed.poll(now(sandbox)).next_check_at == first.next_check_at
    assert len(sandbox.requests_to(REPORT)) == 1


def test_bad_ids_make_no_request(sandbox: Sandbox, mensatek_client: MensatekClient) -> None:
    from airflow_provider_mensatek.clients.errors import ValidationError

    for bad in ([], None, [True], ["  "], {"a": 1}):
        with pytest.raises(ValidationError):
            DeliveryWaiter.start(mensatek_certified_email(mensatek_client), bad, target="certified",
                                 min_fraction=1, policy=MENSATEK_POLICY, now=0.0)
    with pytest.raises(ValidationError):
        DeliveryWaiter.start(mensatek_certified_email(mensatek_client), [1], target="certified",
                             min_fraction=0, policy=MENSATEK_POLICY, now=0.0)
    assert len(sandbox.requests) == 0


def test_ids_from_a_templated_xcom_json_list() -> None:
    from airflow_provider_mensatek.delivery.waiting import normalise_ids

    assert normalise_ids("[108366001, 108366002]") == ["108366001", "108366002"]
    assert normalise_ids(108366001) == ["108366001"]
    assert normalise_ids(["a", "a", "b"]) == ["a", "b"]


def test_min_fraction_from_a_template() -> None:
    from airflow_provider_mensatek.clients.errors import ValidationError
    from airflow_provider_mensatek.delivery.waiting import check_fraction

    assert check_fraction("0.75") == 0.75
    for bad in ("most", "0", "2", True, None):
        with pytest.raises(ValidationError):
            check_fraction(bad)
