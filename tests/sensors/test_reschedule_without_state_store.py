"""Reschedule mode with no task state store (Airflow < 3.3): the wait counts from the first try.

Runs on every Airflow (the context simply has no store), so the path Airflow 3.2 takes is tested on
3.3 too. Each try is a new sensor object, as a rescheduled try runs in a new process; ``FirstTryTI``
answers ``get_first_reschedule_date`` as Airflow does: nothing on the first try, then the start of the
first try.
"""

from __future__ import annotations

import itertools
import math
from datetime import datetime
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowRescheduleException, AirflowSensorTimeout

from airflow_provider_mensatek.clients import MensatekClient
from airflow_provider_mensatek.sandbox import Sandbox
from airflow_provider_mensatek.sensors.delivery import MensatekCertifiedEmailSensor
from tests.sandbox_clock import SandboxClock

REPORT = "GetReportEMAILCERTIFICADO"
#: More tries than any of these waits needs: a sensor that never ends fails the test instead of hanging it.
MAX_TRIES = 60


class FirstTryTI:
    """The task instance as a rescheduled try sees it (no task state store in its context)."""

    dag_id, task_id, run_id, map_index = "campaign", "wait", "manual__1", -1

    def __init__(self, clock: SandboxClock) -> None:
        self.clock = clock
        self.first_try_at: float | None = None

    def get_first_reschedule_date(self, context: Any) -> datetime | None:
        # Airflow keeps a real date; the sandbox clock maps it to simulated time and back.
        return None if self.first_try_at is None else self.clock.wall_time(self.first_try_at)


def send(client: MensatekClient, *emails: str) -> list[int]:
    return client.send_certified_email("sender@example.com", list(emails), "Asunto", "Mensaje").message_ids


def run_tries(sensor_kwargs: dict[str, Any], sandbox: Sandbox, clock: SandboxClock) -> tuple[Any, int]:
    """Run tries until the wait ends, as the scheduler would: each at its reschedule date."""
    ti = FirstTryTI(clock)
    started = clock.now()
    for tries in range(1, MAX_TRIES + 1):
        sensor = MensatekCertifiedEmailSensor(task_id="wait", mode="reschedule", **sensor_kwargs)
        try:
            return sensor.execute({"ti": ti}), tries
        except AirflowRescheduleException as exc:
            if ti.first_try_at is None:
                ti.first_try_at = started
            # Rounded up: the real milliseconds spent since the date was set would make the try early.
            wait = (exc.reschedule_date - datetime.now(exc.reschedule_date.tzinfo)).total_seconds()
            sandbox.clock.advance(max(math.ceil(wait), 0))
    pytest.fail(f"The wait did not end in {MAX_TRIES} tries")


def report_times(sandbox: Sandbox) -> list[float]:
    return [r.at.timestamp() for r in sandbox.requests_to(REPORT)]


def test_the_initial_delay_runs_once_then_the_backoff_grows(
    sandbox: Sandbox, sandbox_clock: SandboxClock, mensatek_conn: str, mensatek_client: MensatekClient,
) -> None:
    sandbox.step_seconds = 3000
    [mid] = send(mensatek_client, "ana@example.com")
    started = sandbox_clock.now()

    result, tries = run_tries({"message_ids": [mid]}, sandbox, sandbox_clock)

    times = report_times(sandbox)
    assert tries == len(times) + 1  # the first try only scheduled: nothing is due before 5 minutes
    assert 300 <= times[0] - started <= 600
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(gaps) >= 2 and gaps == sorted(gaps) and all(300 <= g <= 3600 for g in gaps), gaps
    assert result["reached"] == [str(mid)]


def test_the_timeout_counts_from_the_first_try(
    sandbox: Sandbox, sandbox_clock: SandboxClock, mensatek_conn: str, mensatek_client: MensatekClient,
) -> None:
    sandbox.step_seconds = 1_000_000  # the email stays pending
    [mid] = send(mensatek_client, "ana@example.com")
    started = sandbox_clock.now()

    with pytest.raises(AirflowSensorTimeout, match="timed out after 7200 s"):
        run_tries({"message_ids": [mid], "timeout": 7200}, sandbox, sandbox_clock)

    assert 7200 <= sandbox_clock.now() - started < 7200 + 60
    assert len(report_times(sandbox)) == 5  # then 5, 10, 20 and 40 minutes apart: the next is past 2 h


def test_one_try_asks_about_the_whole_campaign_at_once(
    sandbox: Sandbox, sandbox_clock: SandboxClock, mensatek_conn: str, mensatek_client: MensatekClient,
) -> None:
    sandbox.step_seconds = 3000
    ids = send(mensatek_client, *(f"user{i}@example.com" for i in range(5)))

    result, tries = run_tries({"message_ids": ids}, sandbox, sandbox_clock)

    assert sorted(result["reached"]) == sorted(str(i) for i in ids)
    rounds: dict[float, list[int]] = {}
    for request in sandbox.requests_to(REPORT):
        rounds.setdefault(request.at.timestamp(), []).append(int(request.param("Idmensaje")))
    # Every round asks about every message once (what the earlier tries learnt is forgotten), and
    # there is one round per try after the first: no try per message, each asking about all.
    assert all(sorted(asked) == sorted(ids) for asked in rounds.values()), rounds
    assert len(rounds) == tries - 1
    times = sorted(rounds)
    assert all(b - a >= 300 for a, b in itertools.pairwise(times))
