"""Reading and parsing a request as the sandbox receives it, within the limits a server needs.

The sandbox is a test double, but users run it as a server (``make sandbox``) and
point their own code at it: a malformed request gets an HTTP answer naming the
problem, never a dropped connection or a thread blocked on a read that cannot end,
and no body can make the process read more than ``max_body_bytes``.
"""

from __future__ import annotations

import json
import re
from email.message import Message
from typing import Any, Protocol
from urllib.parse import parse_qs

#: Largest request body the sandbox reads. The biggest upload the vendor documents is a
#: 10 MB LegallyMail PDF, base64 in JSON (about 13.4 MB); Mensatek emails carry several
#: 10 MB attachments. 64 MiB accepts all of that with room to spare.
DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024

_DIGITS = re.compile(r"[0-9]{1,18}")  # more digits than that is over any cap (and than int() reads fast)


class _Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


class RequestRefused(Exception):
    """A request the sandbox answers with ``status`` without passing it to a vendor emulator."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def body_length(headers: Message, max_bytes: int) -> int:
    """The body length ``headers`` announce, refused as HTTP does when it cannot be trusted."""
    lengths = {value.strip() for value in headers.get_all("Content-Length") or []}
    if headers.get("Transfer-Encoding") is not None:
        # A body framed both ways is how requests get smuggled past proxies (RFC 9112 6.3).
        if lengths:
            raise RequestRefused(400, "Transfer-Encoding and Content-Length together are refused")
        raise RequestRefused(411, "the sandbox does not read chunked request bodies: send Content-Length")
    if not lengths:
        return 0
    if len(lengths) > 1:
        raise RequestRefused(400, "conflicting Content-Length headers")
    (value,) = lengths
    if not value.isascii() or not value.isdigit():
        raise RequestRefused(400, f"Content-Length must be a non-negative integer, not {value[:40]!r}")
    if not _DIGITS.fullmatch(value) or int(value) > max_bytes:
        raise RequestRefused(413, f"request body of {value[:40]} bytes is over the sandbox's limit of "
                                  f"{max_bytes} bytes")
    return int(value)


def read_body(rfile: _Readable, length: int) -> bytes:
    """Exactly ``length`` bytes; a client that closes early sent a truncated request, not a short one."""
    body = rfile.read(length) if length else b""
    if len(body) < length:
        raise RequestRefused(400, f"the body ended after {len(body)} of the {length} bytes Content-Length "
                                  "announced")
    return body


def parse_query(query: str) -> dict[str, str]:
    try:
        return {k: v[0] for k, v in parse_qs(query, keep_blank_values=True, errors="strict").items()}
    except UnicodeDecodeError:
        raise RequestRefused(400, "the query string is not valid UTF-8") from None


def parse_params(content_type: str, body: bytes, query: dict[str, str]) -> dict[str, Any]:
    """Query and body parameters in one dict (the vendors read both)."""
    params: dict[str, Any] = dict(query)
    if not body:
        return params
    ctype = content_type.split(";")[0].strip().lower()
    if ctype == "application/json":
        # Bad JSON is left to the emulators: each vendor answers it in its own way.
        try:
            data = json.loads(body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return params
        if isinstance(data, dict):
            params.update(data)
        else:
            params["_json"] = data
    elif ctype == "application/x-www-form-urlencoded":
        try:
            form = parse_qs(body.decode("utf-8"), keep_blank_values=True, errors="strict")
        except UnicodeDecodeError:
            raise RequestRefused(400, "the form body is not valid UTF-8") from None
        params.update({k: v[0] if len(v) == 1 else v for k, v in form.items()})
    elif ctype == "multipart/form-data":
        params.update(_parse_multipart(content_type, body))
    return params


def _parse_multipart(content_type: str, body: bytes) -> dict[str, Any]:
    from email.parser import BytesParser
    from email.policy import HTTP

    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    out: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        filename = part.get_filename()
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            payload = b""
        if filename:
            out[str(name)] = {"filename": filename, "content": payload}
            continue
        try:
            out[str(name)] = payload.decode("utf-8")
        except UnicodeDecodeError:
            raise RequestRefused(400, f"form field {str(name)[:40]!r} is not valid UTF-8") from None
    return out
