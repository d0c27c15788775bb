"""Local checks that run before any HTTP call.

Bad data must never reach the vendor: both vendors count repeated erroneous
calls against the account. Every function here raises
:class:`~airflow_provider_mensatek.clients.errors.ValidationError` with a
message that says what is wrong and how to fix it.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from airflow_provider_mensatek.clients._local_files import read_source
from airflow_provider_mensatek.clients.errors import ValidationError

MADRID = ZoneInfo("Europe/Madrid")
VENDOR_DATE_FORMAT = "%Y-%m-%d %H:%M"

# Pragmatic address check: one @, a dot in the domain, no spaces. The vendor
# is the final judge; this catches typos and template accidents ("None", "").
_EMAIL_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                       r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")


def check_email(value: Any, *, what: str = "email address", vendor: str = "mensatek") -> str:
    if not isinstance(value, str) or not _EMAIL_RE.match(value.strip()) or len(value) > 254:
        raise ValidationError(f"Invalid {what}: {value!r}", vendor=vendor)
    return value.strip()


def require_text(value: Any, what: str, *, vendor: str = "mensatek", max_len: int | None = None) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{what} is required and must be a non-empty string (got {value!r})", vendor=vendor)
    if max_len is not None and len(value) > max_len:
        raise ValidationError(f"{what} is {len(value)} characters long; the limit is {max_len}", vendor=vendor)
    return value


def now_madrid() -> datetime:
    return datetime.now(tz=MADRID)


def to_madrid(value: Any, *, what: str = "date", vendor: str = "mensatek") -> datetime:
    """An aware datetime (or pendulum DateTime, or ISO-8601 string with offset) in Europe/Madrid.

    Naive values are refused: "09:00" means something different on a UTC
    worker and in Madrid, and a legal notification must not go out an hour
    early because of it.
    """
    if isinstance(value, str):
        text = value.strip()
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ValidationError(
                f"Cannot read {what} {value!r}: use ISO 8601 with an offset, e.g. 2026-12-01T09:00:00+01:00",
                vendor=vendor,
            ) from None
        value = parsed
    elif isinstance(value, date) and not isinstance(value, datetime):
        raise ValidationError(f"{what} must be a date and time, not a date ({value!r})", vendor=vendor)
    if not isinstance(value, datetime):
        raise ValidationError(f"{what} must be a datetime or ISO 8601 string, got {type(value).__name__}",
                              vendor=vendor)
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(
            f"{what} {value!r} has no time zone. Give an aware datetime (e.g. pendulum.datetime(..., "
            "tz='Europe/Madrid')) or an ISO string with an offset; naive times are ambiguous.",
            vendor=vendor,
        )
    return value.astimezone(MADRID)


def vendor_datetime(
    value: Any,
    *,
    what: str = "date",
    vendor: str = "mensatek",
    allow_past: bool = False,
    now: datetime | None = None,
) -> str:
    """Europe/Madrid ``YYYY-MM-DD HH:MM`` as both Mensatek APIs expect. Refuses past times unless allowed."""
    local = to_madrid(value, what=what, vendor=vendor)
    current = (now or now_madrid()).astimezone(MADRID)
    # The vendor has minute precision: a time within the current minute is "now", i.e. past.
    if not allow_past and local.replace(second=0, microsecond=0) <= current.replace(second=0, microsecond=0):
        raise ValidationError(
            f"{what} {local.strftime(VENDOR_DATE_FORMAT)} Europe/Madrid is not in the future "
            f"(now {current.strftime(VENDOR_DATE_FORMAT)})",
            vendor=vendor,
        )
    return local.strftime(VENDOR_DATE_FORMAT)


#: A Mensatek per-recipient placeholder: ``{{Nombre}}``, ``{{ Variable_1 }}``.
PLACEHOLDER_RE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def check_flag(value: Any, what: str, *, vendor: str = "mensatek") -> str:
    """A yes/no option as the vendors' "1" / "0"; only real booleans (``"false"`` is not False)."""
    if not isinstance(value, bool):
        raise ValidationError(f"{what} must be True or False, got {value!r}", vendor=vendor)
    return "1" if value else "0"


def check_int_range(value: Any, what: str, low: int, high: int, *, vendor: str = "mensatek") -> int:
    if isinstance(value, bool):
        raise ValidationError(f"{what} must be a whole number from {low} to {high}, got {value!r}", vendor=vendor)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValidationError(f"{what} must be a whole number from {low} to {high}, got {value!r}",
                              vendor=vendor) from None
    if str(number) != str(value).strip() and not isinstance(value, int):
        raise ValidationError(f"{what} must be a whole number, got {value!r}", vendor=vendor)
    if not low <= number <= high:
        raise ValidationError(f"{what} must be from {low} to {high}, got {number}", vendor=vendor)
    return number


