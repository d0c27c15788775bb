"""A process-wide limit of requests per minute per credential, for vendors that publish one."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from airflow_provider_mensatek.clients.errors import ValidationError

log = logging.getLogger("airflow_provider_mensatek.clients.rate_limit")


class RateLimiter:
    """Sliding-window limit of requests per minute, shared by threads; waits instead of failing.

    LegallyMail answers 429 past 10 requests a minute. Waiting here before a
    request is cheaper and politer than collecting 429s, and it works across
    every client, hook, sensor and trigger of the process that uses the same
    token (see :func:`limiter_for`). ``clock`` and ``sleep`` are injectable so
    tests measure the waits instead of sitting through them.
    """

    def __init__(
        self,
        per_minute: float,
        *,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._check(per_minute)
        self.per_minute = per_minute
        self.window = window
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
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

    def acquire(self) -> float:
        """Take one request slot, sleeping until one is free. Returns the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                while self._stamps and self._stamps[0] <= now - self.window:
                    self._stamps.popleft()
                if len(self._stamps) < self.per_minute:
                    self._stamps.append(now)
                    self.waited += waited
                    return waited
                # The oldest request in the window decides when the next slot opens.
                wait = self._stamps[0] + self.window - now
            log.info("Rate limit of %s requests/minute reached; waiting %.1fs", self.per_minute, wait)
            self._sleep(wait)
            waited += wait

    __call__ = acquire


_LIMITERS: dict[str, RateLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def limiter_for(credential_id: str, per_minute: float) -> RateLimiter:
    """The process-wide limiter of one credential (``credential_id`` never holds the secret itself)."""
    with _LIMITERS_LOCK:
        limiter = _LIMITERS.get(credential_id)
        if limiter is None:
            limiter = _LIMITERS[credential_id] = RateLimiter(per_minute)
        else:
            limiter.tighten(per_minute)
        return limiter


def reset_limiters() -> None:
    """Forget every process-wide limiter (between tests)."""
    with _LIMITERS_LOCK:
        _LIMITERS.clear()
