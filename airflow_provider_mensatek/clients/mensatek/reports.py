"""Mensatek real-time reports: the POST the vendor sends your script each time a message changes status.

Every Mensatek document recommends the same workflow: "PROCESS 1: send; PROCESS 2:
automatic reception of reports on your website". Once enabled in the panel, the
vendor POSTs one report per status change of each message, as JSON or form data,
optionally with Basic authentication. :func:`parse_report` turns such a body into
a :class:`MensatekReport`: vendor-level and verbatim. Mapping a code to the
provider's status vocabulary is not done here (``delivery/report.py`` does it), so
this module stays a plain reader of the vendor's format.

The reports the documents describe, by ``Servicio`` (keys as their samples spell them):

==================  ===========================================================================
EMAILCERTIFICADO    Servicio, Resultado, Remitente, Destinatario, Fecha, Asunto, idMensaje,
                    Referencia, CSV ("only if you already have generated certificates")
EMAILTRANSACCIONAL  Servicio, Estado, Remitente, Destinatario, RefCampaign, RefMensaje, Fecha,
                    idCampaign, idMensaje, Aperturas, IP, Dispositivo, SistOperativo
SMSMASIVO           Servicio, Resultado, Remitente, Movil, Fecha, Segundos, idMensaje,
                    Referencia, idReport (and ``Variables``, a JSON string, for SMS Contract
                    codes 160, 180, 181, 190, 195)
SMSRECIBIDO         Servicio, timestamp, Fecha, Movil, Remitente, Mensaje, idR, idM, EsCert,
                    Referencia: an SMS received on your number, a reply or a new message
RCS                 Servicio, Estado, Agente, Destinatario, RefCampaign, RefMensaje, Fecha,
                    idCampaign, idMensaje
==================  ===========================================================================

How a body is read:

* JSON (``application/json``), a form (``application/x-www-form-urlencoded``) or
  ``multipart/form-data`` ("JSON or FORM-DATA format"). A body without a usable
  Content-Type is sniffed: ``{`` or ``[`` starts JSON, anything else is read as a form.
* Parameter names are case-insensitive, "as the documents say of every function";
  ``raw`` keeps the names as sent.
* Values are text, as the samples show them (``"Resultado": "11"``). Real JSON
  numbers and booleans are read as their text (``11`` -> ``"11"``, ``true`` -> ``"true"``).
* A name sent twice (in any spelling) with different values is refused: which one
  is the status would be a guess.
* Only ``Servicio`` is required. An unknown ``Servicio`` or code is kept verbatim, and
  a report missing a documented field is read with that field None: the receiver
  stores every report, and a field the vendor adds later is in ``raw``.
* Everything is bounded: the body (``max_bytes``), the number of fields, the length of
  names and values. A body that breaks a rule raises :class:`ReportParseError`,
  which a receiver answers by keeping the body as it came.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qsl

from airflow_provider_mensatek.clients.errors import ReportParseError
from airflow_provider_mensatek.clients.validation import MADRID

CERTIFIED_EMAIL = "EMAILCERTIFICADO"
EMAIL = "EMAILTRANSACCIONAL"
SMS = "SMSMASIVO"
SMS_INBOUND = "SMSRECIBIDO"
RCS = "RCS"

#: ``Servicio`` -> the provider's channel name (the Asset and status table each report belongs to).
CHANNEL_BY_SERVICE: Mapping[str, str] = MappingProxyType({
    CERTIFIED_EMAIL: "certified_email",
    EMAIL: "email",
    SMS: "sms",
    SMS_INBOUND: "sms_inbound",
    RCS: "rcs",
})
SERVICE_BY_CHANNEL: Mapping[str, str] = MappingProxyType({v: k for k, v in CHANNEL_BY_SERVICE.items()})

#: Services whose reports carry a status in ``Estado`` (the others use ``Resultado``).
_ESTADO_SERVICES = frozenset({EMAIL, RCS})

#: A report body is well under 1 KiB in every sample; an SMS text or an SMS Contract's
#: ``Variables`` make it longer, never near this. Receivers cap bodies too.
MAX_REPORT_BYTES = 64 * 1024
#: The richest report (EMAILTRANSACCIONAL) has 13 fields.
MAX_FIELDS = 64
MAX_NAME_CHARS = 64
MAX_VALUE_CHARS = 16 * 1024

#: Prefix of every dedupe key; the version changes only if the fields hashed ever change,
#: because receivers store the keys and compare new reports against them.
DEDUPE_KEY_PREFIX = "mensatek:v1:"

_DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M")
_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0"})
#: ``idM``/``idR`` of an SMS nobody replied to: the fields are documented as required
#: integers, so a new message cannot leave them out (an assumption: no sample shows one).
_NO_ORIGINAL = frozenset({"", "0"})


@dataclass(frozen=True)
class MensatekReport:
    """One report as Mensatek sent it. Text fields are verbatim (ids and codes trimmed of spaces).

    ``message_id`` is ``idMensaje``; for ``SMSRECIBIDO`` it is ``idM``, the
    ``idMensaje`` of the SMS this one replies to (None for a message the customer
    originated). ``recipient`` is who the message was sent to (``Destinatario``,
    ``Movil``); for ``SMSRECIBIDO``, ``Movil`` is your number that received it and
    ``sender`` (``Remitente``) the phone that sent it. ``reference`` is the user
    reference the report carries for this message: ``Referencia``, or for email and
    RCS ``RefMensaje`` (the recipient's) falling back to ``RefCampaign`` (the send's
    ``Referenciausuario``). ``date`` is ``Fecha`` read as Europe/Madrid local time
    (the documents' time reference; in the repeated autumn hour the first one is
    taken), None when it is not a ``YYYY-MM-DD HH:MM[:SS]``; ``date_text`` is ``Fecha`` as sent.
    """

    service: str
    code: str | None = None
    message_id: str | None = None
    date: datetime | None = None
    date_text: str | None = None
    reference: str | None = None
    recipient: str | None = None
    sender: str | None = None
    subject: str | None = None
    #: Secure Verification Code of the certificate (EMAILCERTIFICADO, once certificates exist).
    csv: str | None = None
    #: ``Segundos``: time until the status change, normally the delivery time (SMSMASIVO).
    seconds: float | None = None
    #: ``idReport``: the unique id of one recipient's message within an SMS send.
    report_id: str | None = None
    #: ``idCampaign`` (the send's ``idEnvio``) and ``RefCampaign`` (email, RCS).
    campaign_id: str | None = None
    campaign_reference: str | None = None
    #: ``Aperturas``: openings counted so far (EMAILTRANSACCIONAL).
    opens: int | None = None
    #: SMSRECIBIDO: ``timestamp`` (Unix seconds of reception), ``Mensaje``, ``idR`` (the
    #: vendor's internal id of the original message), ``idM`` (its idMensaje) and ``EsCert``
    #: (whether the original was certified).
    timestamp: int | None = None
    text: str | None = None
    original_internal_id: str | None = None
    original_message_id: str | None = None
    original_certified: bool | None = None
    #: The whole payload, names as sent.
    raw: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), hash=False)

    @property
    def channel(self) -> str | None:
        """``certified_email``, ``email``, ``sms``, ``sms_inbound`` or ``rcs``; None for an unknown service."""
        return CHANNEL_BY_SERVICE.get(self.service.upper())

    @property
    def is_reply(self) -> bool:
        """An SMSRECIBIDO that answers a message you sent (``idM`` names it)."""
        return self.original_message_id is not None

    @property
    def dedupe_key(self) -> str:
        """The same text for the same report, whatever its format or name spelling; see :func:`dedupe_key`."""
        return dedupe_key(self)

    def __repr__(self) -> str:
        # Reports carry addresses and message text: a repr (in a log or a test failure) names the report only.
        return (f"MensatekReport(service={self.service!r}, code={self.code!r}, message_id={self.message_id!r}, "
                f"date_text={self.date_text!r})")


def parse_report(content_type: str | None, body: bytes, *, max_bytes: int = MAX_REPORT_BYTES) -> MensatekReport:
    """The report in a POST body, or :class:`ReportParseError` saying why there is none."""
    return report_from_fields(decode_fields(content_type, body, max_bytes=max_bytes))


def decode_fields(content_type: str | None, body: bytes, *, max_bytes: int = MAX_REPORT_BYTES) -> dict[str, Any]:
    """The body's name -> value pairs (JSON, form or multipart), checked against the limits, names as sent."""
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
        raise ValueError(f"max_bytes must be a positive integer, not {max_bytes!r}")
    if not isinstance(body, bytes | bytearray):
        raise TypeError(f"body must be bytes, not {type(body).__name__}")
    if len(body) > max_bytes:
        raise ReportParseError(f"body of {len(body)} bytes is over the limit of {max_bytes}")
    if not body.strip():
        raise ReportParseError("empty body")
    media, charset = _media_type(content_type or "")
    if media in ("", "text/plain"):
        media = "application/json" if body.lstrip()[:1] in (b"{", b"[") else "application/x-www-form-urlencoded"
    if media == "application/json" or media.endswith("+json"):
        return _collect(_json_pairs(_decode(body, charset or "utf-8-sig")))
    if media == "application/x-www-form-urlencoded":
        return _collect(_form_pairs(_decode(body, charset or "utf-8"), charset or "utf-8"))
    if media == "multipart/form-data":
        return _collect(_multipart_pairs(content_type or "", body, charset))
    raise ReportParseError(f"unsupported Content-Type {media[:60]!r}: reports are JSON or form data")


