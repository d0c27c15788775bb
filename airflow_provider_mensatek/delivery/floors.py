"""The fastest status polling each vendor accepts, checked before a wait makes its first request.

A :class:`PollPolicy` is only numbers, and ``poll_policy={"min_interval": 0.2}``
made 30 report calls in 6 seconds: the loop Mensatek's documents call an
attack. So every wait (sensor, reschedule, trigger, including a trigger
rebuilt from serialised kwargs that someone edited) checks its policy against
the vendor's floor here:

* Mensatek: at least 60 s before a message's first check and between two
  checks of it. The documents give no number; they say status queries "in a
  loop" are an attack that may block the connection and that repeated "empty"
  connections for the same report count as spam. Certification takes minutes,
  SMS delivery seconds to hours; one check a minute per message is the most a
  user may ask for (the defaults wait 5 minutes, then back off to hourly).
* LegallyMail: at least 6 s, its documented 10 requests per minute per IP:
  one message may never be polled faster than the whole limit allows. The
  shared per-token limiter still spaces everything the process sends.

The floors guard the real vendors. A base URL on a loopback host (the local
sandbox) relaxes them, so tests, demos and system tests can use fast policies.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from airflow_provider_mensatek.clients._http.transport import is_loopback_host
from airflow_provider_mensatek.clients.errors import ValidationError
from airflow_provider_mensatek.clients.legallymail.checks import LEGALLYMAIL_REQUESTS_PER_MINUTE
from airflow_provider_mensatek.delivery.polling import PollPolicy


@dataclass(frozen=True)
class PollFloor:
    """The smallest ``initial_delay`` and ``min_interval`` (seconds) a vendor's policy may have."""

    initial_delay: float
    min_interval: float
    why: str


POLL_FLOORS: dict[str, PollFloor] = {
    "mensatek": PollFloor(60.0, 60.0, "Mensatek treats status queries in a loop as an attack and may block "
                                      "the connection"),
    "legallymail": PollFloor(60.0 / LEGALLYMAIL_REQUESTS_PER_MINUTE, 60.0 / LEGALLYMAIL_REQUESTS_PER_MINUTE,
                             f"LegallyMail allows {LEGALLYMAIL_REQUESTS_PER_MINUTE} requests per minute per IP"),
}


def floors_apply(base_url: str) -> bool:
    """False for a loopback host (the local sandbox), where fast policies are allowed."""
    return not is_loopback_host(urlsplit(base_url).hostname)


def check_poll_floor(vendor: str, policy: PollPolicy, base_url: str) -> PollPolicy:
    """``policy`` if it is not faster than ``vendor`` accepts at ``base_url``, else :class:`ValidationError`."""
    try:
        floor = POLL_FLOORS[vendor]
    except KeyError:
        raise ValidationError(f"No polling floor for vendor {vendor!r}") from None
    if not floors_apply(base_url):
        return policy
    too_fast = [f"{name}={getattr(policy, name):g} s (at least {getattr(floor, name):g} s)"
                for name in ("initial_delay", "min_interval") if getattr(policy, name) < getattr(floor, name)]
    if too_fast:
        raise ValidationError(
            f"poll_policy is faster than {vendor} accepts: {', '.join(too_fast)}. {floor.why}. Such fast "
            "policies are allowed only against a loopback host (the local sandbox)", vendor=vendor,
        )
    return policy


__all__ = ["POLL_FLOORS", "PollFloor", "check_poll_floor", "floors_apply"]
