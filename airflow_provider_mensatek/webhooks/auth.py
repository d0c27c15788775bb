"""Who may post reports: Basic authentication against the ``mensatek_reports`` connection, in constant time.

Airflow does not authenticate plugin apps, so the receiver checks every request
itself. Only the *first* ``Authorization`` header counts, and only its ``Basic``
scheme: with ``simple_auth_manager_all_admins`` Airflow's middleware appends a
``Bearer`` header of its own to every request, which must never let anyone in.
The header is decoded on bytes (RFC 7617, UTF-8), and both the user and the
password are compared with :func:`hmac.compare_digest` on bytes (it refuses
non-ASCII ``str``; headers are attacker-controlled). During a rotation the
connection's ``previous_password`` is accepted too.

The connection is read through its hook (``MensatekReportsHook``) and kept for
:data:`SETTINGS_TTL` seconds in each api-server worker: a changed password
takes effect within that time, and a flood of requests does not become a flood
of connection lookups.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import threading
import time
from collections.abc import Iterable

from airflow_provider_mensatek.clients.errors import ValidationError
from airflow_provider_mensatek.hooks.mensatek_reports import MensatekReportsHook, ReceiverSettings

log = logging.getLogger("airflow_provider_mensatek.webhooks")

#: Seconds a worker keeps the connection it read (a rotation takes effect within this time).
SETTINGS_TTL = 10.0
#: Longest ``Authorization`` header read (a Basic header of a 256-byte credential is ~350 bytes).
MAX_HEADER_BYTES = 4096


class NotConfigured(Exception):
    """The ``mensatek_reports`` connection is missing or invalid (the message says which, never a secret)."""


class SettingsCache:
    """The receiver's connection, read at most every :data:`SETTINGS_TTL` seconds per process."""

    def __init__(self, conn_id: str = MensatekReportsHook.default_conn_name, ttl: float = SETTINGS_TTL) -> None:
        self.conn_id = conn_id
        self.ttl = ttl
        self._lock = threading.Lock()
        self._value: ReceiverSettings | NotConfigured | None = None
        self._read_at = float("-inf")

    def get(self) -> ReceiverSettings:
        """The settings, or :class:`NotConfigured`; a database error reading the connection goes up."""
        with self._lock:
            if self._value is None or time.monotonic() - self._read_at >= self.ttl:
                self._value = self._read()
                self._read_at = time.monotonic()
            value = self._value
        if isinstance(value, NotConfigured):
            raise value
        return value

    def forget(self) -> None:
        with self._lock:
            self._value = None

    def _read(self) -> ReceiverSettings | NotConfigured:
        from airflow.sdk.exceptions import AirflowNotFoundException

        try:
            return MensatekReportsHook(self.conn_id).get_conn()
        except AirflowNotFoundException:
            problem = NotConfigured(f"the connection {self.conn_id!r} does not exist")
        except ValidationError as exc:
            problem = NotConfigured(f"the connection {self.conn_id!r} is invalid: {exc}")
        log.error("Mensatek reports receiver: %s; every report is refused with 503 until it is set", problem)
        return problem


def first_authorization(headers: Iterable[tuple[bytes, bytes]]) -> bytes | None:
    """The first ``Authorization`` header's raw value (ASGI ``scope["headers"]``), or None."""
    for name, value in headers:
        if name.lower() == b"authorization":
            return value
    return None


def basic_credentials(header: bytes | None) -> tuple[bytes, bytes] | None:
    """``(user, password)`` as bytes from a ``Basic`` header; None for anything else."""
    if header is None or len(header) > MAX_HEADER_BYTES:
        return None
    scheme, _, token = header.strip().partition(b" ")
    if scheme.lower() != b"basic":
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    user, colon, password = decoded.partition(b":")
    return (user, password) if colon else None


def authorised(header: bytes | None, settings: ReceiverSettings) -> bool:
    """Whether the header carries the connection's user and one of its passwords (constant time)."""
    credentials = basic_credentials(header)
    if credentials is None:
        return False
    user, password = credentials
    user_ok = hmac.compare_digest(user, settings.user.encode("utf-8"))
    # Every configured password is compared, so timing does not say which one (if any) matched.
    matches = [hmac.compare_digest(password, candidate.encode("utf-8")) for candidate in settings.passwords]
    return user_ok and any(matches)


__all__ = ["SETTINGS_TTL", "NotConfigured", "SettingsCache", "authorised", "basic_credentials",
           "first_authorization"]
