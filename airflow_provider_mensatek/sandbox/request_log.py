"""The sandbox's request log: bounded in memory, and safe to show.

Tests in the same process read :class:`RecordedRequest` objects whole (they
assert on the credentials a client sent). What leaves the process goes through
here: ``GET /_sandbox/requests`` and ``repr()`` through :func:`shown_request`
(JSON-safe, uploads as name, size and sha256), the server's log lines through
:func:`scrub_log_line`; neither shows a credential in any form, because a user
who points a client at the sandbox by mistake sends it a real token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar
from urllib.parse import quote, quote_plus

#: Requests kept for inspection; the oldest go first. Tests reset between cases; a
#: benchmark that counts more calls than this raises it.
DEFAULT_MAX_LOGGED_REQUESTS = 10_000
#: Bodies kept for inspection, summed; a few maximal uploads, not an unbounded heap.
DEFAULT_MAX_LOGGED_BYTES = 256 * 1024 * 1024

REDACTED = "<redacted>"

_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key", "x-auth-token",
                             "api-key"})
_SECRET_NAMES = frozenset({"token", "api_token", "apitoken", "api_key", "apikey", "access_token", "password",
                           "passwd", "secret", "client_secret"})
# Shorter values are only hidden where they are a whole credential field: replacing
# every "ab" in a log would hide the log, not the secret.
_MIN_SCRUBBED_LEN = 4
_QUERY_IN_LOG_LINE = re.compile(r"\?[^\s\"']*")


class _Entry(Protocol):
    body: bytes
    seq: int


E = TypeVar("E", bound=_Entry)


class RequestLog(Generic[E]):
    """The latest requests: past ``max_requests`` entries or ``max_bytes`` of bodies the oldest are dropped.

    Not thread-safe: the sandbox holds its lock around every call.
    """

    def __init__(self, max_requests: int = DEFAULT_MAX_LOGGED_REQUESTS,
                 max_bytes: int = DEFAULT_MAX_LOGGED_BYTES) -> None:
        for name, value in (("max_requests", max_requests), ("max_bytes", max_bytes)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")
        self.max_requests = max_requests
        self.max_bytes = max_bytes
        self.entries: list[E] = []
        self.dropped = 0
        self._bytes = 0
        self._seq = 0

    def append(self, entry: E) -> None:
        self._seq += 1
        entry.seq = self._seq
        self.entries.append(entry)
        self._bytes += len(entry.body)
        drop = max(0, len(self.entries) - self.max_requests)
        freed = sum(len(e.body) for e in self.entries[:drop])
        # The newest entry stays even alone over max_bytes: it is the one being looked at.
        while self._bytes - freed > self.max_bytes and drop < len(self.entries) - 1:
            freed += len(self.entries[drop].body)
            drop += 1
        if drop:
            del self.entries[:drop]
            self._bytes -= freed
            self.dropped += drop

    def clear(self) -> None:
        self.entries.clear()
        self.dropped = self._bytes = self._seq = 0


def credentials_in(headers: Mapping[str, str], *fields: Mapping[str, Any]) -> set[str]:
    """Every credential a request carries: in its auth headers and in credential-named fields."""
    found: set[str] = set()
    for name in _SECRET_HEADERS:
        value = (headers.get(name) or "").strip()
        if not value:
            continue
        found.add(value)
        scheme, _, rest = value.partition(" ")
        rest = rest.strip()
        if not rest:
            continue
        found.add(rest)
        if scheme.lower() == "basic":
            decoded = _basic_decoded(rest)
            if decoded is not None:
                found.add(decoded)
                found.add(decoded.partition(":")[2])
    for mapping in fields:
        for key, value in mapping.items():
            if str(key).lower() in _SECRET_NAMES and isinstance(value, str) and value:
                found.add(value)
    return found


def wire_forms(secrets: Iterable[str]) -> set[str]:
    """Each secret as it may appear on the wire: raw and URL-encoded."""
    return {form for s in secrets if s for form in (s, quote(s, safe=""), quote_plus(s))}


def shown_request(*, method: str, path: str, query: Mapping[str, str], headers: Mapping[str, str],
                  params: Mapping[str, Any], at: datetime, content_type: str, body_size: int, seq: int,
                  secrets: Iterable[str]) -> dict[str, Any]:
    """A request as ``/_sandbox/requests`` shows it (the historical fields, plus ``seq`` and ``body_size``)."""
    scrub = _Scrubber(wire_forms(secrets) | wire_forms(credentials_in(headers, query, params)))
    return {
        "method": method, "path": scrub.text(path), "query": scrub.value(query),
        "headers": {name: scrub.header(name, value) for name, value in headers.items()},
        "params": scrub.value(params), "at": at.isoformat(), "content_type": scrub.text(content_type),
        "seq": seq, "body_size": body_size,
    }


def scrub_log_line(line: str, secrets: Iterable[str]) -> str:
    """A server log line without query strings (they may carry a token) or known secrets."""
    return _Scrubber(wire_forms(secrets)).text(_QUERY_IN_LOG_LINE.sub("?" + REDACTED, line))


class _Scrubber:
    def __init__(self, secrets: set[str]) -> None:
        # Longest first, so a secret that contains another leaves no tail behind.
        self._secrets = sorted((s for s in secrets if len(s) >= _MIN_SCRUBBED_LEN), key=len, reverse=True)
        self._whole = secrets

    def text(self, value: str) -> str:
        if value in self._whole:
            return REDACTED
        for secret in self._secrets:
            value = value.replace(secret, REDACTED)
        return value

    def header(self, name: str, value: str) -> str:
        if name.lower() in ("authorization", "proxy-authorization"):
            return self._authorization(value)
        if name.lower() in _SECRET_HEADERS:
            return REDACTED
        return self.text(value)

    def _authorization(self, value: str) -> str:
        """The scheme, and for Basic the user name: who called, never with what."""
        scheme, _, rest = value.strip().partition(" ")
        if not rest.strip():
            return REDACTED  # a bare token, which LegallyMail accepts
        if scheme.lower() == "basic":
            decoded = _basic_decoded(rest.strip())
            if decoded is not None and ":" in decoded:
                return f"Basic {self.text(decoded.partition(':')[0])}:{REDACTED}"
        return f"{self.text(scheme)} {REDACTED}"

    def value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, (bytes, bytearray)):
            return _digest(bytes(value))
        if isinstance(value, Mapping):
            if isinstance(value.get("content"), (bytes, bytearray)) and "filename" in value:
                return {"filename": self.value(value["filename"]), **_digest(bytes(value["content"]))}
            return {self.text(str(k)): REDACTED if str(k).lower() in _SECRET_NAMES else self.value(v)
                    for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.value(v) for v in value]
        if value is None or isinstance(value, (bool, int)):
            return value
        if isinstance(value, float):
            # json.dumps would write NaN / Infinity, which strict JSON readers refuse.
            return value if math.isfinite(value) else str(value)
        return self.text(str(value))


def _basic_decoded(credentials: str) -> str | None:
    try:
        return base64.b64decode(credentials, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None


def _digest(content: bytes) -> dict[str, Any]:
    return {"size": len(content), "sha256": hashlib.sha256(content).hexdigest()}
