"""Bounded answers: a body is read up to a cap, decoded with a bound, and never past its deadline.

requests reads a non-streamed body whole into memory, however large, and
decodes gzip before anyone can count: a 300 MB answer, an endless chunked one
or a gzip bomb takes the worker down. Every answer is streamed instead and
read here, at most ``max_bytes`` of decoded content (plus one chunk), through
urllib3's decoder, which since 2.6 inflates no more than it is asked for per
read. Certificate downloads stream to a file and have their own caps.
"""

from __future__ import annotations

import requests
from urllib3.exceptions import HTTPError as Urllib3Error

from airflow_provider_mensatek.clients._http.deadline import Exchange

#: JSON answers are small: the largest, a 10,000-recipient batch echo, is about 1.5 MB.
DEFAULT_MAX_RESPONSE_BYTES = 8 * 1024 * 1024
#: The most one call may take: its attempts (connect, request, answer) and the waits between them.
DEFAULT_DEADLINE = 300.0
_CHUNK = 64 * 1024

#: What a broken read raises, from requests or straight from urllib3 while streaming.
READ_ERRORS = (requests.RequestException, Urllib3Error, OSError)


class BodyTooLarge(Exception):
    """The answer is larger than the cap (``declared``: its Content-Length, when that told us)."""

    def __init__(self, limit: int, declared: int | None = None) -> None:
        super().__init__(limit, declared)
        self.limit = limit
        self.declared = declared

    def describe(self) -> str:
        size = f"{self.declared} bytes" if self.declared is not None else f"more than {self.limit} bytes"
        return (f"the answer was {size}, over the {self.limit}-byte limit (connection extra "
                "max_response_bytes), and was not read")


def read_body(response: requests.Response, max_bytes: int) -> None:
    """Read ``response``'s body into it (``.content`` / ``.text`` / ``.json()`` then work), or raise.

    Raises :class:`BodyTooLarge` past the cap, or what the read raised
    (see :data:`READ_ERRORS`).
    """
    declared = response.headers.get("Content-Length", "").strip()
    if declared.isdigit() and int(declared) > max_bytes:
        raise BodyTooLarge(max_bytes, int(declared))
    parts: list[bytes] = []
    size = 0
    for chunk in response.raw.stream(_CHUNK, decode_content=True):
        size += len(chunk)
        if size > max_bytes:
            raise BodyTooLarge(max_bytes)
        parts.append(chunk)
    response._content = b"".join(parts)
    response._content_consumed = True  # type: ignore[attr-defined]


def finish_on_close(response: requests.Response, exchange: Exchange) -> None:
    """Keep a streamed answer's deadline armed until the caller closes it (``with response:``)."""
    close = response.close

    def closing() -> None:
        exchange.finish()
        close()

    response.close = closing  # type: ignore[method-assign]
    response.__dict__["_mensatek_exchange"] = exchange


def exchange_of(response: requests.Response) -> Exchange | None:
    exchange = response.__dict__.get("_mensatek_exchange")
    return exchange if isinstance(exchange, Exchange) else None
