"""A process-wide limit of requests per minute per credential, for vendors that publish one."""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable

from airflow_provider_mensatek.clients._http.loop_waits import LoopJob, LoopWait, current_job
from airflow_provider_mensatek.clients.errors import ValidationError

log = logging.getLogger("airflow_provider_mensatek.clients.rate_limit")

#: The window of the process-wide limiters (:func:`limiter_for`): the vendor's minute plus a second.
#: A slot is stamped when a request is about to leave; the vendor counts it when it arrives, a little
#: later. Without the margin, a request that left slower than the one a minute after it (a pool queue,
#: a new TLS connection) would make the vendor count 11 in its minute: a 429.
SHARED_WINDOW = 61.0


class SlotWait(LoopWait):
    """A loop job needs a slot of a full limiter: the loop awaits one, then the job runs again."""

    def __init__(self, limiter: RateLimiter) -> None:
        super().__init__(f"waiting for a slot of {limiter!r}")
        self.limiter = limiter

    async def wait(self, job: LoopJob) -> None:
        await self.limiter.aacquire()
        job.grant(self.limiter)


class RateLimiter:
    """Sliding-window limit of requests per minute, shared by threads and event loops; waits instead of failing.

    LegallyMail answers 429 past 10 requests a minute. Waiting here before a
    request is cheaper and politer than collecting 429s, and it works across
    every client, hook, sensor and trigger of the process that uses the same
    token (see :func:`limiter_for`).

    Each caller reserves the next free slot (its time is written into the
    window at once, even when it lies in the future) and then waits for it: so
    callers are served in the order they asked, sync and async alike, and no
    crowd of waiters wakes to fight over one slot. :meth:`acquire` sleeps in
    the calling thread; :meth:`aacquire` awaits in the event loop; inside a
    thread job of an event loop (:mod:`.loop_waits`) :meth:`acquire` never
    sleeps: it takes a slot the loop awaited, or a free one, or raises
    :class:`SlotWait`. ``clock``, ``sleep`` and ``async_sleep`` are injectable
    so tests measure the waits instead of sitting through them.
    """

    def __init__(
        self,
        per_minute: float,
        *,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        async_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._check(per_minute)
        self.per_minute = per_minute
        self.window = window
        self._clock = clock
        self._sleep = sleep
        self._async_sleep = async_sleep
        self._lock = threading.Lock()
        # Slot times, oldest first; the newest may lie in the future (reserved, being waited for).
        self._stamps: deque[float] = deque()
        #: Seconds waited so far (observability and tests).
        self.waited = 0.0

    @staticmethod
    def _check(per_minute: float) -> None:
        if isinstance(per_minute, bool) or not isinstance(per_minute, int | float) or per_minute < 1:
            raise ValidationError(f"requests_per_minute must be a number >= 1, got {per_minute!r}")

    def __repr__(self) -> str:
        return f"RateLimiter(per_minute={self.per_minute}, window={self.window})"

    def tighten(self, per_minute: float) -> None:
        """Lower the limit (never raise it: the strictest caller sharing the token wins)."""
        self._check(per_minute)
        with self._lock:
            self.per_minute = min(self.per_minute, per_minute)

    def _next_slot(self, now: float) -> float:
        """The earliest time a new slot may have (call with the lock held)."""
        while self._stamps and self._stamps[0] <= now - self.window:
            self._stamps.popleft()
        size = math.ceil(self.per_minute)
        if len(self._stamps) < size:
            return now
        # Slots are handed out in time order, so the size-th newest one decides when the window has room.
        return max(now, self._stamps[-size] + self.window)

    def _reserve(self) -> float:
        """Take the next free slot; returns the seconds until it is due (0: now)."""
        with self._lock:
            now = self._clock()
            slot = self._next_slot(now)
            self._stamps.append(slot)
            wait = slot - now
            self.waited += wait
        if wait > 0:
            log.info("Rate limit of %s requests/minute reached; waiting %.1fs", self.per_minute, wait)
        return wait

    def _take_if_free(self) -> bool:
        with self._lock:
            now = self._clock()
            if self._next_slot(now) > now:
                return False
            self._stamps.append(now)
            return True

    def acquire(self) -> float:
        """Take one request slot, sleeping until it is due. Returns the seconds waited.

        In a thread job of an event loop, never sleeps: see the class docstring.
        """
        job = current_job()
        if job is not None:
            if job.take(self) or self._take_if_free():
                return 0.0
            raise SlotWait(self)
        wait = self._reserve()
        if wait > 0:
            self._sleep(wait)
        return wait

    __call__ = acquire

    async def aacquire(self) -> float:
        """Take one request slot, awaiting it in the event loop (same slots as :meth:`acquire`)."""
        wait = self._reserve()
        if wait > 0:
            await self._async_sleep(wait)
        return wait


_LIMITERS: dict[str, RateLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def limiter_for(credential_id: str, per_minute: float) -> RateLimiter:
    """The process-wide limiter of one credential (``credential_id`` never holds the secret itself)."""
    with _LIMITERS_LOCK:
        limiter = _LIMITERS.get(credential_id)
        if limiter is None:
            limiter = _LIMITERS[credential_id] = RateLimiter(per_minute, window=SHARED_WINDOW)
        else:
            limiter.tighten(per_minute)
        return limiter


def reset_limiters() -> None:
    """Forget every process-wide limiter (between tests)."""
    with _LIMITERS_LOCK:
        _LIMITERS.clear()
