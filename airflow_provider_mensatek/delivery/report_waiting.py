"""Waiting on Mensatek's real-time reports, with a rare reconcile poll for the ones that get lost.

A wait in webhook mode asks the vendor nothing while reports arrive: the report
receiver keeps each message's latest status in the channel Asset's state store
(``delivery/inbox.py``), and :class:`ReportWait` applies what it reads there
(:meth:`ReportWait.apply`). Mensatek documents no redelivery, so a report the
receiver never got is lost: a message nobody reported on for ``reconcile_after``
seconds gets one status check through the ordinary :class:`DeliveryWaiter`, fetcher
and :class:`PollPolicy` (:meth:`ReportWait.reconcile`), and the timer restarts. A
status that reaches the target, or a final one, ends the message either way.

A message scheduled for later (``send_at``) has nothing to report until it goes
out, so when the wait knows the send time the silence counts from it: no
reconcile before ``send_at + reconcile_after``, whatever reports (the
"scheduled" one) came before. Without a known time, a "scheduled" status
restarts the timer like any other.

Statuses never move backwards here either: a report or a reconcile answer that
ranks below what the wait already knows (``delivery/rank.py``) is ignored, so a
late "delivered" neither ends nor re-opens a wait that saw "certified".

SMS: one ``idMensaje`` covers every phone of a send, each reported on its own.
A message is judged on ``expected`` phones when the wait knows how many; when it
does not, the first time the reports look final the wait confirms with one
reconcile poll (whose answer lists every phone) instead of ending on the phones
that happened to report first.

Everything is JSON (:meth:`ReportWait.state`), inside the waiter's own state, so
a reschedule or a trigger continues where the last check stopped.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from airflow_provider_mensatek.clients.errors import MensatekError, ValidationError
from airflow_provider_mensatek.delivery.inbox import Journal, MessageState, changed_message_ids
from airflow_provider_mensatek.delivery.polling import PollPolicy
from airflow_provider_mensatek.delivery.rank import status_rank
from airflow_provider_mensatek.delivery.statuses import DeliveryStatus, VendorStatus, no_report_yet
from airflow_provider_mensatek.delivery.wait_modes import RECONCILE_AFTER, RECONCILE_FLOOR
from airflow_provider_mensatek.delivery.waiting import DeliveryWaiter, Fetch, Observation, WaitOutcome

log = logging.getLogger("airflow_provider_mensatek.delivery.report_waiting")

#: No report at all for a message this long after the wait started: the panel may not be sending them.
SILENCE_AFTER = 1800.0

_KEY = "webhook"


class ReportWait:
    """A :class:`DeliveryWaiter` fed by reports; it polls only to reconcile (see the module docstring)."""

    def __init__(self, waiter: DeliveryWaiter, *, reconcile_after: float, silence_after: float,
                 data: Mapping[str, Any] | None = None) -> None:
        self.waiter = waiter
        self.reconcile_after = reconcile_after
        self.silence_after = silence_after
        data = data or {}
        #: The ``seq`` of the last :class:`MessageState` applied, per message.
        self.seen: dict[str, int] = {str(k): int(v) for k, v in dict(data.get("seen", {})).items()}
        #: The rank of the status the wait knows, per message (reports and reconcile answers alike).
        self.ranks: dict[str, int] = {str(k): int(v) for k, v in dict(data.get("ranks", {})).items()}
        #: Phones per SMS message, when known.
        self.expected: dict[str, int] = {str(k): int(v) for k, v in dict(data.get("expected", {})).items()}
        #: SMS messages whose reports look final, waiting for a reconcile answer to confirm.
        self.confirming: set[str] = {str(k) for k in data.get("confirming", ())}
        #: The journal ``seq`` the last read was based on (-1: nothing read yet).
        self.journal = int(data.get("journal", -1))
        self.last_report_at: float | None = data.get("last_report_at")
        self.warned_at: float | None = data.get("warned_at")
        #: Messages a reconcile poll found further on than any report said: reports are being lost.
        self.lost: list[str] = [str(k) for k in data.get("lost", ())]
        #: When the messages go out (POSIX seconds), if the wait was told: silence before it is not news lost.
        self.send_at: float | None = None if data.get("send_at") is None else float(data["send_at"])
        self._observed: dict[str, VendorStatus] = {}
        self.waiter.fetch = self._observing(waiter.fetch)

    # -- construction / persistence -----------------------------------------------------

    @classmethod
    def start(cls, fetch: Fetch, ids: Any, *, target: DeliveryStatus | str, min_fraction: float, policy: PollPolicy,
              now: float, reconcile_after: float = RECONCILE_AFTER, silence_after: float = SILENCE_AFTER,
              expected: Mapping[str, int] | None = None, clock: Callable[[], float] | None = None,
              rng: random.Random | None = None, send_at: float | None = None) -> ReportWait:
        waiter = DeliveryWaiter.start(fetch, ids, target=target, min_fraction=min_fraction, policy=policy, now=now,
                                      rng=rng, clock=clock)
        # The first reconcile is a silence away, spread as the policy spreads first checks (a campaign's
        # thousand messages must not all be reconciled in the same minute). A scheduled message's
        # silence starts when it goes out.
        quiet = max(send_at - now, 0.0) if send_at is not None else 0.0
        for message in waiter.schedule.messages.values():
            message.next_at += quiet + reconcile_after - policy.initial_delay
        return cls(waiter, reconcile_after=reconcile_after, silence_after=silence_after,
                   data={"expected": dict(expected or {}), "send_at": send_at})

    @classmethod
    def resume(cls, fetch: Fetch, state: Mapping[str, Any], *, target: DeliveryStatus | str, min_fraction: float,
               clock: Callable[[], float] | None = None) -> ReportWait:
        data = state.get(_KEY)
        if not isinstance(data, Mapping):
            raise ValidationError("The wait's state has no report part: it was started to poll, not to listen")
        waiter = DeliveryWaiter.resume(fetch, state, target=target, min_fraction=min_fraction, clock=clock)
        return cls(waiter, reconcile_after=float(data["reconcile_after"]),
                   silence_after=float(data["silence_after"]), data=data)

    def state(self) -> dict[str, Any]:
        return {**self.waiter.state(), _KEY: {
            "reconcile_after": self.reconcile_after, "silence_after": self.silence_after, "seen": self.seen,
            "ranks": self.ranks, "expected": self.expected, "confirming": sorted(self.confirming),
            "journal": self.journal, "last_report_at": self.last_report_at, "warned_at": self.warned_at,
            "lost": self.lost, "send_at": self.send_at,
        }}

    # -- reading the state store ----------------------------------------------------------

    def pending(self) -> list[str]:
        """Messages the wait still listens for."""
        return self.waiter.schedule.pending()

    def keys_to_read(self, journal: Journal) -> list[str]:
        """Which pending messages to read after reading ``journal``: those it names, or all when it cannot tell."""
        if self.journal < 0:
            return self.pending()
        changed = changed_message_ids(journal, self.journal, self.pending())
        return [key for key in self.pending() if key in changed]

    def apply(self, journal_seq: int | None, states: Mapping[str, MessageState | None], now: float) -> list[str]:
        """What the store said (read after ``journal_seq``): the messages it moved on. No vendor call."""
        if journal_seq is not None:
            self.journal = journal_seq
        moved = []
        for key, state in states.items():
            message = self.waiter.schedule.messages.get(key)
            if state is None or message is None or message.done or state.seq <= self.seen.get(key, 0):
                continue
            self.seen[key] = state.seq
            self.last_report_at = now
            status = state.status(self.expected.get(key))
            if self._take(key, status, {"source": "webhook", "report_id": state.report_id,
                                        "reported_at": _iso(state.latest.occurred_at), "parts": len(state.parts)},
                          now):
                moved.append(key)
        return moved

    def _take(self, key: str, status: VendorStatus, details: Mapping[str, Any], now: float) -> bool:
        rank = status_rank(status)
        if rank < self.ranks.get(key, -1):
            log.info("Report for %s (%s) is behind what the wait knows: ignored", key, status.describe())
            return False
        self.ranks[key] = rank
        message = self.waiter.schedule.messages[key]
        final = status.has_reached(self.waiter.target) or status.terminal
        if final and self._needs_confirming(key, status):
            # The phones that reported are done; how many there are, only the vendor knows.
            self.confirming.add(key)
            message.next_at = min(message.next_at, now)
            final = False
        self.waiter.reports[key] = {"id": key, **status.to_dict(), **details, "checks": message.checks}
        if final:
            message.done = True
        elif key not in self.confirming:
            message.next_at = self._quiet_until(now)  # heard from: the reconcile timer restarts
        return True

    def _needs_confirming(self, key: str, status: VendorStatus) -> bool:
        return status.channel == "mensatek.sms" and key not in self.expected and not status.failure

    # -- reconcile polls ------------------------------------------------------------------

    def reconcile_due(self, now: float) -> bool:
        return bool(self.waiter.schedule.due(now))

    def reconcile(self, now: float) -> WaitOutcome:
        """One status check of each message due for reconciling (through the policy and the fetcher)."""
        due = self.waiter.schedule.due(now)
        before = {key: (self.waiter.reports.get(key), self.waiter.schedule.messages[key].checks) for key in due}
        self._observed.clear()
        try:
            self.waiter.poll(now)
        finally:
            # Also after a round handed back to the event loop: what it answered is reconciled.
            self._after_reconcile(before, now)
        return self.evaluate()

    def _after_reconcile(self, before: Mapping[str, tuple[dict[str, Any] | None, int]], now: float) -> None:
        end = max(self.waiter.clock(), now) if self.waiter.clock else now
        for key, (report, checks) in before.items():
            message = self.waiter.schedule.messages[key]
            if message.checks == checks:
                continue  # held back (rate limit, a round handed to the event loop): still due
            status = self._observed.get(key)
            if status is not None:
                self._reconciled(key, status, report)
            if not message.done:
                # Back to listening; the next reconcile a silence away, never sooner than the policy allows.
                message.next_at = max(message.next_at, self._quiet_until(end))

    def _quiet_until(self, now: float) -> float:
        """The next reconcile of a message heard from at ``now``: a silence after now, or after its send time."""
        return max(now, self.send_at if self.send_at is not None else now) + self.reconcile_after

    def _reconciled(self, key: str, status: VendorStatus, report: dict[str, Any] | None) -> None:
        rank, known = status_rank(status), self.ranks.get(key)
        if key in self.confirming:
            # The SMS confirmation: the vendor's answer covers every phone, the reports only some.
            self.confirming.discard(key)
            self.ranks[key] = rank
            return
        if known is not None and rank < known:
            # The vendor's answer lags the reports: keep what they said.
            if report is not None:
                self.waiter.reports[key] = report
            return
        if rank > (known if known is not None else status_rank(no_report_yet(status.channel))):
            self.lost.append(key)
        self.ranks[key] = rank

    def _observing(self, fetch: Fetch) -> Fetch:
        def observed(keys: Sequence[str]) -> Iterator[tuple[str, Observation | MensatekError]]:
            for key, answer in fetch(keys):
                if isinstance(answer, Observation):
                    self._observed[key] = answer.status
                    entries = answer.report.get("entries")
                    if answer.status.channel == "mensatek.sms" and isinstance(entries, list) and entries:
                        self.expected.setdefault(key, len(entries))
                yield key, answer

        return observed

    # -- verdict and warnings -------------------------------------------------------------

    def evaluate(self) -> WaitOutcome:
        """The waiter's verdict; a running wait's ``next_check_at`` is its next reconcile."""
        return self.waiter.evaluate()

    def warnings(self, now: float) -> Iterable[str]:
        """What the task log should say about missing reports (each said once per silence)."""
        if self.lost:
            lost, self.lost = self.lost, []
            yield (f"A reconcile poll found {len(lost)} message(s) further on than any report said "
                   f"({', '.join(lost[:5])}{' ...' if len(lost) > 5 else ''}): reports are being lost. Check the "
                   "Mensatek panel's report URL and credentials and the receiver's logs.")
        silent = [key for key in self.pending() if key not in self.seen]
        since = self.waiter.schedule.started_at if self.last_report_at is None else self.last_report_at
        if (silent and now - since >= self.silence_after
                and (self.warned_at is None or now - self.warned_at >= self.silence_after)):
            self.warned_at = now
            yield (f"No Mensatek report lately: {len(silent)} message(s) in flight have none after "
                   f"{(now - self.waiter.schedule.started_at) / 60:.0f} min. A misconfigured panel looks like this: "
                   "check that the API configuration sends reports to the receiver's URL with its credentials, "
                   f"and that a DAG declares the reports Asset. Each message is reconciled by one status check "
                   f"after {self.reconcile_after / 3600:g} h without news.")

    def next_warning_at(self) -> float | None:
        if not [key for key in self.pending() if key not in self.seen]:
            return None
        since = self.waiter.schedule.started_at if self.last_report_at is None else self.last_report_at
        due = since + self.silence_after
        return max(due, self.warned_at + self.silence_after) if self.warned_at is not None else due


def _iso(when: Any) -> str | None:
    return when.isoformat() if when is not None else None


def check_reconcile_after(value: Any, *, floors_apply: bool) -> float:
    """``reconcile_after`` in seconds (a number or a timedelta), at least :data:`RECONCILE_FLOOR` on real hosts."""
    seconds = value.total_seconds() if hasattr(value, "total_seconds") else value
    if isinstance(seconds, str):
        try:
            seconds = float(seconds)
        except ValueError:
            pass
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds > 0:
        raise ValidationError(f"reconcile_after must be a number of seconds above zero, got {value!r}")
    if floors_apply and seconds < RECONCILE_FLOOR:
        raise ValidationError(
            f"reconcile_after={seconds:g} s is below {RECONCILE_FLOOR:g} s: the reconcile poll is for reports "
            "that got lost, and Mensatek treats status queries in a loop as an attack. Faster reconciling is "
            "allowed only against a loopback host (the local sandbox)", vendor="mensatek")
    return float(seconds)
