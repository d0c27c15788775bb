"""Reschedule mode on an Airflow with no task state store (< 3.3): the wait counts from its first try.

Each try of a sensor in reschedule mode runs in a new process. On Airflow 3.3 the polling schedule
waits in the task state store between tries; older releases have no store, and a schedule started
anew at each try applied the initial delay again every time: the sensor never asked the vendor, and
its timeout, counted from the schedule's start, never ran out. Airflow's own sensors measure a
reschedule-mode timeout from the first try (``ti.get_first_reschedule_date``); this wait does the
same, and rebuilds its schedule from the time elapsed since then
(:meth:`~airflow_provider_mensatek.delivery.polling.PollSchedule.as_if_on_time`).
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_mensatek.delivery.polling import PollPolicy, PollSchedule
    from airflow_provider_mensatek.delivery.waiting import WallClock


def schedule_from_first_try(context: Context, policy: PollPolicy, keys: list[str],
                            clock: WallClock) -> PollSchedule:
    """The schedule of this task instance's wait, as if it had been kept since its first try."""
    from airflow_provider_mensatek.delivery.polling import PollSchedule

    ti: Any = context["ti"]
    now = clock.now()
    first = ti.get_first_reschedule_date(context)
    started_at = clock.clock_time(first) if first is not None else now
    # The jitter must be drawn the same at every try: seeded by what names this task instance.
    seed = random.Random(f"{ti.dag_id}/{ti.task_id}/{ti.run_id}/{ti.map_index}").random()
    return PollSchedule.as_if_on_time(policy, keys, started_at=min(started_at, now), now=now, seed=seed)
