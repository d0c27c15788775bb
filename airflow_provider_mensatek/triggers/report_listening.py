"""A deferred wait in webhook mode: listen to the reports the receiver stores, reconcile a long silence.

It reads every message's state once when it starts (a report may have come
before the deferral), then sleeps until the process's journal watcher
(:mod:`.report_watcher`) says one of its messages changed, its next reconcile is
due, or a "no reports lately" warning is; each wake reads only what changed. No
vendor call is made while reports arrive: the only calls are reconcile polls,
through the wait's :class:`PollPolicy`, fetcher and shared client, in the
provider's thread pool like every other blocking call of its triggers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator
from functools import partial
from typing import Any

from airflow.triggers.base import TriggerEvent

from airflow_provider_mensatek.clients._http.loop_waits import LoopJob
from airflow_provider_mensatek.delivery import waiting
from airflow_provider_mensatek.delivery.report_waiting import ReportWait
from airflow_provider_mensatek.triggers import report_watcher, thread_pool
from airflow_provider_mensatek.triggers.report_store import read_for
from airflow_provider_mensatek.triggers.report_watcher import Subscription


async def listen(wait: ReportWait, job: LoopJob, report_channel: str,
                 log: logging.Logger | Any) -> AsyncGenerator[TriggerEvent, None]:
    """Yield the wait's one event (success or failed); a vendor error of a reconcile poll is raised."""
    clock = waiting.CLOCK

    async def read(keys: list[str] | None) -> None:
        seq, states = await thread_pool.run(job, partial(read_for, wait, report_channel, keys))
        moved = wait.apply(seq, states, clock.now())
        if moved:
            log.info("Reports moved %d message(s) on: %s", len(moved), ", ".join(moved[:10]))

    await read(wait.pending())  # every message once: a report may have come before the deferral
    watch = report_watcher.watcher()
    subscription = watch.subscribe(report_channel, wait.pending(), wait.journal)
    try:
        while True:
            if wait.reconcile_due(clock.now()):
                await thread_pool.run(job, lambda: wait.reconcile(clock.now()))
            for text in wait.warnings(clock.now()):
                log.warning("%s", text)
            outcome = wait.evaluate()
            if outcome.finished:
                yield TriggerEvent({"status": outcome.kind, "message": outcome.message, "result": outcome.result})
                return
            watch.forget(subscription, subscription.keys - set(wait.pending()))
            wake = min(t for t in (outcome.next_check_at, wait.next_warning_at()) if t is not None)
            log.info("%s; listening for reports (next reconcile check in %.0f s)", outcome.message,
                     (outcome.next_check_at or wake) - clock.now())
            if await _woken(subscription, wake - clock.now()):
                await read(subscription.take())
    finally:
        watch.forget(subscription)


async def _woken(subscription: Subscription, seconds: float) -> bool:
    """True when the watcher woke the subscription before ``seconds`` passed on the provider's clock."""
    if subscription.woken.is_set():
        return True
    woken = asyncio.ensure_future(subscription.woken.wait())
    slept = asyncio.ensure_future(waiting.CLOCK.async_sleep(seconds))
    done, pending = await asyncio.wait({woken, slept}, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    return woken in done
