"""Waiting for many messages to reach a status, one polite round at a time.

:class:`DeliveryWaiter` is the Airflow-free core shared by the sensors (poke
and reschedule) and the deferrable triggers: each :meth:`DeliveryWaiter.poll`
asks the vendor only about the messages the :class:`PollSchedule` says are
due, through a channel-specific *fetch* function that may serve many ids
with one call, and never asks again about a message whose answer is final.
Its whole state is JSON (:meth:`DeliveryWaiter.state`), so the next poke, the
next reschedule or a trigger carries on exactly where the last one stopped.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from airflow_provider_mensatek.clients._http.loop_waits import LoopWait
from airflow_provider_mensatek.clients.errors import (
    MensatekError,
    RateLimitedError,
    TransientError,
    ValidationError,
)
from airflow_provider_mensatek.delivery.polling import PollPolicy, PollSchedule
from airflow_provider_mensatek.delivery.statuses import DeliveryStatus, VendorStatus, parse_target

log = logging.getLogger("airflow_provider_mensatek.delivery.waiting")


class WallClock:
    """Real time for sensors and triggers. Tests and the benchmark swap :data:`CLOCK` for a
    simulated one (the sandbox clock), so schedules are asserted without waiting."""

    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(seconds, 0.0))

    async def async_sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0))

    def wall_time(self, when: float) -> datetime:
        """The real (UTC) time at which this clock shows ``when``: what a reschedule date needs."""
        return datetime.fromtimestamp(when, tz=timezone.utc)

    def clock_time(self, wall: datetime) -> float:
        """What this clock showed at the real time ``wall`` (an Airflow date): the inverse of :meth:`wall_time`."""
        return wall.timestamp()


#: The clock every sensor and trigger of this provider reads (looked up at call time).
CLOCK: WallClock = WallClock()


@dataclass(frozen=True)
class Observation:
    """What the vendor said about one message: its status and the JSON-able report."""

    key: str
    status: VendorStatus
    report: Mapping[str, Any] = field(default_factory=dict)


#: Yields one (key, Observation) per message it learnt about, or (key, error) for
#: an error that concerns that message only (unknown id). It may yield keys it
#: was not asked about (a list call serves many) and raises errors that concern
#: the whole credential (authentication, rate limit).
Fetch = Callable[[Sequence[str]], Iterable[tuple[str, Observation | MensatekError]]]

OUTCOME_WAITING = "waiting"
OUTCOME_SUCCESS = "success"
OUTCOME_FAILED = "failed"


@dataclass
class WaitOutcome:
    """The result of one round: still ``waiting``, ``success`` or ``failed`` (with the reason)."""

    kind: str
    message: str
    result: dict[str, Any]
    next_check_at: float | None = None

    @property
    def finished(self) -> bool:
        return self.kind != OUTCOME_WAITING


#: What ``{{ ti.xcom_pull(...) }}`` renders when there is nothing to pull.
_RENDERED_NOTHING = frozenset({"none", "null", "undefined"})


def normalise_ids(ids: Any) -> list[str]:
    """One id or a list of ids (ints or strings) as unique string keys, order kept.

    A JSON list in a string is a list: that is what ``{{ ti.xcom_pull(...) | tojson }}`` renders.
    """
    if isinstance(ids, str) and ids.strip().startswith("["):
        try:
            ids = json.loads(ids)
        except ValueError:
            raise ValidationError(f"Message ids look like a JSON list but are not valid JSON: {ids!r}") from None
    if isinstance(ids, str | int) and not isinstance(ids, bool):
        items: list[Any] = [ids]
    elif isinstance(ids, Iterable) and not isinstance(ids, Mapping | bytes):
        items = list(ids)
    else:
        raise ValidationError(f"Expected a message id or a list of ids, got {type(ids).__name__}")
    keys: list[str] = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, str | int) or not str(item).strip():
            raise ValidationError(f"Invalid message id {item!r}")
        key = str(item).strip()
        if key.lower() in _RENDERED_NOTHING:
            raise ValidationError(f"Message id {key!r} is what a template renders for a missing value: the "
                                  "upstream task pushed no ids (check the xcom_pull)")
        if key not in keys:
            keys.append(key)
    if not keys:
        raise ValidationError("No message ids to wait for")
    return keys


def check_fraction(value: Any) -> float:
    if isinstance(value, str):  # a templated field renders to text
        try:
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
        raise ValidationError(f"min_fraction must be a number in (0, 1], got {value!r}")
    return float(value)


class DeliveryWaiter:
    """Polls a set of messages until ``min_fraction`` of them reached ``target``."""

    def __init__(
        self,
        fetch: Fetch,
        *,
        target: DeliveryStatus | str,
        min_fraction: float,
        schedule: PollSchedule,
        reports: Mapping[str, Mapping[str, Any]] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.fetch = fetch
        #: Reads the time of each answer: a rate limiter may hold a round for minutes, and a
        #: message's next check counts from when it was really checked.
        self.clock = clock
        self.target = parse_target(target)
        self.min_fraction = check_fraction(min_fraction)
        self.schedule = schedule
        self.reports: dict[str, dict[str, Any]] = {k: dict(v) for k, v in (reports or {}).items()}

    # -- construction / persistence -------------------------------------------

    @classmethod
    def start(cls, fetch: Fetch, ids: Any, *, target: DeliveryStatus | str, min_fraction: float,
              policy: PollPolicy, now: float, rng: random.Random | None = None,
              clock: Callable[[], float] | None = None) -> DeliveryWaiter:
        keys = normalise_ids(ids)
        return cls(fetch, target=target, min_fraction=min_fraction,
                   schedule=PollSchedule.start(policy, keys, now, rng), clock=clock)

    @classmethod
    def resume(cls, fetch: Fetch, state: Mapping[str, Any], *, target: DeliveryStatus | str,
               min_fraction: float, clock: Callable[[], float] | None = None) -> DeliveryWaiter:
        return cls(fetch, target=target, min_fraction=min_fraction,
                   schedule=PollSchedule.from_dict(state["schedule"]), reports=state.get("reports"),
                   clock=clock)

    def state(self) -> dict[str, Any]:
        return {"schedule": self.schedule.to_dict(), "reports": self.reports}

    # -- one round -------------------------------------------------------------

    def poll(self, now: float) -> WaitOutcome:
        """Ask about what is due (maybe nothing), then say whether the wait is over.

        Errors that concern the credential (authentication, a vendor error we
        cannot attribute to a message) propagate; a 429 pushes every next
        check past its Retry-After.
        """
        due = self.schedule.due(now)
        if due:
            self._round(due, now)
        return self.evaluate()

    def _round(self, due: list[str], now: float) -> None:
        answers: dict[str, Observation | MensatekError] = {}
        stop: MensatekError | None = None
        try:
            for key, answer in self.fetch(due):
                if key in self.schedule.messages and not self.schedule.messages[key].done:
                    answers[key] = answer
        except (RateLimitedError, TransientError) as exc:
            stop = exc
        except LoopWait:
            # A trigger's event loop awaits what this round would have waited for, then polls again:
            # what was answered counts now, the rest stays due (nothing was asked about it).
            self._record_all(answers, now)
            raise
        end = self._record_all(answers, now)
        if isinstance(stop, RateLimitedError):
            log.warning("Rate limited by %s; no status checks for %s s", stop.vendor,
                        f"{stop.retry_after:.0f}" if stop.retry_after is not None else "a while")
            self.schedule.retry_after(end, stop.retry_after)
            # The unanswered messages were not checked: they are simply held back.
            return
        if isinstance(stop, TransientError):
            log.warning("Status check failed (%s); will retry on the normal schedule", stop)
            if stop.retry_after is not None:
                self.schedule.retry_after(end, stop.retry_after)
        for key in due:
            if key not in answers:
                # Unanswered (a failed round, or a coalesced answer that did not mention
                # it): it still counts as a check, so the backoff grows and a message the
                # vendor never reports cannot loop.
                self.schedule.checked(key, end, final=False)

    def _record_all(self, answers: Mapping[str, Observation | MensatekError], now: float) -> float:
        # Every message of the round counts from the round's end, so a rate limiter
        # holding the round never shortens a message's gap, and the messages
        # checked together stay due together (one list call keeps serving them).
        end = max(self.clock(), now) if self.clock else now
        for key, answer in answers.items():
            self._record(key, answer, end)
        return end

    def _record(self, key: str, answer: Observation | MensatekError, now: float) -> None:
        message = self.schedule.messages[key]
        if isinstance(answer, MensatekError):
            if answer.retryable:
                self.schedule.checked(key, now, final=False)
                return
            # The vendor will never know this message (unknown id, no permission).
            self.reports[key] = {"id": key, "status": DeliveryStatus.FAILED.value, "terminal": True,
                                 "failure": True, "code": str(answer.code), "text": answer.message,
                                 "error": type(answer).__name__, "checks": message.checks + 1}
            self.schedule.checked(key, now, final=True)
            return
        status = answer.status
        final = status.has_reached(self.target) or status.terminal
        self.schedule.checked(key, now, final=final)
        self.reports[key] = {"id": key, **status.to_dict(), **dict(answer.report), "checks": message.checks}

    # -- verdict ---------------------------------------------------------------

    def evaluate(self) -> WaitOutcome:
        keys = list(self.schedule.messages)
        needed = math.ceil(self.min_fraction * len(keys) - 1e-9)
        reached = [k for k in keys if self.target.value in self.reports.get(k, {}).get("reached", ())]
        failed = [k for k in keys if k not in reached and self.schedule.messages[k].done]
        exhausted = self.schedule.exhausted()
        result = self._result(reached, failed, exhausted)
        if len(reached) >= needed:
            return WaitOutcome(OUTCOME_SUCCESS, f"{len(reached)} of {len(keys)} message(s) reached "
                               f"{self.target.value!r}", result)
        lost = failed + exhausted
        if len(keys) - len(lost) < needed:
            return WaitOutcome(OUTCOME_FAILED, self._failure_text(failed, exhausted, needed, len(keys)), result)
        return WaitOutcome(OUTCOME_WAITING, f"{len(reached)} of {needed} needed message(s) reached "
                           f"{self.target.value!r}", result, self.schedule.next_wake())

    def _failure_text(self, failed: list[str], exhausted: list[str], needed: int, total: int) -> str:
        parts = []
        for key in failed[:10]:
            report = self.reports.get(key, {})
            vendor = f"{report.get('code')} {report.get('text') or ''}".strip()
            parts.append(f"{key}: {vendor} [{report.get('status')}]")
        if len(failed) > 10:
            parts.append(f"+{len(failed) - 10} more")
        if exhausted:
            parts.append(f"gave up on {', '.join(exhausted[:10])} after {self.schedule.policy.max_checks} "
                         "checks each (PollPolicy.max_checks)")
        return (f"Cannot reach {self.target.value!r} for {needed} of {total} message(s): " + "; ".join(parts))

    def _result(self, reached: list[str], failed: list[str], exhausted: list[str]) -> dict[str, Any]:
        keys = list(self.schedule.messages)
        return {
            "target": self.target.value,
            "min_fraction": self.min_fraction,
            "reached": reached,
            "failed": failed,
            "gave_up": exhausted,
            "pending": [k for k in keys if k not in reached and k not in failed and k not in exhausted],
            "checks": sum(m.checks for m in self.schedule.messages.values()),
            "reports": {k: self.reports[k] for k in keys if k in self.reports},
        }
