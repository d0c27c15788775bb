"""The transport's retry plan for one logical call (tenacity): what is retried, the waits, and the call's deadline.

A call is every attempt of one request, the backoff and ``Retry-After`` waits
between them, and the reading of its answer. The ``deadline`` setting bounds
all of it, not each exchange: four attempts that each drip until a 300 s
deadline would otherwise hold a worker for twenty minutes. So:

* each attempt's exchange gets only what is left of the call's deadline (the
  watchdog of :mod:`.deadline` cuts it there);
* a retry is started only when, after its wait, at least
  :data:`MIN_ATTEMPT_SHARE` of the deadline is left for it. Fewer seconds
  than that could not carry a real answer, and on a send they would turn a
  failure that certainly sent nothing (a refused connection) into a deadline
  hit that may have sent something;
* a wait is never cut short: a ``Retry-After`` that would end too late stops
  the call at once with the vendor's error (a :class:`RateLimitedError` carries
  ``retry_after``, for the task's ``retry_policy``).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any, Generic, Protocol, TypeVar

import tenacity

from airflow_provider_mensatek.clients._http.loop_waits import current_job
from airflow_provider_mensatek.clients._http.settings import RetrySettings
from airflow_provider_mensatek.clients.errors import RateLimitedError, TransientError

log = logging.getLogger("airflow_provider_mensatek.clients")

#: The share of the call's deadline an attempt needs left to be started (30 s of the default 300 s).
MIN_ATTEMPT_SHARE = 0.1

_T = TypeVar("_T")


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds (delta-seconds or HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _failure(retry_state: tenacity.RetryCallState) -> BaseException | None:
    return retry_state.outcome.exception() if retry_state.outcome else None


class CallPlan(Generic[_T]):
    """One logical call: its attempt (``attempt(plan)``), its deadline, and the wait drawn after each attempt.

    The attempt takes the plan as an argument rather than closing over it, so a
    call leaves no reference cycle behind (see :class:`TransportRetry`).
    """

    def __init__(self, attempt: Callable[[CallPlan[_T]], _T], seconds: float) -> None:
        self._attempt = attempt
        self.seconds = seconds
        self.expires = time.monotonic() + seconds
        #: The wait after each attempt number, drawn once: stop and wait must judge the same one.
        self.waits: dict[int, float] = {}

    def __call__(self) -> _T:
        return self._attempt(self)

    @property
    def min_attempt_seconds(self) -> float:
        return self.seconds * MIN_ATTEMPT_SHARE

    def remaining(self) -> float:
        return self.expires - time.monotonic()


class _HasRetrySettings(Protocol):
    retry: RetrySettings


class TransportRetry:
    """How one transport retries its calls (``owner.retry``, read at each call).

    One ``tenacity.Retrying`` serves every call of the transport (tenacity keeps
    a call's state per thread): one per request left about 20 objects of cyclic
    garbage each, and full collections of a triggerer's heap stall its event
    loop. The call's own state travels in its :class:`CallPlan`. A thread job of
    an event loop (:mod:`.loop_waits`) makes one attempt: it never sleeps, its
    caller's poll schedule retries.
    """

    def __init__(self, owner: _HasRetrySettings, *, sleep: Callable[[float], None]) -> None:
        self._owner = owner
        self._retrying = tenacity.Retrying(
            stop=self._stop, wait=self._wait, sleep=sleep, reraise=True, before_sleep=_log_retry,
            retry=tenacity.retry_if_exception(lambda e: isinstance(e, RateLimitedError | TransientError)))

    def run(self, plan: CallPlan[_T]) -> _T:
        result: _T = self._retrying(plan)
        return result

    def _wait(self, retry_state: tenacity.RetryCallState) -> float:
        plan: CallPlan[Any] = retry_state.fn  # type: ignore[assignment]
        number = retry_state.attempt_number
        if number not in plan.waits:
            retry_after = getattr(_failure(retry_state), "retry_after", None)
            if retry_after is not None:
                plan.waits[number] = max(float(retry_after), 0.0)
            else:
                settings = self._owner.retry
                backoff = min(settings.backoff_max, settings.backoff_initial * (2 ** (number - 1)))
                plan.waits[number] = random.uniform(backoff / 2, backoff)
        return plan.waits[number]

    def _stop(self, retry_state: tenacity.RetryCallState) -> bool:
        settings = self._owner.retry
        if retry_state.attempt_number >= (1 if current_job() is not None else settings.max_attempts):
            return True
        failure = _failure(retry_state)
        retry_after = getattr(failure, "retry_after", None)
        if retry_after is not None and retry_after > settings.max_retry_wait:
            # Longer than we may block a worker for: the task's own retry policy knows the delay.
            return True
        plan: CallPlan[Any] = retry_state.fn  # type: ignore[assignment]
        wait = self._wait(retry_state)
        if plan.remaining() - wait < plan.min_attempt_seconds:
            log.warning("%s; not retried: after waiting %.1fs, less than %.1fs of the call's %gs deadline "
                        "(connection extra deadline) would be left", failure, wait, plan.min_attempt_seconds,
                        plan.seconds)
            return True
        return False


def _log_retry(retry_state: tenacity.RetryCallState) -> None:
    wait = retry_state.next_action.sleep if retry_state.next_action else 0.0
    log.warning("%s; retrying in %.1fs (attempt %d)", _failure(retry_state), wait, retry_state.attempt_number + 1)


__all__ = ["MIN_ATTEMPT_SHARE", "CallPlan", "TransportRetry", "parse_retry_after"]
