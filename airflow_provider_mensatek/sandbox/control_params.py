"""Checks for the values that steer the sandbox (control routes, faults, command line).

A control value the sandbox cannot use is refused where it arrives, naming the
parameter (the control routes answer 400): accepted, ``advance=nan`` or
``speed=inf`` would break the clock for every later request, and
``delay=inf`` would hold a server thread forever.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from typing import Any

FAULT_KINDS = ("drop_after_accept", "drop", "garble_after_accept", "status", "delay")
#: A reply slower than any client timeout worth testing only ties up a server thread.
MAX_FAULT_DELAY = 300.0
MAX_FAULT_TIMES = 10_000
MAX_RETRY_AFTER = 366 * 86_400.0
#: Simulated seconds per real second: 100,000 is a day in under a second, and
#: the clock stays inside the calendar for years of real time.
MAX_CLOCK_SPEED = 100_000.0
#: One move of the clock, either way (a century).
MAX_CLOCK_STEP = 100 * 366 * 86_400.0

_INTEGER = re.compile(r"[+-]?[0-9]{1,18}")


class ControlError(ValueError):
    """A control value the sandbox refuses (HTTP 400 on the control routes)."""


def check_names(params: Mapping[str, Any], allowed: Collection[str], route: str) -> None:
    """Refuse unknown names: a misspelt ``retry-after`` silently ignored makes a test pass for the wrong reason."""
    unknown = sorted(str(k) for k in params if str(k).lower() not in allowed)
    if unknown:
        takes = ", ".join(sorted(allowed)) or "no parameters"
        raise ControlError(f"{route}: unknown parameter(s) {', '.join(unknown)}; it takes {takes}")


def number(name: str, value: Any, *, minimum: float, maximum: float) -> float:
    """A finite number in [minimum, maximum], from a number or its text."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ControlError(f"{name} must be a number, not {_show(value)}")
    try:
        result = float(value)
    except (ValueError, OverflowError):
        raise ControlError(f"{name} must be a number, not {_show(value)}") from None
    if not math.isfinite(result) or not minimum <= result <= maximum:
        raise ControlError(f"{name} must be a finite number from {_plain(minimum)} to {_plain(maximum)}, "
                           f"not {_show(value)}")
    return result


def integer(name: str, value: Any, *, minimum: int, maximum: int) -> int:
    """A whole number in [minimum, maximum], from an int or its decimal text."""
    if isinstance(value, bool) or not isinstance(value, (int, str)) or (
            isinstance(value, str) and not _INTEGER.fullmatch(value.strip())):
        raise ControlError(f"{name} must be a whole number, not {_show(value)}")
    result = int(value)
    if not minimum <= result <= maximum:
        raise ControlError(f"{name} must be from {minimum} to {maximum}, not {_show(value)}")
    return result


def text(name: str, value: Any, *, choices: Collection[str] | None = None, required: bool = True) -> str:
    if not isinstance(value, str) or (required and not value.strip()):
        raise ControlError(f"{name} must be a non-empty text, not {_show(value)}")
    if choices is not None and value not in choices:
        raise ControlError(f"{name} must be one of {', '.join(choices)}, not {_show(value)}")
    return value


def _plain(bound: float) -> str:
    return str(int(bound)) if float(bound).is_integer() else f"{bound:g}"


def _show(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."