def report_from_fields(fields: Mapping[str, Any]) -> MensatekReport:
    """A report from its name -> value pairs (a decoded body, or a payload stored earlier)."""
    if not isinstance(fields, Mapping):
        raise ReportParseError(f"a report is an object of named fields, not {type(fields).__name__}")
    values = _collect(fields.items())
    by_name = {name.strip().lower(): _as_text(name, value) for name, value in values.items()}

    def get(name: str, *, strip: bool = True) -> str | None:
        value = by_name.get(name.lower())
        if value is not None and strip:
            value = value.strip()
        return value if value else None

    service = get("Servicio")
    if service is None:
        raise ReportParseError("no Servicio: not a Mensatek report")
    upper = service.upper()
    first, second = ("Estado", "Resultado") if upper in _ESTADO_SERVICES else ("Resultado", "Estado")
    date_text = get("Fecha", strip=False)
    common: dict[str, Any] = {
        "service": service, "code": get(first) or get(second), "date": _madrid(date_text), "date_text": date_text,
        "recipient": get("Destinatario") or get("Movil"), "sender": get("Remitente") or get("Agente"),
        "subject": get("Asunto", strip=False), "csv": get("CSV"), "seconds": _number(get("Segundos")),
        "report_id": get("idReport"), "campaign_id": get("idCampaign"),
        "campaign_reference": get("RefCampaign", strip=False), "opens": _integer(get("Aperturas")),
        "raw": MappingProxyType(dict(values)),
    }
    if upper == SMS_INBOUND:
        original = get("idM")
        original = None if original in _NO_ORIGINAL else original
        internal = get("idR")
        return MensatekReport(
            **common, message_id=original, reference=get("Referencia", strip=False),
            timestamp=_integer(get("timestamp")), text=get("Mensaje", strip=False),
            original_internal_id=None if internal in _NO_ORIGINAL else internal,
            original_message_id=original, original_certified=_flag(get("EsCert")),
        )
    reference = get("Referencia", strip=False) or get("RefMensaje", strip=False) or common["campaign_reference"]
    return MensatekReport(**common, message_id=get("idMensaje"), reference=reference)


