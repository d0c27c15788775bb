"""How long and how hard the transport tries: checked when built, before any request.

A negative or infinite timeout reaches requests only once a send has started,
where it would count as a send that may have left; here it is a plain
:class:`ValidationError` naming the setting.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from airflow_provider_mensatek.clients._http.limits import DEFAULT_DEADLINE
from airflow_provider_mensatek.clients.errors import ValidationError


def _check_numbers(settings: Any, *, zero_ok: tuple[str, ...] = ()) -> None:
    for f in fields(settings):
        value = getattr(settings, f.name)
        if (isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)
                or value < 0 or (value == 0 and f.name not in zero_ok)):
            kind = "zero or a positive" if f.name in zero_ok else "a positive"
            raise ValidationError(f"{type(settings).__name__}.{f.name} must be {kind} finite number, got {value!r}")


@dataclass(frozen=True)
class RetrySettings:
    """How hard the transport tries before giving up (per call).

    ``max_retry_wait`` caps a vendor ``Retry-After``: when the vendor asks for
    a longer pause the call fails with :class:`RateLimitedError` and the task's
    own retry policy (which knows the delay) takes over instead of blocking a
    worker slot.
    """

    max_attempts: int = 4
    backoff_initial: float = 1.0
    backoff_max: float = 30.0
    max_retry_wait: float = 120.0

    def __post_init__(self) -> None:
        _check_numbers(self, zero_ok=("backoff_initial", "backoff_max", "max_retry_wait"))
        if not isinstance(self.max_attempts, int):
            raise ValidationError(f"RetrySettings.max_attempts must be a whole number, got {self.max_attempts!r}")


@dataclass(frozen=True)
class Timeouts:
    """``connect`` and ``read`` bound each wait on the socket; ``deadline`` a whole call, retries included (s)."""

    connect: float = 10.0
    read: float = 60.0
    deadline: float = DEFAULT_DEADLINE

    def __post_init__(self) -> None:
        _check_numbers(self)

    def as_tuple(self) -> tuple[float, float]:
        return (self.connect, self.read)
