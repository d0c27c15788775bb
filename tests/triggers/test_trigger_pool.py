"""Many triggers in one event loop: HTTP in the provider's bounded pool, rate-limit waits in the loop.

Over real HTTP against the sandbox, in simulated time (``LoopSandboxClock``): time moves to the
next sleeper only when every trigger is asleep, and a sleep inside a worker thread moves it on for
everyone, as a thread holding a pool slot while it sleeps holds up every job queued behind it.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

from airflow_provider_mensatek.clients import MensatekClient
from airflow_provider_mensatek.clients._http import rate_limit
from airflow_provider_mensatek.clients._http.transport import credential_key, resolve_base_url
from airflow_provider_mensatek.delivery import fetchers, waiting
from airflow_provider_mensatek.delivery.polling import PollPolicy
from airflow_provider_mensatek.delivery.waiting import DeliveryWaiter, Fetch
from airflow_provider_mensatek.sandbox import Fault, Sandbox
from airflow_provider_mensatek.sandbox.pdf import make_pdf
from airflow_provider_mensatek.triggers import delivery, shared_clients, thread_pool
from airflow_provider_mensatek.triggers.delivery import (
    DeliveryStatusTrigger,
    LegallyMailSignatureTrigger,
    LegallyMailSmsTrigger,
    MensatekCertifiedEmailTrigger,
)
from tests.legallymail_support import FakeTime, make_client
from tests.sandbox_clock import LoopSandboxClock

REPORT = "GetReportEMAILCERTIFICADO"


@pytest.fixture
def pool_threads(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[int], None]]:
    """Set ``[mensatek] trigger_threads`` for the test (a fresh pool), and drop that pool after it."""

    def set_threads(threads: int) -> None:
        monkeypatch.setenv("AIRFLOW__MENSATEK__TRIGGER_THREADS", str(threads))
        thread_pool.shutdown_pool()

    yield set_threads
    thread_pool.shutdown_pool()


@pytest.fixture
def loop_clock(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> LoopSandboxClock:
    clock = LoopSandboxClock(sandbox)
    monkeypatch.setattr(waiting, "CLOCK", clock)
    return clock


@pytest.fixture
def legallymail_conn(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> str:
    """``legallymail_default`` on the sandbox (its limiter is the test's: :func:`legallymail_limiter`)."""
    monkeypatch.setenv("AIRFLOW_CONN_LEGALLYMAIL_DEFAULT", json.dumps({
        "conn_type": "legallymail", "password": sandbox.legallymail_token, "host": sandbox.legallymail_url}))
    return "legallymail_default"


def legallymail_limiter(sandbox: Sandbox, clock: LoopSandboxClock, monkeypatch: pytest.MonkeyPatch,
                        per_minute: float = 10) -> rate_limit.RateLimiter:
    """The process-wide limiter of the sandbox token, on the simulated clock."""
    key = credential_key("legallymail", resolve_base_url(sandbox.legallymail_url, default=sandbox.legallymail_url),
                         sandbox.legallymail_token)
    limiter = rate_limit.RateLimiter(per_minute, clock=clock.now, sleep=clock.sleep, async_sleep=clock.async_sleep)
    monkeypatch.setitem(rate_limit._LIMITERS, key, limiter)
    return limiter


def trigger(cls: type[DeliveryStatusTrigger], ids: Sequence[Any], policy: PollPolicy, now: float,
            conn_id: str) -> DeliveryStatusTrigger:
    keys = [str(i) for i in ids]
    target = {"mensatek.certified_email": "certified", "legallymail.signature": "signed"}.get(cls.channel,
                                                                                             "delivered")
    state = DeliveryWaiter.start(lambda keys: iter(()), keys, target=target, min_fraction=1, policy=policy,
                                 now=now).state()
    return cls(message_ids=keys, target=target, min_fraction=1, state=state, conn_id=conn_id)


async def first_event(t: DeliveryStatusTrigger) -> dict[str, Any]:
    async for event in t.run():
        return event.payload
    raise AssertionError("no event")


def test_a_legallymail_backlog_never_delays_a_mensatek_check(
    sandbox: Sandbox, loop_clock: LoopSandboxClock, mensatek_conn: str, legallymail_conn: str,
    mensatek_client: MensatekClient, monkeypatch: pytest.MonkeyPatch, pool_threads: Callable[[int], None],
) -> None:
    pool_threads(4)
    setup = make_client(sandbox, sandbox.legallymail_token, FakeTime(sandbox))  # 40 sends at 10 a minute
    sms = [setup.send_certified_sms(f"+3460000{i:04d}", "Codigo 1234").uuid for i in range(40)]
    [mid] = mensatek_client.send_certified_email("s@example.com", ["a@example.com"], "A", "M").message_ids
    limiter = legallymail_limiter(sandbox, loop_clock, monkeypatch)
    sandbox.clear_requests()
    start = loop_clock.now()
    every_minute = PollPolicy(initial_delay=60, min_interval=60, max_interval=600, jitter=0)
    waits = [trigger(LegallyMailSmsTrigger, [u], every_minute, start, legallymail_conn) for u in sms]
    # Due at +120 s, when 30 LegallyMail checks are still queued behind the limit (10 at +60 s, 10 a minute on).
    mensatek = trigger(MensatekCertifiedEmailTrigger, [mid], PollPolicy(120, 120, 3600, jitter=0), start,
                       mensatek_conn)

    results = asyncio.run(loop_clock.run([first_event(t) for t in [*waits, mensatek]]))

    assert [r["status"] for r in results] == ["success"] * 41
    [check] = sandbox.requests_to(REPORT)
    assert check.at.timestamp() - start == pytest.approx(120, abs=1)
    sms_checks = sorted(r.at.timestamp() - start for r in sandbox.requests if r.path.endswith("/api/sms"))
    assert len(sms_checks) == 40  # one each: no 429, nothing asked twice
    assert sum(1 for t in sms_checks if t > 121) >= 20  # the backlog was real when the Mensatek check ran
    # Every rate-limit wait was awaited in the event loop; no worker thread ever slept.
    assert loop_clock.thread_sleeps == []
    assert limiter.waited >= 30 * 60


def test_trigger_http_runs_in_the_providers_pool_never_wider_than_its_size(
    sandbox: Sandbox, loop_clock: LoopSandboxClock, mensatek_conn: str, mensatek_client: MensatekClient,
    monkeypatch: pytest.MonkeyPatch, pool_threads: Callable[[int], None],
) -> None:
    pool_threads(3)
    ids = mensatek_client.send_certified_email("s@example.com", [f"c{i}@example.com" for i in range(12)], "A",
                                               "M").message_ids
    # Every answer takes 0.2 s of real time, so the twelve checks due together overlap as far as threads allow.
    sandbox.inject(REPORT, Fault("delay", delay=0.2), times=12)
    busy, peak, names, clients, lock = [0], [0], set(), set(), threading.Lock()

    def counting(client: Any) -> Fetch:
        clients.add(id(client))
        fetch = fetchers.mensatek_certified_email(client)

        def counted(keys: Sequence[str]) -> Iterator[Any]:
            with lock:
                busy[0] += 1
                peak[0] = max(peak[0], busy[0])
                names.add(threading.current_thread().name)
            try:
                yield from fetch(keys)
            finally:
                with lock:
                    busy[0] -= 1

        return counted

    monkeypatch.setitem(delivery.CHANNELS, "mensatek.certified_email", counting)
    start = loop_clock.now()
    together = PollPolicy(120, 120, 3600, jitter=0)  # all due at once, when the sandbox has certified them
    waits = [trigger(MensatekCertifiedEmailTrigger, [i], together, start, mensatek_conn) for i in ids]

    results = asyncio.run(loop_clock.run([first_event(t) for t in waits]))

    assert [r["status"] for r in results] == ["success"] * 12
    assert len(sandbox.requests_to(REPORT)) == 12
    assert peak[0] == 3
    assert names and all(n.startswith(thread_pool.THREAD_NAME_PREFIX) for n in names), names
    assert len(clients) == 1  # one shared client for the twelve triggers of the connection ...
    assert shared_clients._entries == {}  # ... closed when the last one ended


def test_an_interrupted_legallymail_round_resumes_without_paying_for_the_list_again(
    sandbox: Sandbox, loop_clock: LoopSandboxClock, legallymail_conn: str, monkeypatch: pytest.MonkeyPatch,
    pool_threads: Callable[[int], None],
) -> None:
    pool_threads(2)
    setup = make_client(sandbox, sandbox.legallymail_token, FakeTime(sandbox))
    # 30 requests: the list call shows the 25 newest, the 5 oldest need GET /signature each.
    uuids = [setup.request_signature(make_pdf(["C"]), [{"name": "F", "email": f"f{i}@example.com"}],
                                     document_name="c.pdf").uuid for i in range(30)]
    limiter = legallymail_limiter(sandbox, loop_clock, monkeypatch, per_minute=2)
    sandbox.clear_requests()
    start = loop_clock.now()
    wait = trigger(LegallyMailSignatureTrigger, uuids, PollPolicy(60, 60, 3600, jitter=0), start, legallymail_conn)

    [event] = asyncio.run(loop_clock.run([first_event(wait)], real_timeout=60))

    assert event["status"] == "success"
    lists = [r for r in sandbox.requests if r.path.endswith("/signatures")]
    singles = [r for r in sandbox.requests if r.path.endswith("/signature")]
    assert len(lists) == 1
    assert sorted(r.query["uuid"] for r in singles) == sorted(uuids[:5])
    times = sorted(r.at.timestamp() for r in sandbox.requests)
    assert max(sum(1 for u in times if t <= u < t + 60) for t in times) <= 2
    assert loop_clock.thread_sleeps == [] and limiter.waited > 0


def test_waits_handed_back_to_the_loop_leave_no_cyclic_garbage(
    sandbox: Sandbox, pool_threads: Callable[[int], None],
) -> None:
    """Thousands of waits share the loop: garbage only a full collection frees would stall it."""
    import gc

    from airflow_provider_mensatek.clients import LegallyMailClient
    from airflow_provider_mensatek.clients._http.loop_waits import LoopJob

    pool_threads(2)
    sandbox.app("/legallymail/api").requests_per_minute = None
    now = [1000.0]

    async def advance(seconds: float) -> None:
        now[0] += seconds

    client = LegallyMailClient(sandbox.legallymail_token, base_url=sandbox.legallymail_url)
    client.rate_limiter = rate_limit.RateLimiter(1, clock=lambda: now[0], async_sleep=advance)

    async def twenty_calls_a_slot_apart() -> int:
        job = LoopJob()
        await thread_pool.run(job, client.get_info)
        gc.collect()
        gc.disable()
        try:
            for _ in range(20):
                await thread_pool.run(job, client.get_info)  # each one waits for its slot in the loop
            return gc.collect()
        finally:
            gc.enable()

    assert asyncio.run(twenty_calls_a_slot_apart()) == 0
    assert len(sandbox.requests) == 21 and now[0] == 1000.0 + 20 * 60
    client.close()