def dedupe_key(report: MensatekReport) -> str:
    """A stable key for one report: two deliveries of the same report share it, two reports never do.

    The natural key of a status report is the message, the status and when the
    vendor says it changed: ``Servicio``, ``idMensaje``, the recipient, the code and
    ``Fecha`` (verbatim). The recipient is in it because one SMS ``idMensaje``
    covers every phone of a send; ``Aperturas`` is in it for email, where each
    opening is a report with the same code. ``SMSRECIBIDO`` has no status: a
    received SMS is ``idR``, ``idM``, ``timestamp``, ``Fecha``, the receiving and the
    sending number and the text, so the same words sent twice are two messages
    unless they arrive in the same second from the same phone. A service this
    module does not know is keyed on all its fields.

    Values are compared as text (``11`` and ``"11"`` are one value) with names
    case-folded, so a JSON and a form delivery of one report have one key. The
    key is ``"mensatek:v1:"`` + the SHA-256 of those values: fixed length, and no
    address or text readable in it.
    """
    service = report.service.upper()
    if service == SMS_INBOUND:
        parts: list[Any] = [service, report.original_internal_id, report.original_message_id,
                            _field(report, "timestamp"), report.date_text, report.recipient, report.sender,
                            report.text]
    elif service in CHANNEL_BY_SERVICE:
        parts = [service, report.message_id, report.recipient, report.code, report.date_text]
        if service == EMAIL:
            parts.append(_field(report, "Aperturas"))
    else:
        # Names are unique once case-folded (_collect), so sorting never compares the values.
        parts = [service, sorted((name.strip().lower(), _stripped(_as_text(name, value)))
                                 for name, value in report.raw.items())]
    encoded = json.dumps(parts, ensure_ascii=False, separators=(",", ":"))
    return DEDUPE_KEY_PREFIX + hashlib.sha256(encoded.encode("utf-8")).hexdigest()


