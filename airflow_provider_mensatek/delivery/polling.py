"""Polite polling: when to ask a vendor about a message again.

:class:`PollPolicy` holds the numbers (all overridable); :class:`PollSchedule`
is the per-message bookkeeping, kept as plain JSON so a sensor in reschedule
mode (task state store) and a deferred trigger (trigger kwargs) continue the
backoff where it stopped instead of starting over with a burst of checks.

Times are POSIX seconds from an injected clock, never ``time.monotonic``: the
schedule must mean the same thing in the next process that picks it up.

Why not BaseSensorOperator's ``exponential_backoff``: its jitter can shorten the
first backed-off wait to half of ``poke_interval``, so it cannot guarantee a
vendor minimum. The minimums are enforced here.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from airflow_provider_mensatek.clients.errors import ValidationError

log = logging.getLogger("airflow_provider_mensatek.delivery.polling")

# Jitter only spreads checks apart; it needs no cryptographic randomness.
_RANDOM = random.Random()


@dataclass(frozen=True)
class PollPolicy:
    """How often one message may be checked.

    :param initial_delay: seconds after the wait starts before a message's first check.
    :param min_interval: the shortest gap between two checks of the same message.
    :param max_interval: the backoff ceiling between two checks of the same message.
    :param multiplier: growth of the gap after each check that did not end the wait.
    :param jitter: fraction (0-1) by which a gap is randomly shortened, never below
        ``min_interval``; the first check is delayed by up to this fraction instead,
        never advanced. Spreads sensors started together (a campaign) apart.
    :param max_checks: checks per message before giving up (None: no cap; the
        sensor ``timeout`` still applies).
    :param initial_spread: the first check falls at a random point of
        ``[initial_delay, initial_delay + initial_spread]`` (at least the ``jitter``
        share of ``initial_delay``), so waits started together do not all ask at once.
    :param spread_per_message: draw that point (and later jitter) per message, not
        per wait. For APIs with one status call per message (Mensatek), so one
        sensor waiting on a whole campaign spreads its calls like separate
        sensors would; APIs with list calls (LegallyMail) keep a wait's messages
        together so one call answers for many.
    """

    initial_delay: float
    min_interval: float
    max_interval: float
    multiplier: float = 2.0
    jitter: float = 0.1
    max_checks: int | None = None
    initial_spread: float = 0.0
    spread_per_message: bool = False

    def __post_init__(self) -> None:
        for name in ("initial_delay", "min_interval", "max_interval", "initial_spread"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                raise ValidationError(f"PollPolicy.{name} must be a number >= 0 (seconds), got {value!r}")
        if self.max_interval < self.min_interval:
            raise ValidationError(
                f"PollPolicy.max_interval ({self.max_interval}) is below min_interval ({self.min_interval})"
            )
        if not isinstance(self.multiplier, int | float) or self.multiplier < 1:
            raise ValidationError(f"PollPolicy.multiplier must be >= 1, got {self.multiplier!r}")
        if not isinstance(self.jitter, int | float) or not 0 <= self.jitter < 1:
            raise ValidationError(f"PollPolicy.jitter must be in [0, 1), got {self.jitter!r}")
        if self.max_checks is not None and (not isinstance(self.max_checks, int) or self.max_checks < 1):
            raise ValidationError(f"PollPolicy.max_checks must be a positive integer or None, got "
                                  f"{self.max_checks!r}")

    # -- the numbers ---------------------------------------------------------

    def first_delay(self, rng: random.Random | None = None) -> float:
        """Seconds from the start of the wait to a message's first check (never less than initial_delay)."""
        uniform = (rng or _RANDOM).uniform
        return self.initial_delay + uniform(0, max(self.initial_spread, self.initial_delay * self.jitter))

    def interval_after(self, checks: int, rng: random.Random | None = None) -> float:
        """Gap after the ``checks``-th check of a message (1-based), jittered down but never below min."""
        uniform = (rng or _RANDOM).uniform
        base = min(self.max_interval, self.min_interval * self.multiplier ** max(checks - 1, 0))
        return max(self.min_interval, base * (1 - uniform(0, self.jitter)))

    # -- (de)serialisation -----------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PollPolicy:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValidationError(f"Unknown PollPolicy settings {unknown}; known: {sorted(known)}")
        return cls(**dict(data))

    def with_overrides(self, overrides: Mapping[str, Any] | None) -> PollPolicy:
        """This policy with some numbers replaced (e.g. a sensor's ``poll_policy={"max_interval": 1800}``)."""
        if not overrides:
            return self
        return PollPolicy.from_dict({**self.to_dict(), **dict(overrides)})


