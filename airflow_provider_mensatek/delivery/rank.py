"""Which of two statuses of one message is the later one, so a message's latest status never moves backwards.

Reports arrive late, twice and out of order (the vendor documents no ordering and
no redelivery; polls and webhooks mix). A receiver keeps every report and, per
message, a latest status that only moves forward: a late "delivered" after
"certified" is stored but does not regress it. :func:`status_rank` gives every
:class:`VendorStatus` an integer, from the status tables of ``delivery/statuses.py``
alone, so a code added to a table is ranked without touching this module:

1. **Tier**, lowest first:

   - ``info`` (a report that moves nothing: SMS Contract GPS 5000, an SMS received);
   - ``unknown`` (a code no table has): kept verbatim, but it never replaces a known
     status, because nobody can tell whether it is progress;
   - a known status that is not final (scheduled, pending, sent, delivered,
     certified ... while more can follow);
   - a final failure (bounced, failed, expired, rejected, cancelled);
   - a final success (certified email 11 read, SMS Contract 17/180/181 ...).

   Final beats not final: an SMS Contract that expires (195) after it was
   certified (15) has ended there, and a message once final stays final (no
   reconcile poll restarts for it). A final success beats a final failure: a real
   message never shows both, and if a late bounce followed "read and certified",
   the certificate is what stands (only a certificate is evidence).

2. **Milestones reached**, within a tier: each milestone in
   :data:`PROGRESS` is a bit, higher milestones higher bits, so a status that has
   reached more (a superset of milestones) always ranks higher, and otherwise the
   one with the highest milestone wins. ``PROGRESS`` orders certified *below*
   opened and read because SMS Contracts certify first (14) and are opened (160)
   and read (161) afterwards; certified email 11 ("read and certified") still
   outranks 14 ("delivered and certified"), as a superset.

Statuses of equal rank (SMS 11 and 13 are both "delivered"; 15 and 16 both
"certified") are ordered by the report's time, then by code (numerically when both
are numbers), then by dedupe key: see :func:`order_key`. That makes the latest
report the maximum of a total order, so it does not depend on the order reports
arrive in.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from airflow_provider_mensatek.delivery.statuses import DeliveryStatus, VendorStatus

S = DeliveryStatus

#: Success milestones, in the order a message passes them (see the module docstring for certified).
PROGRESS: Sequence[DeliveryStatus] = (
    S.SCHEDULED, S.PENDING, S.SENT, S.DELIVERED, S.CERTIFIED, S.OPENED, S.READ, S.ACCEPTED, S.SIGNED,
)
#: Failures in a fixed order, which only decides between two final failures of one message.
FAILURES: Sequence[DeliveryStatus] = (S.CANCELLED, S.EXPIRED, S.REJECTED, S.BOUNCED, S.FAILED)

TIER_INFO = 0
TIER_UNKNOWN = 1
TIER_PROGRESS = 2
TIER_FINAL_FAILURE = 3
TIER_FINAL_SUCCESS = 4

_BITS = {status: 1 << index for index, status in enumerate((*FAILURES, *PROGRESS))}
#: Room for every status's bit below the tier (16 statuses in all).
_TIER_SHIFT = 16

_NO_TIME = float("-inf")


def tier(status: VendorStatus) -> int:
    if not status.known or status.status is S.UNKNOWN:
        return TIER_UNKNOWN
    if status.status is S.INFO:
        return TIER_INFO
    if not status.terminal:
        return TIER_PROGRESS
    return TIER_FINAL_FAILURE if status.failure else TIER_FINAL_SUCCESS


def status_rank(status: VendorStatus) -> int:
    """A non-negative integer; a higher rank is a later status of the same message."""
    mask = 0
    for reached in status.reached | {status.status}:
        mask |= _BITS.get(reached, 0)
    return tier(status) << _TIER_SHIFT | mask


def code_key(code: str | None) -> tuple[int, int, str]:
    """Codes in a stable order: none first, then numbers by value, then words."""
    if code is None:
        return (0, 0, "")
    text = code.strip()
    if text.isascii() and text.isdigit() and len(text) <= 18:
        return (1, int(text), text)
    return (2, 0, text)


def order_key(status: VendorStatus, occurred_at: datetime | None,
              dedupe_key: str) -> tuple[int, float, tuple[int, int, str], str]:
    """The total order of reports of one message: rank, then time, then code, then dedupe key."""
    when = occurred_at.timestamp() if occurred_at is not None else _NO_TIME
    return (status_rank(status), when, code_key(status.code), dedupe_key)


__all__ = [
    "FAILURES",
    "PROGRESS",
    "TIER_FINAL_FAILURE",
    "TIER_FINAL_SUCCESS",
    "TIER_INFO",
    "TIER_PROGRESS",
    "TIER_UNKNOWN",
    "code_key",
    "order_key",
    "status_rank",
    "tier",
]