# -- reading a body ----------------------------------------------------------------


def _media_type(content_type: str) -> tuple[str, str | None]:
    if not content_type.strip():
        return "", None
    header = Message()
    header["Content-Type"] = content_type
    charset = header.get_param("charset")
    if charset is not None and not isinstance(charset, str):
        charset = None
    if charset:
        try:
            codecs.lookup(charset)
        except LookupError:
            raise ReportParseError(f"unknown charset {charset[:40]!r}") from None
    return header.get_content_type(), charset or None


def _decode(body: bytes, charset: str) -> str:
    try:
        return bytes(body).decode(charset)
    except UnicodeDecodeError:
        raise ReportParseError(f"the body is not valid {charset}") from None


def _json_pairs(text: str) -> Iterable[tuple[str, Any]]:
    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in items:
            if name in out and out[name] != value:
                raise ReportParseError(f"field {name[:MAX_NAME_CHARS]!r} is sent twice with different values")
            out[name] = value
        return out

    def constant(name: str) -> Any:
        raise ReportParseError(f"{name} is not a JSON value")

    try:
        data = json.loads(text, object_pairs_hook=pairs, parse_constant=constant)
    except RecursionError:
        raise ReportParseError("the JSON is nested too deeply") from None
    except ValueError as error:
        # The decoder's message quotes no content, only where it stopped.
        raise ReportParseError(f"the body is not JSON ({error})") from None
    if not isinstance(data, dict):
        raise ReportParseError(f"a JSON report is an object, not {type(data).__name__}")
    return data.items()


def _form_pairs(text: str, charset: str) -> list[tuple[str, str]]:
    try:
        return parse_qsl(text, keep_blank_values=True, strict_parsing=False, encoding=charset, errors="strict",
                         max_num_fields=MAX_FIELDS)
    except UnicodeDecodeError:
        raise ReportParseError(f"a form value is not valid {charset}") from None
    except ValueError:
        raise ReportParseError(f"more than {MAX_FIELDS} form fields") from None


