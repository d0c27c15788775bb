"""Campaign recipients: read from a list or a streamed CSV / JSON Lines file, mapped, validated, de-duplicated.

Nothing is dropped silently: every row that cannot be sent becomes a
:class:`RejectedRow` with its line number (the file line for CSV / JSON Lines,
the 1-based position for a list) and the reason, in the words of the same
validators the channel's send uses. Duplicates (same address on the same
channel) are rejected rows too, naming the line of the first occurrence.

Files are read row by row from an open text stream, so a campaign of any size
is read in constant memory apart from the set of addresses seen.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from airflow_provider_mensatek.campaigns.input import (
    MAX_REASON_CHARS,
    BadRow,
    capped_row,
    shorten,
    whole_number,
)
from airflow_provider_mensatek.clients.errors import ValidationError
from airflow_provider_mensatek.clients.phone_numbers import check_default_country_code
from airflow_provider_mensatek.clients.validation import check_email

CERTIFIED_EMAIL = "certified_email"
SMS = "sms"
EMAIL = "email"
LEGALLYMAIL_CERTIFIED_EMAIL = "legallymail_certified_email"
CHANNELS = (CERTIFIED_EMAIL, SMS, EMAIL, LEGALLYMAIL_CERTIFIED_EMAIL)

INVALID = "invalid"
DUPLICATE = "duplicate"
#: Rejected rows a reader keeps in memory, for the plan (XCom) and the error that stops a plan; the rest are
#: counted (all of them are in rejected.jsonl).
KEPT_REJECTED = 10

#: The validators prefix their messages with the position they were given ("recipient #1 email ...");
#: a rejected row carries its own line number, so the prefix is dropped from the reason.
_POSITION_PREFIX = re.compile(r"^recipient #\d+:?\s*")


@dataclass(frozen=True)
class ColumnMapping:
    """Which source column holds what. Unmapped columns are ignored (never sent).

    :param name: column with the recipient's name (``Nombre``).
    :param email: column with the email address (email channels).
    :param phone: column with the mobile number (SMS).
    :param variables: per-recipient variables: a list of column names used as they
        are (``["Variable_1"]``) or a dict ``{"Variable_1": "importe"}`` (vendor
        variable name -> column).
    """

    name: str | None = "name"
    email: str | None = "email"
    phone: str | None = "phone"
    variables: Mapping[str, str] | Sequence[str] = ()

    @classmethod
    def from_value(cls, value: ColumnMapping | Mapping[str, Any] | None) -> ColumnMapping:
        if value is None:
            return cls()
        if isinstance(value, ColumnMapping):
            return value
        if not isinstance(value, Mapping):
            raise ValidationError(f"columns must be a dict like {{'email': 'correo'}}, got {type(value).__name__}")
        unknown = sorted(set(value) - {"name", "email", "phone", "variables"})
        if unknown:
            raise ValidationError(f"columns: unknown keys {unknown}; use name, email, phone, variables")
        return cls(**dict(value))

    def variable_columns(self) -> dict[str, str]:
        if isinstance(self.variables, Mapping):
            return {str(k): str(v) for k, v in self.variables.items()}
        if isinstance(self.variables, str):
            raise ValidationError("columns['variables'] must be a list of column names or a dict, not a string")
        return {str(c): str(c) for c in self.variables}

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "email": self.email, "phone": self.phone,
                "variables": self.variable_columns()}


@dataclass(frozen=True)
class Recipient:
    """One valid row: its line, the channel's vendor-shaped recipient, and the source row for resends."""

    line: int
    key: str
    vendor: dict[str, Any]
    row: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RejectedRow:
    """A row that will not be sent: ``kind`` is ``invalid`` or ``duplicate``.

    ``row`` holds the source cells up to a bound (see
    :func:`~airflow_provider_mensatek.campaigns.input.capped_row`);
    ``truncated`` says some were cut.
    """

    line: int
    kind: str
    reason: str
    row: dict[str, Any] = field(default_factory=dict)
    truncated: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class TooManyInvalidRowsError(ValidationError):
    """More invalid rows than ``max_invalid``: the campaign stops before anything is sent."""


# -- reading sources (files: see campaign_input) -------------------------------------


def rows_from_list(items: Any) -> Iterator[tuple[int, Any]]:
    """A Python list, or an upstream XCom value (a list, or a JSON list string)."""
    if isinstance(items, str):
        try:
            items = json.loads(items)
        except ValueError:
            raise ValidationError("recipients text is not a JSON list") from None
    if isinstance(items, Mapping) or not isinstance(items, Iterable) or isinstance(items, bytes):
        raise ValidationError(f"recipients must be a list, got {type(items).__name__}")
    for index, item in enumerate(items):
        yield index + 1, item


# -- mapping and validation -----------------------------------------------------------


