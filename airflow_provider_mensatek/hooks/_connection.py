"""What both hooks read from an Airflow Connection, checked before any client call.

A bad extra (``read_timeout=-1``, ``deadline="soon"``) is refused here, by
name, when the hook builds the client: before an operator writes its "send in
flight" marker, so it can never look like a send that may have left.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from airflow.sdk.log import mask_secret

from airflow_provider_mensatek.clients._http.limits import DEFAULT_MAX_RESPONSE_BYTES
from airflow_provider_mensatek.clients._http.redact import register_secret
from airflow_provider_mensatek.clients._http.settings import RetrySettings, Timeouts
from airflow_provider_mensatek.clients._http.urls import resolve_base_url
from airflow_provider_mensatek.clients.errors import ValidationError


def extra_number(extra: dict[str, Any], key: str, default: float, *, vendor: str, whole: bool = False,
                 zero_ok: bool = False) -> float:
    """``extra[key]`` as a finite number above zero (or zero when ``zero_ok``); ``default`` when unset."""
    value = extra.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    number: float | None = None
    if not isinstance(value, bool):
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = None
    if (number is None or not math.isfinite(number) or number < 0 or (number == 0 and not zero_ok)
            or (whole and not number.is_integer())):
        kind = "whole number" if whole else "number"
        floor = "zero or more" if zero_ok else "above zero"
        raise ValidationError(f"Connection extra {key!r} must be a finite {kind} {floor}, got {value!r}",
                              vendor=vendor)
    return number


@dataclass(frozen=True)
class ConnectionSettings:
    base_url: str
    timeouts: Timeouts
    retry: RetrySettings
    max_response_bytes: int
    #: The ``proxy`` and ``ca_bundle`` extras, as the clients take them (checked there).
    network: dict[str, Any]


def connection_settings(conn: Any, *, vendor: str, default_url: str) -> ConnectionSettings:
    """Base URL (host, port, schema and the ``scheme`` extra: the URI form too), timeouts, retries, caps,
    and the ``proxy`` / ``ca_bundle`` extras."""
    extra = conn.extra_dejson or {}
    base_url = resolve_base_url(conn.host, default=default_url, port=conn.port, path=conn.schema,
                                scheme=extra.get("scheme"))
    t, r = Timeouts(), RetrySettings()
    timeouts = Timeouts(
        connect=extra_number(extra, "connect_timeout", t.connect, vendor=vendor),
        read=extra_number(extra, "read_timeout", t.read, vendor=vendor),
        deadline=extra_number(extra, "deadline", t.deadline, vendor=vendor),
    )
    retry = RetrySettings(
        # Attempts: 0 and 1 both mean "one attempt, no retry".
        max_attempts=max(1, int(extra_number(extra, "max_retries", r.max_attempts, vendor=vendor, whole=True,
                                             zero_ok=True))),
        max_retry_wait=extra_number(extra, "max_retry_wait", r.max_retry_wait, vendor=vendor, zero_ok=True),
    )
    max_bytes = int(extra_number(extra, "max_response_bytes", DEFAULT_MAX_RESPONSE_BYTES, vendor=vendor,
                                 whole=True))
    network = {"proxy": extra.get("proxy") or None, "ca_bundle": extra.get("ca_bundle") or None}
    return ConnectionSettings(base_url, timeouts, retry, max_bytes, network)


def mask_credential(secret: str | None, *, user: str | None = None) -> None:
    """Register every wire form of ``secret`` with Airflow's secret masker and the clients' redaction.

    Airflow masks the connection password as written; an error page echoing
    ``base64(user:token)`` or a URL-encoded token would pass its exact-match masker.
    """
    if secret:
        for form in register_secret(secret, user=user).masker_forms():
            mask_secret(form)