def _multipart_pairs(content_type: str, body: bytes, charset: str | None) -> list[tuple[str, str]]:
    from email.parser import BytesParser
    from email.policy import HTTP

    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1", "replace") + b"\r\n\r\n" + bytes(body))
    if not message.is_multipart() or message.defects:
        raise ReportParseError("a multipart body without a valid boundary")
    pairs: list[tuple[str, str]] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or not name:
            raise ReportParseError("a multipart part without a field name")
        if part.get_filename() is not None:
            raise ReportParseError(f"field {name[:MAX_NAME_CHARS]!r} is a file upload, not a report value")
        payload = part.get_payload(decode=True)
        pairs.append((name, _decode(payload if isinstance(payload, bytes) else b"",
                                    part.get_content_charset() or charset or "utf-8")))
        if len(pairs) > MAX_FIELDS:
            raise ReportParseError(f"more than {MAX_FIELDS} multipart fields")
    return pairs


def _collect(pairs: Iterable[tuple[Any, Any]]) -> dict[str, Any]:
    """Name -> value with the limits checked; a name repeated in any spelling must repeat its value."""
    out: dict[str, Any] = {}
    seen: dict[str, tuple[str, str | None]] = {}
    for name, value in pairs:
        if not isinstance(name, str) or not name.strip():
            raise ReportParseError("a field without a name")
        if len(name) > MAX_NAME_CHARS:
            raise ReportParseError(f"a field name is longer than {MAX_NAME_CHARS} characters")
        text = _as_text(name, value)
        folded = name.strip().lower()
        if folded in seen:
            if seen[folded][1] != text:
                raise ReportParseError(f"field {name!r} is sent twice with different values")
            continue
        seen[folded] = (name, text)
        out[name] = value
        if len(out) > MAX_FIELDS:
            raise ReportParseError(f"more than {MAX_FIELDS} fields")
    return out


def _as_text(name: str, value: Any) -> str | None:
    """A value as the documents write it: text, numbers as their digits, booleans as true/false."""
    if value is None or isinstance(value, str):
        text = value
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ReportParseError(f"field {name!r} is not a finite number")
        text = str(int(value)) if value.is_integer() and abs(value) < 2**63 else repr(value)
    elif isinstance(value, list | dict):
        # A real JSON array where the documents send a JSON string (SMS Contract Variables).
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    else:
        raise ReportParseError(f"field {name!r} holds a {type(value).__name__}, not a report value")
    if text is not None and len(text) > MAX_VALUE_CHARS:
        raise ReportParseError(f"field {name!r} is longer than {MAX_VALUE_CHARS} characters")
    return text


def _field(report: MensatekReport, name: str) -> str | None:
    for key, value in report.raw.items():
        if key.strip().lower() == name.lower():
            return _stripped(_as_text(key, value))
    return None


def _stripped(text: str | None) -> str | None:
    return None if text is None else text.strip()


def _madrid(text: str | None) -> datetime | None:
    if text is None:
        return None
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text.strip(), fmt).replace(tzinfo=MADRID)
        except ValueError:
            continue
    return None


def _integer(text: str | None) -> int | None:
    if text is None or len(text) > 20:
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _number(text: str | None) -> float | None:
    if text is None or len(text) > 40:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _flag(text: str | None) -> bool | None:
    folded = (text or "").lower()
    return True if folded in _TRUE else False if folded in _FALSE else None


__all__ = [
    "CERTIFIED_EMAIL",
    "CHANNEL_BY_SERVICE",
    "DEDUPE_KEY_PREFIX",
    "EMAIL",
    "MAX_FIELDS",
    "MAX_NAME_CHARS",
    "MAX_REPORT_BYTES",
    "MAX_VALUE_CHARS",
    "RCS",
    "SERVICE_BY_CHANNEL",
    "SMS",
    "SMS_INBOUND",
    "MensatekReport",
    "ReportParseError",
    "decode_fields",
    "dedupe_key",
    "parse_report",
    "report_from_fields",
]
