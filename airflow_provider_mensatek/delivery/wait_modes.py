"""How a Mensatek wait learns of statuses: by polling, or from the real-time reports the receiver stores.

Names only, no machinery: DAG files load this module while they are parsed (a
sensor checks its ``wait_for`` there), and the waiting machinery
(``delivery/report_waiting.py``, ``triggers/``) is imported only where a wait runs.
"""

from __future__ import annotations

from typing import Any

WAIT_AUTO = "auto"
WAIT_REPORTS = "reports"
WAIT_POLL = "poll"
WAIT_FOR = (WAIT_AUTO, WAIT_REPORTS, WAIT_POLL)

#: The status channels Mensatek also reports in real time -> the receiver's report channel (its Asset).
#: LegallyMail sends no reports: its waits always poll.
REPORT_CHANNELS = {"mensatek.certified_email": "certified_email", "mensatek.sms": "sms"}

#: Silence, per message, before a reconcile poll: the receiver normally hears of a message within
#: minutes of its send, and Mensatek counts status loops as an attack, so hours, not minutes.
RECONCILE_AFTER = 6 * 3600.0
#: The shortest ``reconcile_after`` against the real vendor (a loopback sandbox may go faster).
RECONCILE_FLOOR = 3600.0


def check_wait_for(value: Any, channel: str) -> str:
    """``wait_for`` of a wait on ``channel`` (a status channel), or ``ValueError`` naming what is allowed."""
    if value not in WAIT_FOR:
        raise ValueError(f"wait_for must be one of {', '.join(WAIT_FOR)}, got {value!r}")
    if value == WAIT_REPORTS and channel not in REPORT_CHANNELS:
        raise ValueError(f"{channel} has no real-time reports: wait_for must be 'poll'")
    return str(value)


__all__ = ["RECONCILE_AFTER", "RECONCILE_FLOOR", "REPORT_CHANNELS", "WAIT_AUTO", "WAIT_FOR", "WAIT_POLL",
           "WAIT_REPORTS", "check_wait_for"]
