"""A provider clock (``waiting.CLOCK``) that reads and moves the sandbox clock, so sensors and
triggers "sleep" through simulated hours instantly and request timestamps are simulated times."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import threading
import time
from collections.abc import Coroutine, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_mensatek.delivery import waiting
from airflow_provider_mensatek.sandbox import Sandbox


class SandboxClock(waiting.WallClock):
    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.sandbox.clock.now().timestamp()

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.sandbox.clock.advance(max(seconds, 0.0))

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)
        await asyncio.sleep(0)

    def wall_time(self, when: float) -> datetime:
        # Simulated seconds map onto real ones from now on.
        return datetime.now(timezone.utc) + timedelta(seconds=when - self.now())

    def clock_time(self, wall: datetime) -> float:
        return self.now() - (datetime.now(timezone.utc) - wall).total_seconds()


class FastSandboxClock(SandboxClock):
    """Sandbox time running ``speed`` times faster than real time, for dag.test() runs where
    Airflow itself waits in real time (reschedule dates) and the trigger really sleeps."""

    def __init__(self, sandbox: Sandbox, speed: float) -> None:
        super().__init__(sandbox)
        self.speed = speed
        sandbox.clock.set(sandbox.clock.now())  # rebase, so the new speed applies from now on
        sandbox.clock.speed = speed

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        time.sleep(max(seconds, 0.0) / self.speed)

    async def async_sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await asyncio.sleep(max(seconds, 0.0) / self.speed)

    def wall_time(self, when: float) -> datetime:
        return datetime.now(timezone.utc) + timedelta(seconds=(when - self.now()) / self.speed)

    def clock_time(self, wall: datetime) -> float:
        return self.now() - (datetime.now(timezone.utc) - wall).total_seconds() * self.speed


class LoopSandboxClock(SandboxClock):
    """Discrete-event sandbox time for many triggers in one event loop.

    Sleepers in the loop wake in time order; time jumps to the next wake only when every task
    :meth:`run` watches is asleep (work in flight, HTTP in a thread, happens at a frozen instant).
    A *sync* sleep can only come from a thread: it is recorded with the thread's name and moves
    time on for everyone, as a thread holding a pool slot while it sleeps delays every job queued
    behind it.
    """

    def __init__(self, sandbox: Sandbox) -> None:
        super().__init__(sandbox)
        self.thread_sleeps: list[tuple[str, float]] = []
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def sleep(self, seconds: float) -> None:
        self.thread_sleeps.append((threading.current_thread().name, seconds))
        self.sandbox.clock.advance(max(seconds, 0.0))

    async def async_sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now() + max(seconds, 0.0), next(self._seq), future))
        await future

    def _wake_due(self) -> None:
        while self._sleepers and self._sleepers[0][0] <= self.now():
            future = heapq.heappop(self._sleepers)[2]
            if not future.done():
                future.set_result(None)

    async def run(self, coroutines: list[Coroutine[Any, Any, Any]], real_timeout: float = 120.0) -> list[Any]:
        """Run the coroutines to the end in simulated time; their results in order."""
        tasks = [asyncio.ensure_future(c) for c in coroutines]
        deadline = time.monotonic() + real_timeout
        while not all(t.done() for t in tasks):
            if time.monotonic() > deadline:
                for task in tasks:
                    task.cancel()
                raise TimeoutError(f"not done after {real_timeout} s of real time")
            self._wake_due()
            asleep = sum(1 for *_, f in self._sleepers if not f.done())
            if self._sleepers and asleep == sum(1 for t in tasks if not t.done()):
                self.sandbox.clock.advance(max(self._sleepers[0][0] - self.now(), 0.0))
                self._wake_due()
            await asyncio.sleep(0.001)
        return [t.result() for t in tasks]


class DictStateStore:
    """Stands in for Airflow's task state store (JSON values, like the real one)."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return json.loads(self.data[key]) if key in self.data else default

    def set(self, key: str, value: Any) -> None:
        self.data[key] = json.dumps(value)

    def delete(self, key: str) -> None:
        self.data.pop(key, None)


@pytest.fixture
def sandbox_clock(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[SandboxClock]:
    clock = SandboxClock(sandbox)
    monkeypatch.setattr(waiting, "CLOCK", clock)
    yield clock


@pytest.fixture
def mensatek_conn(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> str:
    """The default Mensatek connection pointed at the sandbox (an Airflow env-var connection)."""
    monkeypatch.setenv("AIRFLOW_CONN_MENSATEK_DEFAULT", json.dumps({
        "conn_type": "mensatek", "login": sandbox.mensatek_user, "password": sandbox.mensatek_token,
        "host": sandbox.mensatek_url,
    }))
    return "mensatek_default"


@pytest.fixture
def legallymail_conn(sandbox: Sandbox, sandbox_clock: SandboxClock, monkeypatch: pytest.MonkeyPatch) -> str:
    """The default LegallyMail connection pointed at the sandbox, its process-wide rate limiter on the
    sandbox clock (so a test sees the limiter space requests in simulated minutes)."""
    from airflow_provider_mensatek.clients._http import rate_limit
    from airflow_provider_mensatek.clients._http.transport import credential_key, resolve_base_url
    from airflow_provider_mensatek.clients.legallymail.checks import LEGALLYMAIL_REQUESTS_PER_MINUTE

    monkeypatch.setenv("AIRFLOW_CONN_LEGALLYMAIL_DEFAULT", json.dumps({
        "conn_type": "legallymail", "password": sandbox.legallymail_token, "host": sandbox.legallymail_url}))
    base_url = resolve_base_url(sandbox.legallymail_url, default=sandbox.legallymail_url)
    key = credential_key("legallymail", base_url, sandbox.legallymail_token)
    limiter = rate_limit.RateLimiter(LEGALLYMAIL_REQUESTS_PER_MINUTE, clock=sandbox_clock.now,
                                     sleep=sandbox_clock.sleep, async_sleep=sandbox_clock.async_sleep)
    monkeypatch.setitem(rate_limit._LIMITERS, key, limiter)
    return "legallymail_default"