def _channel_recipient(channel: str, mapping: ColumnMapping, item: Any,
                       country: str | None = None) -> tuple[str, dict[str, Any]]:
    """(dedupe key, vendor recipient) for one source item, or ValidationError saying why not."""
    from airflow_provider_mensatek.clients.mensatek._email_and_rcs import normalise_email_recipient
    from airflow_provider_mensatek.clients.mensatek.certified_email import normalise_certified_recipient
    from airflow_provider_mensatek.clients.mensatek.sms import normalise_sms_recipient

    if isinstance(item, Mapping):
        fields = _mapped(mapping, item, channel)
    elif isinstance(item, str | int) and not isinstance(item, bool):
        fields = {"phone" if channel == SMS else "email": item}
    else:
        raise ValidationError(f"a recipient must be an address or an object, got {type(item).__name__}")
    variables = fields.pop("variables", {})
    if channel == CERTIFIED_EMAIL:
        vendor = normalise_certified_recipient({**fields, **variables}, 0)
        return vendor["Email"].lower(), vendor
    if channel == SMS:
        vendor = normalise_sms_recipient({"Movil": fields.get("phone"), **variables}, 0,
                                         default_country_code=country)
        return vendor["Movil"], vendor
    if channel == EMAIL:
        email_fields = {k: v for k, v in fields.items() if k in ("email", "name")}
        if variables:
            email_fields["variables"] = variables
        vendor = normalise_email_recipient(email_fields, 0)
        return vendor["Email"].lower(), vendor
    if channel == LEGALLYMAIL_CERTIFIED_EMAIL:
        if variables:
            raise ValidationError("LegallyMail sends one message to all recipients: no per-recipient variables")
        email = check_email(fields.get("email"), what="email", vendor="legallymail")
        return email.lower(), {"email": email}
    raise ValidationError(f"channel must be one of {', '.join(CHANNELS)}, got {channel!r}")


def _mapped(mapping: ColumnMapping, item: Mapping[str, Any], channel: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    wanted = {"name": mapping.name, "phone" if channel == SMS else "email":
              mapping.phone if channel == SMS else mapping.email}
    for target, column in wanted.items():
        if column is None:
            continue
        value = item.get(column)
        if isinstance(value, str):
            value = value.strip()
        if value not in (None, ""):
            out[target] = value
    variables = {}
    for name, column in mapping.variable_columns().items():
        if column not in item:
            raise ValidationError(f"variable {name} (column {column!r}) is missing")
        variables[name] = item[column]
    if variables:
        out["variables"] = variables
    return out


def _reason(exc: ValidationError) -> str:
    return _POSITION_PREFIX.sub("", exc.message)


@dataclass
class RecipientReader:
    """Turns source rows into valid recipients, collecting rejected rows as it goes.

    :param channel: one of :data:`CHANNELS`; decides which validator and which dedupe key.
    :param columns: the :class:`ColumnMapping` (or its dict form).
    :param max_invalid: stop (``TooManyInvalidRowsError``) once more rows than this are invalid;
        ``None`` never stops. Duplicates do not count as invalid.
    :param on_rejected: called with each rejected row as it is found (e.g. to stream it to a file).
    :param default_country_code: SMS only: the country calling code (``"34"``) national numbers such as
        ``600000001`` belong to; without it they are rejected (see
        :mod:`~airflow_provider_mensatek.clients.phone_numbers`).
    """

    channel: str
    columns: ColumnMapping | Mapping[str, Any] | None = None
    max_invalid: int | None = 0
    on_rejected: Callable[[RejectedRow], None] | None = None
    default_country_code: Any = None
    read: int = 0
    invalid: int = 0
    duplicates: int = 0
    first_rejected: list[RejectedRow] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.channel not in CHANNELS:
            raise ValidationError(f"channel must be one of {', '.join(CHANNELS)}, got {self.channel!r}")
        self.max_invalid = whole_number(self.max_invalid, "max_invalid", minimum=0)
        self.default_country_code = check_default_country_code(self.default_country_code)
        if self.default_country_code is not None and self.channel != SMS:
            # Said rather than ignored: a DAG author who sets it expects phone numbers to be read.
            raise ValidationError(f"default_country_code applies to SMS campaigns only, not {self.channel}")
        self.mapping = ColumnMapping.from_value(self.columns)
        self.mapping.variable_columns()
        self._seen: dict[str, int] = {}

    def recipients(self, rows: Iterable[tuple[int, Any]]) -> Iterator[Recipient]:
        for line, item in rows:
            self.read += 1
            if isinstance(item, BadRow):
                self._reject(line, INVALID, item.reason, item.row)
                continue
            row = dict(item) if isinstance(item, Mapping) else {"value": item}
            try:
                key, vendor = _channel_recipient(self.channel, self.mapping, item, self.default_country_code)
            except ValidationError as exc:
                self._reject(line, INVALID, _reason(exc), row)
                continue
            first = self._seen.get(key)
            if first is not None:
                self._reject(line, DUPLICATE, f"duplicate of line {first} ({key})", row)
                continue
            self._seen[key] = line
            yield Recipient(line=line, key=key, vendor=vendor, row=row)

    def _reject(self, line: int, kind: str, reason: str, row: Mapping[str, Any]) -> None:
        cells, truncated = capped_row(row)
        rejected = RejectedRow(line, kind, shorten(reason, MAX_REASON_CHARS), cells, truncated)
        if rejected.kind == INVALID:
            self.invalid += 1
        else:
            self.duplicates += 1
        if len(self.first_rejected) < KEPT_REJECTED:
            self.first_rejected.append(rejected)
        if self.on_rejected is not None:
            self.on_rejected(rejected)
        if rejected.kind == INVALID and self.max_invalid is not None and self.invalid > self.max_invalid:
            shown = "; ".join(f"line {r.line}: {r.reason}" for r in self.first_rejected if r.kind == INVALID)
            raise TooManyInvalidRowsError(
                f"More than {self.max_invalid} invalid recipient row(s) (stopped at line {rejected.line}); "
                f"nothing was sent. {shown}"
            )