def check_message_id(value: Any, *, vendor: str = "mensatek") -> int:
    return check_int_range(value, "message id", 1, 2**63 - 1, vendor=vendor)


def check_message_ids(value: Any, *, vendor: str = "mensatek") -> list[int]:
    """One id or a list (or a JSON list string), every one checked before any of them is used."""
    return [check_message_id(item, vendor=vendor) for item in as_list(value, "message_id", vendor=vendor)]


@dataclass(frozen=True)
class Attachment:
    """A file to attach: its name as the recipient sees it and its raw bytes."""

    name: str
    content: bytes

    def __repr__(self) -> str:  # never dump the bytes into a log
        return f"Attachment(name={self.name!r}, size={len(self.content)})"

    @property
    def base64(self) -> str:
        return base64.b64encode(self.content).decode("ascii")


def load_attachment(
    item: Any,
    *,
    max_name_len: int,
    max_bytes: int,
    allowed_roots: tuple[str, ...] = (),
    vendor: str = "mensatek",
) -> Attachment:
    """Accept an :class:`Attachment`, a path, or a dict with a name and bytes / a path / base64.

    A path (a string, ``os.PathLike``, ``file://`` URL or object-storage path,
    alone or as the dict's ``path``) is read by
    :func:`~airflow_provider_mensatek.clients._local_files.read_source`: local
    files only from ``allowed_roots`` (none by default), never more than
    ``max_bytes + 1`` bytes.
    """
    name: Any
    if isinstance(item, Attachment):
        name, content = item.name, item.content
    elif isinstance(item, dict):
        lowered = {str(k).lower(): v for k, v in item.items()}
        name = lowered.get("name", lowered.get("nombre"))
        if "content" in lowered:
            content = lowered["content"]
            if isinstance(content, str):
                content = content.encode("utf-8")
            if not isinstance(content, bytes | bytearray):
                raise ValidationError(f"Attachment {name!r}: 'content' must be bytes", vendor=vendor)
            content = bytes(content)
        elif "path" in lowered:
            file_name, content = read_source(lowered["path"], allowed_roots=allowed_roots, max_bytes=max_bytes,
                                             what="attachment", vendor=vendor)
            name = name or file_name
        elif "base64" in lowered or "contenido" in lowered:
            encoded = lowered.get("base64", lowered.get("contenido"))
            try:
                content = base64.b64decode(str(encoded), validate=True)
            except (binascii.Error, ValueError):
                raise ValidationError(f"Attachment {name!r}: the base64 content is not valid base64",
                                      vendor=vendor) from None
        else:
            raise ValidationError(
                f"Attachment {item.get('name')!r}: give one of 'content' (bytes), 'path' or 'base64'",
                vendor=vendor,
            )
    elif isinstance(item, bytes | bytearray | memoryview):
        raise ValidationError("An attachment given as bytes needs a name: use {'name': ..., 'content': ...}",
                              vendor=vendor)
    else:
        name, content = read_source(item, allowed_roots=allowed_roots, max_bytes=max_bytes, what="attachment",
                                    vendor=vendor)
    if not isinstance(name, str) or not name.strip():
        raise ValidationError("Every attachment needs a file name", vendor=vendor)
    if len(name) > max_name_len:
        raise ValidationError(
            f"Attachment name {name!r} is {len(name)} characters; the vendor accepts at most {max_name_len}",
            vendor=vendor,
        )
    if not content:
        raise ValidationError(f"Attachment {name!r} is empty", vendor=vendor)
    if len(content) > max_bytes:
        raise ValidationError(f"Attachment {name!r} is {len(content)} bytes; the limit is {max_bytes}",
                              vendor=vendor)
    return Attachment(name=name, content=content)


def as_list(value: Any, what: str, *, vendor: str = "mensatek") -> list[Any]:
    """A single item or an iterable of items, as a non-empty list.

    A string holding a JSON list (what a templated XCom renders to) is decoded.
    """
    if value is None:
        raise ValidationError(f"{what} is required", vendor=vendor)
    if isinstance(value, str) and value.lstrip().startswith("["):
        try:
            value = json.loads(value)
        except ValueError:
            raise ValidationError(f"{what} looks like a JSON list but cannot be read: {value[:80]!r}",
                                  vendor=vendor) from None
    if isinstance(value, str | bytes | dict):
        return [value]
    if isinstance(value, Iterable):
        items = list(value)
        if not items:
            raise ValidationError(f"{what} is empty", vendor=vendor)
        return items
    return [value]


__all__ = [
    "MADRID",
    "PLACEHOLDER_RE",
    "VENDOR_DATE_FORMAT",
    "Attachment",
    "as_list",
    "check_email",
    "check_flag",
    "check_int_range",
    "check_message_id",
    "check_message_ids",
    "load_attachment",
    "now_madrid",
    "require_text",
    "to_madrid",
    "vendor_datetime",
]
