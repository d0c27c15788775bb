"""What the sandbox's report pushes do: where to, in which format, and the faults to inject.

One :class:`ReportConfig` is what the vendor panel's "API configuration" holds
(URL, JSON or form data, Basic authentication) plus the faults a receiver must
survive. It comes from Python (``sandbox.configure_reports(url, **options)``) or from
``POST /_sandbox/reports`` with the same names, checked the same way: a value the
sandbox cannot use is refused with the parameter named (400 on the route).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_mensatek.clients.mensatek.reports import CERTIFIED_EMAIL, EMAIL, RCS, SMS, SMS_INBOUND
from airflow_provider_mensatek.sandbox import control_params as check
from airflow_provider_mensatek.sandbox.request_log import REDACTED, scrub_log_line

SERVICES = (CERTIFIED_EMAIL, EMAIL, SMS, SMS_INBOUND, RCS)
#: ``form`` is application/x-www-form-urlencoded; ``multipart`` is multipart/form-data.
FORMATS = ("json", "form", "multipart")
DELAY_CLOCKS = ("sandbox", "real")

MAX_COPIES = 100
MAX_WINDOW = 10_000
MAX_RETRIES = 10
MAX_DELAY = 366 * 86_400.0
MAX_REAL_WAIT = 300.0
MAX_LOG_ENTRIES = 1_000_000
DEFAULT_LOG_ENTRIES = 10_000


@dataclass(frozen=True)
class ReportConfig:
    """Report pushes, as configured.

    url, format, user, password
        Where reports are POSTed, as ``json``, ``form`` or ``multipart`` bodies, with
        Basic authentication when ``user`` is set (``user:password`` in UTF-8). The
        URL must be http(s) on a loopback host unless ``allow_remote`` (Python only):
        the sandbox is a local tool. Credentials go in ``user``/``password``, never in the URL.
    services
        Which ``Servicio`` values are pushed (default: all five).
    copies
        Each report is POSTed this many times (2 = every report arrives twice).
    reorder_window, reorder_hold
        Reports are sent in shuffled groups of ``reorder_window``, waiting at most
        ``reorder_hold`` real seconds for a group to fill (1 = in order).
    delay, delay_clock
        Each report waits ``delay`` seconds after its status change before it is sent,
        on the sandbox clock (simulated time) or in real time.
    drop, drop_fraction, seed
        Reports never sent: the numbers in ``drop`` (1 is the first report since this
        configuration) and a ``drop_fraction`` of the others, chosen by ``seed``
        (which also drives the shuffling), so a run can be repeated exactly.
    retries, retry_delay
        The vendor documents no redelivery: a report the receiver does not accept
        (an error status or no answer) is lost, and recorded so. ``retries`` > 0
        sends it again after a 5xx, a 429 or a connection failure, ``retry_delay``
        real seconds apart (for tests of receivers that recover).
    timeout
        Real seconds to wait for the receiver's answer.
    log_entries
        Push attempts kept for ``GET /_sandbox/reports`` (the oldest are dropped and counted).
    """

    url: str
    format: str = "json"
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    services: tuple[str, ...] = SERVICES
    copies: int = 1
    reorder_window: int = 1
    reorder_hold: float = 1.0
    delay: float = 0.0
    delay_clock: str = "sandbox"
    drop: tuple[int, ...] = ()
    drop_fraction: float = 0.0
    seed: int = 0
    retries: int = 0
    retry_delay: float = 0.0
    timeout: float = 10.0
    log_entries: int = DEFAULT_LOG_ENTRIES
    allow_remote: bool = False

    def __post_init__(self) -> None:
        put = object.__setattr__  # frozen: each value is checked, then stored in its normal form
        put(self, "url", _url(self.url, self.allow_remote))
        check.text("format", self.format, choices=FORMATS)
        for name in ("user", "password"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or (name == "user" and ":" in value)):
                raise check.ControlError(f"{name} must be text{' without a colon' if name == 'user' else ''}")
        put(self, "services", _services(self.services))
        put(self, "copies", check.integer("copies", self.copies, minimum=1, maximum=MAX_COPIES))
        put(self, "reorder_window", check.integer("reorder_window", self.reorder_window, minimum=1,
                                                  maximum=MAX_WINDOW))
        put(self, "reorder_hold", check.number("reorder_hold", self.reorder_hold, minimum=0, maximum=MAX_REAL_WAIT))
        put(self, "delay", check.number("delay", self.delay, minimum=0, maximum=MAX_DELAY))
        check.text("delay_clock", self.delay_clock, choices=DELAY_CLOCKS)
        if self.delay_clock == "real" and self.delay > MAX_REAL_WAIT:
            raise check.ControlError(f"delay must be at most {MAX_REAL_WAIT:g} real seconds")
        put(self, "drop", _drop(self.drop))
        put(self, "drop_fraction", check.number("drop_fraction", self.drop_fraction, minimum=0, maximum=1))
        put(self, "seed", check.integer("seed", self.seed, minimum=0, maximum=2**62))
        put(self, "retries", check.integer("retries", self.retries, minimum=0, maximum=MAX_RETRIES))
        put(self, "retry_delay", check.number("retry_delay", self.retry_delay, minimum=0, maximum=MAX_REAL_WAIT))
        put(self, "timeout", check.number("timeout", self.timeout, minimum=0.001, maximum=MAX_REAL_WAIT))
        put(self, "log_entries", check.integer("log_entries", self.log_entries, minimum=1, maximum=MAX_LOG_ENTRIES))
        if not isinstance(self.allow_remote, bool):
            raise check.ControlError("allow_remote must be true or false")

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> ReportConfig:
        """From ``POST /_sandbox/reports`` (names case-insensitive; lists as JSON or comma-separated)."""
        lowered = {str(k).lower(): v for k, v in params.items()}
        if "url" not in lowered:
            raise check.ControlError("url is required")
        return cls(**{name: lowered[name] for name in ROUTE_PARAMETERS if name in lowered})

    def shown(self) -> dict[str, Any]:
        """JSON-able and without the password (nor a query string, which may carry a token)."""
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "password"}
        data["url"] = scrub_log_line(self.url, (self.password or "",))
        data["password"] = None if self.password is None else REDACTED
        data["services"], data["drop"] = list(self.services), list(self.drop)
        return data


#: What ``POST /_sandbox/reports`` takes (``allow_remote`` is for Python callers only).
ROUTE_PARAMETERS = tuple(f.name for f in fields(ReportConfig) if f.name != "allow_remote")


def _url(value: Any, allow_remote: bool) -> str:
    url = check.text("url", value).strip()
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError:
        raise check.ControlError("url is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not host:
        raise check.ControlError("url must be an http:// or https:// URL with a host")
    if parts.username is not None or parts.password is not None:
        raise check.ControlError("url must not carry credentials: give user and password instead")
    if not allow_remote and not _loopback(host):
        raise check.ControlError("url must be on a loopback host (127.0.0.1, ::1, localhost)")
    return url


def _loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _listed(name: str, value: Any) -> list[Any]:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except ValueError:
                raise check.ControlError(f"{name} is not a valid JSON list") from None
        else:
            return [item.strip() for item in text.split(",") if item.strip()]
    if not isinstance(value, list | tuple):
        raise check.ControlError(f"{name} must be a list (JSON or comma-separated)")
    return list(value)


def _services(value: Any) -> tuple[str, ...]:
    chosen = [str(s).strip().upper() for s in _listed("services", value)]
    unknown = sorted(set(chosen) - set(SERVICES))
    if unknown or not chosen:
        raise check.ControlError(f"services must be some of {', '.join(SERVICES)}"
                                 + (f", not {', '.join(unknown)[:80]}" if unknown else ""))
    return tuple(s for s in SERVICES if s in chosen)


def _drop(value: Any) -> tuple[int, ...]:
    items = _listed("drop", value)
    if len(items) > MAX_WINDOW:
        raise check.ControlError(f"drop lists at most {MAX_WINDOW} reports")
    return tuple(sorted({check.integer("drop", item, minimum=1, maximum=2**62) for item in items}))