#: Mensatek (every channel). The API documents say that looping status queries
#: ("continuous querying of the status of the same message(s)") are treated as
#: an attack and may block the connection, and that quick "empty" connections
#: for the same report count as spam. Certified email certification and SMS
#: delivery take minutes; so: nothing before 5 minutes, then doubling to one
#: check per hour. 100 checks at the ceiling covers the 72 h after which an SMS
#: to a switched-off phone expires (status 53/101/103/113). A campaign's
#: messages are sent in the same minute: their first checks are spread over
#: 5 more minutes, so 1,000 of them do not make 1,000 report calls in one minute.
MENSATEK_POLICY = PollPolicy(initial_delay=300, min_interval=300, max_interval=3600, max_checks=100,
                             initial_spread=300, spread_per_message=True)

#: LegallyMail documents 10 requests per minute per IP (HTTP 429 beyond). The
#: shared per-credential limiter keeps the process under that; the per-message
#: policy keeps one long wait from eating the budget of everything else: first
#: check after a minute (delivery certificates arrive in seconds, reading takes
#: people minutes to hours), doubling to every 30 minutes.
LEGALLYMAIL_POLICY = PollPolicy(initial_delay=60, min_interval=60, max_interval=1800, max_checks=200)

DEFAULT_POLICIES: dict[str, PollPolicy] = {"mensatek": MENSATEK_POLICY, "legallymail": LEGALLYMAIL_POLICY}


def policy_for(vendor: str, overrides: Mapping[str, Any] | PollPolicy | None = None) -> PollPolicy:
    """The vendor default, with user overrides (a dict of numbers or a whole PollPolicy)."""
    if isinstance(overrides, PollPolicy):
        return overrides
    if overrides is not None and not isinstance(overrides, Mapping):
        raise ValidationError(f"poll_policy must be a dict of numbers or a PollPolicy, got "
                              f"{type(overrides).__name__}")
    try:
        base = DEFAULT_POLICIES[vendor]
    except KeyError:
        raise ValidationError(f"No polling policy for vendor {vendor!r}") from None
    return base.with_overrides(overrides)


_SLACK = 0.001
#: Bounds the replay of :meth:`PollSchedule.as_if_on_time` for a policy with no cap and no growth.
_MAX_REPLAYED_CHECKS = 100_000


@dataclass
class MessageSchedule:
    """Polling bookkeeping for one message."""

    checks: int = 0
    next_at: float = 0.0
    done: bool = False


