"""Mensatek SMS: EnviarSMS (with its local cost estimate), cancel, reschedule, GetReportSMS, templates.

Everything here validates locally and raises :class:`ValidationError` before a request is made.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from airflow_provider_mensatek.clients._http.extra_params import merge_extra_params
from airflow_provider_mensatek.clients._http.transport import (
    SEND,
)
from airflow_provider_mensatek.clients._removed_names import RemovedNames
from airflow_provider_mensatek.clients._wire import _Jsonable, as_float, as_int, decode_records
from airflow_provider_mensatek.clients.errors import (
    ValidationError,
)
from airflow_provider_mensatek.clients.mensatek._core import CancelResult, MensatekCore, RescheduleResult
from airflow_provider_mensatek.clients.mensatek.wire import FUNCTIONS, decode_json_object, vendor_json
from airflow_provider_mensatek.clients.send_at import vendor_send_at
from airflow_provider_mensatek.clients.sms_encoding import (
    SmsAnalysis,
    SmsCostEstimate,
    analyse_sms,
    check_sender,
    estimate_cost,
    non_gsm_characters,
    normalise_phone,
)
from airflow_provider_mensatek.clients.validation import (
    PLACEHOLDER_RE,
    as_list,
    check_flag,
    check_int_range,
    check_message_id,
    require_text,
    vendor_datetime,
)

log = logging.getLogger("airflow_provider_mensatek.clients.mensatek")


MAX_VARIABLES = 10  # "from Variable_1 to Variable_10"
#: Per-recipient placeholders. The SMS document's Appendix 1 (message codes) was lost;
#: the same API's certified-email document writes them ``{{Variable_1}}`` for the same
#: ``Variable_N`` recipient keys, so SMS messages are read the same way (assumption).
SMS_PLACEHOLDER_RE = PLACEHOLDER_RE  # same syntax as certified email (assumption: see above)
_VARIABLE_KEY_RE = re.compile(r"^variable_([0-9]+)$", re.IGNORECASE)
_PHONE_KEYS = {"movil", "mobile", "phone"}
# BCP 47 language tag as the Voice API lists them (e.g. es-ES).
_LANGUAGE_RE = re.compile(r"^[a-z]{2,3}(-[A-Za-z]{2,4})?$")


# -- EnviarSMS -------------------------------------------------------------------


def normalise_sms_recipient(item: Any, index: int, *, default_country_code: Any = None) -> dict[str, str]:
    """One recipient as ``{"Movil": "346…", "Variable_1": …}``.

    Accepts a phone number, or a dict with ``Movil`` (or ``phone`` /
    ``mobile``), ``Variable_1`` … ``Variable_10`` and/or ``variables`` (a list
    of up to ten values, or a dict keyed ``Variable_N`` / ``N``). A number
    that may lack its country code is refused unless ``default_country_code``
    is given (see :mod:`~airflow_provider_mensatek.clients.phone_numbers`).
    """
    where = f"recipient #{index + 1}"
    if isinstance(item, str | int) and not isinstance(item, bool):
        return {"Movil": normalise_phone(item, what=f"{where} phone", default_country_code=default_country_code)}
    if not isinstance(item, Mapping):
        raise ValidationError(f"{where} must be a phone number or a dict, got {type(item).__name__}")
    phone: Any = None
    variables: dict[int, Any] = {}
    for key, value in item.items():
        lowered = str(key).lower()
        match = _VARIABLE_KEY_RE.match(lowered)
        if lowered in _PHONE_KEYS:
            phone = value
        elif match:
            variables[int(match.group(1))] = value
        elif lowered == "variables":
            variables.update(_variables_by_number(value, where))
        else:
            raise ValidationError(f"{where}: unknown key {key!r}; SMS recipients take only Movil and "
                                  f"Variable_1 … Variable_{MAX_VARIABLES}")
    out = {"Movil": normalise_phone(phone, what=f"{where} phone", default_country_code=default_country_code)}
    for number in sorted(variables):
        if not 1 <= number <= MAX_VARIABLES:
            raise ValidationError(f"{where}: Variable_{number} does not exist; SMS recipients take at most "
                                  f"{MAX_VARIABLES} variables (Variable_1 … Variable_{MAX_VARIABLES})")
        value = variables[number]
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise ValidationError(f"{where}: Variable_{number} must be text or a number, got "
                                  f"{type(value).__name__}")
        out[f"Variable_{number}"] = str(value)
    return out


def _variables_by_number(value: Any, where: str) -> dict[int, Any]:
    if isinstance(value, Mapping):
        out: dict[int, Any] = {}
        for key, item in value.items():
            text = str(key)
            match = _VARIABLE_KEY_RE.match(text)
            if match:
                out[int(match.group(1))] = item
            elif text.isdigit():
                out[int(text)] = item
            else:
                raise ValidationError(f"{where}: variable {key!r} must be named Variable_1 … "
                                      f"Variable_{MAX_VARIABLES} (or 1 … {MAX_VARIABLES})")
        return out
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        if len(value) > MAX_VARIABLES:
            raise ValidationError(f"{where}: {len(value)} variables given; the limit is {MAX_VARIABLES}")
        return {i + 1: v for i, v in enumerate(value)}
    raise ValidationError(f"{where}: 'variables' must be a list of values or a dict")


def check_sms_placeholders(message: str, recipients: Sequence[Mapping[str, str]]) -> None:
    """Every ``{{Variable_N}}`` in the message is an SMS variable and is given for every recipient."""
    used: dict[str, str] = {}
    for name in SMS_PLACEHOLDER_RE.findall(message):
        match = _VARIABLE_KEY_RE.match(name)
        if not match or not 1 <= int(match.group(1)) <= MAX_VARIABLES:
            raise ValidationError(f"{{{{{name}}}}} in the SMS message is not an SMS variable: recipients can "
                                  f"only fill {{{{Variable_1}}}} … {{{{Variable_{MAX_VARIABLES}}}}}")
        used.setdefault(f"variable_{int(match.group(1))}", name)
    problems = []
    for i, rec in enumerate(recipients):
        keys = {k.lower() for k in rec}
        missing = [name for key, name in used.items() if key not in keys]
        if missing:
            problems.append(f"recipient #{i + 1} ({rec['Movil']}) lacks {', '.join(missing)}")
    if problems:
        raise ValidationError("Variables used in the SMS message are not given for every recipient: "
                              + "; ".join(problems[:10])
                              + (f" (+{len(problems) - 10} more)" if len(problems) > 10 else ""))


def render_sms(message: str, recipient: Mapping[str, str]) -> str:
    """The text one recipient gets, with its variables filled in."""
    values = {k.lower(): v for k, v in recipient.items()}
    return SMS_PLACEHOLDER_RE.sub(lambda m: values.get(m.group(1).lower(), m.group(0)), message)


def analyse_campaign(message: str, recipients: Sequence[Mapping[str, str]],
                     unicode: bool | None) -> tuple[SmsAnalysis, int]:
    """The costliest recipient's analysis and the parts of the whole send.

    Variables change the length per recipient, and one character outside GSM
    in any recipient's text switches the whole send (one ``Unicode`` flag) to
    Unicode.
    """
    texts = [render_sms(message, r) for r in recipients] if SMS_PLACEHOLDER_RE.search(message) else [message]
    foreign = list(dict.fromkeys(c for t in texts for c in non_gsm_characters(t)))
    if unicode is None:
        unicode = bool(foreign)
    analyses = [analyse_sms(t, unicode=unicode) for t in texts]
    worst = max(analyses, key=lambda a: (a.segments, a.units))
    total = sum(a.segments for a in analyses) if len(analyses) > 1 else worst.segments * len(recipients)
    # Name every character that forced Unicode, whichever recipient's text it came from.
    return replace(worst, unicode_characters=foreign), total


def estimate_campaign(message: str, recipients: Any, *, unicode: bool | None = None,
                      credits_per_segment: float = 1.0, default_country_code: Any = None) -> SmsCostEstimate:
    """Credits of sending ``message`` to a number of recipients, or to the recipients given."""
    if isinstance(recipients, int) and not isinstance(recipients, bool):
        return estimate_cost(message, recipients, unicode=unicode, credits_per_segment=credits_per_segment)
    vendor_recipients = [normalise_sms_recipient(r, i, default_country_code=default_country_code)
                         for i, r in enumerate(as_list(recipients, "recipients"))]
    message = require_text(message, "SMS message")
    check_sms_placeholders(message, vendor_recipients)
    analysis, total = analyse_campaign(message, vendor_recipients, unicode)
    return SmsCostEstimate(analysis=analysis, recipients=len(vendor_recipients),
                           credits_per_segment=credits_per_segment, credits=total * credits_per_segment)


def build_sms_params(
    sender: str | None,
    recipients: Any,
    message: str,
    *,
    send_at: Any = None,
    reference: str | None = None,
    report: bool | None = None,
    group_with: int | None = None,
    fail2voice: bool = False,
    voice_language: str | None = None,
    voice_sender: str | None = None,
    unicode: bool | None = None,
    ignore_blacklist: bool = False,
    fix_utf8: bool = False,
    max_segments: int | None = None,
    extra_params: Mapping[str, Any] | None = None,
    default_country_code: Any = None,
) -> tuple[dict[str, Any], SmsAnalysis, int]:
    """Validate an SMS send and build the ``EnviarSMS`` parameters (no HTTP).

    Returns the parameters, the analysis of the costliest recipient's text
    (encoding, parts) and the parts of the whole send. ``unicode=None`` sends
    ``Unicode=1`` only when a character needs it; ``max_segments`` refuses a
    send in which any recipient's text would cost more parts. A blank or None
    ``sender`` sends ``Remitente`` empty: the account's default sender.
    """
    fn = FUNCTIONS["send_sms"]
    message = require_text(message, "SMS message")
    vendor_recipients = [normalise_sms_recipient(r, i, default_country_code=default_country_code)
                         for i, r in enumerate(as_list(recipients, "recipients"))]
    check_sms_placeholders(message, vendor_recipients)
    analysis, total_segments = analyse_campaign(message, vendor_recipients, unicode)
    if max_segments is not None:
        limit = check_int_range(max_segments, "max_segments", 1, 255)
        if analysis.segments > limit:
            raise ValidationError(
                f"The SMS needs {analysis.describe()}; max_segments is {limit}. Shorten the text"
                + (" or remove the characters that force Unicode" if analysis.unicode_characters else ""),
                function=fn,
            )
    params: dict[str, Any] = {
        "Remitente": check_sender(sender),
        "Destinatarios": vendor_json(vendor_recipients),
        "Mensaje": message,
        "Unicode": "1" if analysis.unicode else "0",
    }
    if (when := vendor_send_at(send_at)) is not None:
        params["Fecha"] = when
    if reference is not None:
        params["Referenciausuario"] = require_text(str(reference), "reference", max_len=100)
    if report is not None:
        params["Report"] = check_flag(report, "report")
    if group_with is not None:
        params["Idmensaje"] = check_message_id(group_with)
    if check_flag(fail2voice, "fail2voice") == "1":
        params["Fail2voice"] = "1"
        if voice_language is not None:
            if not isinstance(voice_language, str) or not _LANGUAGE_RE.match(voice_language):
                raise ValidationError(f"voice_language {voice_language!r} must be a language code such as "
                                      "'es-ES'", function=fn)
            params["Lenguajevoz"] = voice_language
        if voice_sender is not None:
            params["Remitentevoz"] = normalise_phone(voice_sender, what="voice_sender",
                                                     default_country_code=default_country_code)
    elif voice_language is not None or voice_sender is not None:
        raise ValidationError("voice_language and voice_sender only apply with fail2voice=True", function=fn)
    if check_flag(ignore_blacklist, "ignore_blacklist") == "1":
        params["Obviarlistanegra"] = "1"
    if check_flag(fix_utf8, "fix_utf8") == "1":
        params["Fixutf8"] = "1"
    merge_extra_params(params, extra_params, fn)
    return params, analysis, total_segments


@dataclass(frozen=True)
class SmsSendResult(_Jsonable):
    """What EnviarSMS accepted. ``message_id`` (idMensaje) identifies the whole send."""

    message_id: int | None
    accepted: int
    recipients: int | None
    messages: int | None
    not_sent: int
    credits_used: float | None
    credits_left: float | None
    reference: str | None
    send_at: str | None
    encoding: str
    #: SMS parts of the costliest recipient's text, and of the whole send (local estimate).
    segments: int
    segments_total: int


def parse_sms_send(record: Mapping[str, Any], params: Mapping[str, Any], analysis: SmsAnalysis,
                   total_segments: int, reference: str | None) -> SmsSendResult:
    return SmsSendResult(
        message_id=as_int(record.get("idmensaje"), as_int(record.get("msgid"))),
        accepted=as_int(record.get("res"), 0) or 0,
        recipients=as_int(record.get("destinatarios")),
        messages=as_int(record.get("mensajes")),
        not_sent=as_int(record.get("noenviados"), 0) or 0,
        credits_used=as_float(record.get("creditosusados")),
        credits_left=as_float(record.get("cred")),
        reference=reference,
        send_at=params.get("Fecha"),
        encoding=analysis.encoding,
        segments=analysis.segments,
        segments_total=total_segments,
    )


# -- GetReportSMS ------------------------------------------------------------------


@dataclass(frozen=True)
class SmsReportEntry(RemovedNames, _Jsonable):
    REMOVED = {"status": "vendor_state(entry).status.value", "terminal": "vendor_state(entry).terminal"}
    phone: str
    status_code: int | None
    status_text: str | None
    date: str | None
    delivery_seconds: float | None


@dataclass(frozen=True)
class SmsReport(RemovedNames, _Jsonable):
    REMOVED = {"finished": "bool(report.entries) and all(vendor_state(e).terminal for e in report.entries)"}
    message_id: int
    recipients: int | None
    entries: list[SmsReportEntry]
    credits_left: float | None


def parse_sms_report(record: Mapping[str, Any], message_id: int) -> SmsReport:
    """``Informe`` in JSON or in the document's own single-quoted form; anything else raises.

    The vendor's codes are kept as sent: what they mean in the provider's vocabulary
    is :func:`airflow_provider_mensatek.delivery.statuses.vendor_state`'s to say.
    """
    entries = []
    for item in decode_records(record.get("informe"), function=FUNCTIONS["get_sms_report"], field="Informe"):
        entries.append(SmsReportEntry(
            phone=str(item.get("telefono", "")), status_code=as_int(item.get("resultado")),
            status_text=item.get("estado"), date=item.get("fecha"), delivery_seconds=as_float(item.get("tiempo")),
        ))
    return SmsReport(message_id=message_id, recipients=as_int(record.get("destinatarios")), entries=entries,
                     credits_left=as_float(record.get("cred")))


class SmsApi(MensatekCore):
    """EnviarSMS, CancelarSMS, ReprogramarSMS, GetReportSMS and GetPlantillasSMS."""

    def send_sms(
        self,
        sender: str | None,
        recipients: Any,
        message: str,
        *,
        send_at: Any = None,
        reference: str | None = None,
        report: bool | None = None,
        group_with: int | None = None,
        fail2voice: bool = False,
        voice_language: str | None = None,
        voice_sender: str | None = None,
        unicode: bool | None = None,
        ignore_blacklist: bool = False,
        fix_utf8: bool = False,
        max_segments: int | None = None,
        extra_params: Mapping[str, Any] | None = None,
        default_country_code: str | None = None,
    ) -> SmsSendResult:
        """Send (or schedule) an SMS to one or many numbers (EnviarSMS). Never retried once it may
        have arrived.

        ``recipients``: numbers, or dicts with ``Movil`` and ``Variable_1`` …
        ``Variable_10`` (or ``variables``: a list of up to ten values), which
        fill ``{{Variable_1}}`` … in the message; every one used must be given
        for every recipient, and the cost is counted per recipient's text.
        ``group_with`` (Idmensaje) adds this send to an earlier message id;
        ``fail2voice`` with ``voice_language`` / ``voice_sender`` calls numbers
        that cannot get an SMS; ``unicode=None`` picks Unicode only when a
        character needs it; ``ignore_blacklist`` (Obviarlistanegra) and
        ``fix_utf8`` (Fixutf8) map one to one; ``max_segments`` refuses a text
        that would cost more SMS parts per recipient. ``sender`` None or blank
        sends from the account's default sender (the document's blank
        ``Remitente``). Numbers need their country code (``+34600000001`` or,
        as the document writes them, ``34600000001``); with
        ``default_country_code="34"`` a national ``600000001`` is read as Spanish.
        """
        params, analysis, total_segments = build_sms_params(
            sender, recipients, message, send_at=send_at, reference=reference, report=report,
            group_with=group_with, fail2voice=fail2voice, voice_language=voice_language,
            voice_sender=voice_sender, unicode=unicode, ignore_blacklist=ignore_blacklist, fix_utf8=fix_utf8,
            max_segments=max_segments, extra_params=extra_params, default_country_code=default_country_code,
        )
        log.info("EnviarSMS: %d SMS part(s) in all; costliest recipient: %s", total_segments,
                 analysis.describe())
        record = self.call("send_sms", params, kind=SEND, reference=reference)
        return parse_sms_send(record, params, analysis, total_segments, reference)

    @staticmethod
    def estimate_sms(message: str, recipients: Any, *, unicode: bool | None = None,
                     credits_per_segment: float = 1.0, default_country_code: str | None = None) -> SmsCostEstimate:
        """Encoding, SMS parts and credits of a campaign, computed locally (no HTTP).

        ``recipients`` is a count, or the recipients themselves so that each
        one's ``{{Variable_N}}`` values are counted.
        """
        return estimate_campaign(message, recipients, unicode=unicode,
                                              credits_per_segment=credits_per_segment,
                                              default_country_code=default_country_code)

    def cancel_sms(self, message_id: int) -> CancelResult:
        """Cancel a scheduled SMS; credits come back. "Already cancelled" counts as done (safe to retry)."""
        return self._cancel("cancel_sms", message_id, "SMS")

    def reschedule_sms(self, message_id: int, send_at: Any) -> RescheduleResult:
        """Move a scheduled SMS to a new (future) date (ReprogramarSMS)."""
        mid = check_message_id(message_id)
        when = vendor_datetime(send_at, what="send_at")
        record = self.call("reschedule_sms", {"Idmensaje": mid, "Fecha": when})
        return RescheduleResult(message_id=mid, send_at=when, rescheduled=as_int(record.get("res"), 0) or 0,
                                credits_left=as_float(record.get("cred")))

    def get_sms_report(self, message_id: int) -> SmsReport:
        """Per-recipient status of an SMS send (GetReportSMS). Prefer webhooks; poll politely."""
        mid = check_message_id(message_id)
        return parse_sms_report(self.call("get_sms_report", {"Idmensaje": mid}), mid)

    def get_sms_templates(self) -> dict[str, str]:
        """The account's SMS templates, name -> content (GetPlantillasSMS)."""
        templates = decode_json_object(self.call("get_sms_templates").get("plantillas"))
        return {name: str(content) for name, content in templates.items()}