@dataclass
class PollSchedule:
    """When each message is next due, plus a vendor-wide "not before" (Retry-After, 429).

    Jitter is drawn once per wait (``seed``), not per message: the messages of
    one wait checked in the same round stay due together, so a list call can
    keep answering for all of them; different waits (sensors started together)
    still spread apart. Everything is JSON-able through :meth:`to_dict` /
    :meth:`from_dict`.
    """

    policy: PollPolicy
    started_at: float
    messages: dict[str, MessageSchedule] = field(default_factory=dict)
    not_before: float = 0.0
    seed: float = 0.0

    @classmethod
    def start(cls, policy: PollPolicy, keys: Iterable[str], now: float,
              rng: random.Random | None = None) -> PollSchedule:
        schedule = cls(policy=policy, started_at=now, seed=(rng or _RANDOM).random())
        for key in keys:
            first = now + policy.first_delay(schedule._jitter(0, str(key)))
            schedule.messages[str(key)] = MessageSchedule(next_at=first)
        return schedule

    @classmethod
    def as_if_on_time(cls, policy: PollPolicy, keys: Iterable[str], *, started_at: float, now: float,
                      seed: float) -> PollSchedule:
        """The schedule of a wait started at ``started_at`` whose every check came when due, seen at ``now``.

        For a wait that could not keep its schedule (a sensor in reschedule mode with no task state store,
        Airflow < 3.3): the first check still waits the initial delay from the real start, and the backoff
        and ``max_checks`` go on from the time elapsed instead of starting over at each try. What the
        earlier tries learnt is lost, so every message whose first check has passed is due now, and the
        messages share one timeline (no per-message spread): otherwise each message's time would wake a try
        that asks again about all of them. ``seed`` must be the same at every try (the same jitter).
        """
        shared = replace(policy, spread_per_message=False)
        schedule = cls(policy=shared, started_at=started_at, seed=seed)
        due_at = started_at + shared.first_delay(schedule._jitter(0, ""))
        made = 0
        cap = min(shared.max_checks or _MAX_REPLAYED_CHECKS, _MAX_REPLAYED_CHECKS)
        while made + 1 < cap:
            following = due_at + shared.interval_after(made + 1, schedule._jitter(made + 1, ""))
            if following > now + _SLACK or following <= due_at:
                break
            due_at, made = following, made + 1
        schedule.messages = {str(key): MessageSchedule(checks=made, next_at=due_at) for key in keys}
        return schedule

    def _jitter(self, checks: int, key: str) -> random.Random:
        # Same wait and same check count -> same jitter, in this process or the next
        # (and per message too when the policy spreads messages apart).
        if self.policy.spread_per_message:
            return random.Random(f"{self.seed}:{checks}:{key}")
        return random.Random(f"{self.seed}:{checks}")

    # -- questions -----------------------------------------------------------

    def _active(self, m: MessageSchedule) -> bool:
        cap = self.policy.max_checks
        return not m.done and (cap is None or m.checks < cap)

    def pending(self) -> list[str]:
        """Messages still to be checked (not final, checks left)."""
        return [k for k, m in self.messages.items() if self._active(m)]

    def due(self, now: float) -> list[str]:
        """Messages that may be checked at ``now`` (none while a Retry-After is running)."""
        # Clocks with microsecond resolution (datetime) wake a hair early; a
        # millisecond of slack stops a sleep-until-due loop from spinning.
        now += _SLACK
        if now < self.not_before:
            return []
        return [k for k, m in self.messages.items() if self._active(m) and m.next_at <= now]

    def next_wake(self) -> float | None:
        """The earliest time anything is due (None when nothing is left to check)."""
        times = [m.next_at for m in self.messages.values() if self._active(m)]
        if not times:
            return None
        return max(min(times), self.not_before)

    def exhausted(self) -> list[str]:
        """Unfinished messages that used up ``max_checks``."""
        return [k for k, m in self.messages.items() if not m.done and not self._active(m)]

    # -- updates -------------------------------------------------------------

    def checked(self, key: str, now: float, *, final: bool) -> None:
        """Record a check of ``key`` answered at ``now``; a final answer means it is never queried again."""
        message = self.messages[key]
        message.checks += 1
        if final:
            message.done = True
            return
        message.next_at = now + self.policy.interval_after(message.checks, self._jitter(message.checks, key))

    def retry_after(self, now: float, seconds: float | None) -> None:
        """The vendor said "slow down": nothing is checked before ``now + seconds``.

        Without a Retry-After value the policy's ``min_interval`` is used, so a
        bare 429 never causes an immediate repeat.
        """
        wait = seconds if seconds is not None else self.policy.min_interval
        self.not_before = max(self.not_before, now + max(wait, 0.0))

    # -- (de)serialisation -----------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy.to_dict(),
            "started_at": self.started_at,
            "not_before": self.not_before,
            "seed": self.seed,
            "messages": {k: asdict(m) for k, m in self.messages.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PollSchedule:
        return cls(
            policy=PollPolicy.from_dict(data["policy"]),
            started_at=float(data["started_at"]),
            not_before=float(data.get("not_before", 0.0)),
            seed=float(data.get("seed", 0.0)),
            messages={str(k): MessageSchedule(**v) for k, v in dict(data.get("messages", {})).items()},
        )
