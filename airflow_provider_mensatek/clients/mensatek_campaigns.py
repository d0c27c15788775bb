"""Mensatek Email (EnviarEMAIL) and RCS (EnviarRCS + templates): parameter builders and typed results.

Both APIs share a shape: recipients carry ``Variables`` as a list of
``{"Nombre", "Valor"}`` pairs used by ``###Variable###`` placeholders, a
campaign answer lists ``Enviados`` / ``NoEnviados`` with one ``idMensaje`` per
recipient, and both take a forbidden sending interval.

Parts of these documents were lost in conversion (the ``Res`` tables, the
attachment and interval examples). Where the code relies on a guess it says
so next to it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_mensatek.clients.errors import ValidationError
from airflow_provider_mensatek.clients.mensatek import (
    FUNCTIONS,
    MAX_ATTACHMENT_BYTES,
    MAX_NAME_LEN,
    _Jsonable,
    as_int,
    decode_json_array,
    merge_extra_params,
)
from airflow_provider_mensatek.clients.mensatek_sms import vendor_json
from airflow_provider_mensatek.clients.send_at import vendor_send_at
from airflow_provider_mensatek.clients.sms_encoding import normalise_phone
from airflow_provider_mensatek.clients.validation import (
    as_list,
    check_email,
    check_flag,
    load_attachment,
    require_text,
)

log = logging.getLogger("airflow_provider_mensatek.clients.mensatek")

#: ``###Variable###``; the vendor's own sample mixes ``###motivo###`` with a variable
#: named ``Motivo``, so names match case-insensitively.
PLACEHOLDER_RE = re.compile(r"###([A-Za-z0-9_]+)###")
_TIME_RE = re.compile(r"^([01]?[0-9]|2[0-3]):([0-5][0-9])$")
#: RCS variables of this type are filled from the recipient (assumption: the document
#: only shows ``{"Nombre":"Destinatario","Tipo":"DESTINATARIO"}``), so a recipient
#: ``Nombre`` satisfies them.
RECIPIENT_VARIABLE_TYPE = "DESTINATARIO"


# -- shared pieces ---------------------------------------------------------------


def vendor_variables(value: Any, where: str) -> list[dict[str, str]]:
    """``{"Name": value}`` or ``[{"Nombre", "Valor"}]`` as the vendor's list of pairs."""
    if isinstance(value, Mapping):
        pairs = list(value.items())
    elif isinstance(value, Sequence) and not isinstance(value, str | bytes):
        pairs = []
        for item in value:
            lowered = {str(k).lower(): v for k, v in item.items()} if isinstance(item, Mapping) else {}
            if "nombre" not in lowered or "valor" not in lowered:
                raise ValidationError(f"{where}: each variable must be {{'Nombre': …, 'Valor': …}}, "
                                      f"got {item!r}")
            pairs.append((lowered["nombre"], lowered["valor"]))
    else:
        raise ValidationError(f"{where}: 'variables' must be a dict of name -> value")
    out = []
    for name, val in pairs:
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_]+", name):
            raise ValidationError(f"{where}: variable name {name!r} must be letters, digits or '_'")
        if not isinstance(val, str | int | float) or isinstance(val, bool):
            raise ValidationError(f"{where}: variable {name} must be text or a number, got "
                                  f"{type(val).__name__}")
        out.append({"Nombre": name, "Valor": str(val)})
    return out


def _recipient(item: Any, index: int, address_key: str, address_aliases: set[str]) -> dict[str, Any]:
    where = f"recipient #{index + 1}"
    if not isinstance(item, Mapping):
        item = {address_key: item}
    out: dict[str, Any] = {}
    for key, value in item.items():
        lowered = str(key).lower()
        if lowered in address_aliases:
            out[address_key] = value
        elif lowered in ("nombre", "name"):
            out["Nombre"] = require_text(value, f"{where} name")
        elif lowered == "variables":
            out["Variables"] = vendor_variables(value, where)
        elif lowered in ("referencia", "reference"):
            # The document says a per-recipient reference is echoed in reports (RefMensaje)
            # but its example lost the key; "Referencia" is what the SMS callbacks use.
            out["Referencia"] = require_text(str(value), f"{where} reference", max_len=100)
        else:
            raise ValidationError(f"{where}: unknown key {key!r} (use {address_key}, Nombre, Variables, "
                                  "Referencia)")
    if address_key not in out:
        raise ValidationError(f"{where}: {address_key} is required")
    return out


def normalise_email_recipient(item: Any, index: int) -> dict[str, Any]:
    out = _recipient(item, index, "Email", {"email"})
    out["Email"] = check_email(out["Email"], what=f"recipient #{index + 1} email")
    return out


def normalise_rcs_recipient(item: Any, index: int, *, default_country_code: Any = None) -> dict[str, Any]:
    out = _recipient(item, index, "Telefono", {"telefono", "phone", "movil", "mobile"})
    out["Telefono"] = normalise_phone(out["Telefono"], what=f"recipient #{index + 1} phone",
                                      default_country_code=default_country_code)
    return out


def recipient_variable_names(recipient: Mapping[str, Any]) -> set[str]:
    names = {v["Nombre"].lower() for v in recipient.get("Variables", [])}
    names.update(k.lower() for k in ("Nombre", "Email") if k in recipient)
    return names


def forbidden_interval(value: Any) -> str:
    """``Intervaloprohibido`` as a JSON string: ``[{"HoraInicio","HoraFin","Accion"}]``.

    Accepts one dict or a list, with the vendor keys or ``start`` / ``end`` /
    ``action``. ``Accion`` defaults to "1", the only value the document shows
    (its table of actions was lost).
    """
    items = as_list(value, "forbidden_interval")
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise ValidationError(f"forbidden_interval #{i + 1} must be a dict with start and end times")
        lowered = {str(k).lower(): v for k, v in item.items()}
        start = lowered.get("horainicio", lowered.get("start"))
        end = lowered.get("horafin", lowered.get("end"))
        action = lowered.get("accion", lowered.get("action", "1"))
        for what, text in (("start", start), ("end", end)):
            if not isinstance(text, str) or not _TIME_RE.match(text.strip()):
                raise ValidationError(f"forbidden_interval #{i + 1} {what} must be a time H:MM or HH:MM "
                                      f"(Europe/Madrid), got {text!r}")
        if not str(action).isdigit():
            raise ValidationError(f"forbidden_interval #{i + 1} action must be a number, got {action!r}")
        out.append({"HoraInicio": str(start).strip(), "HoraFin": str(end).strip(), "Accion": str(action)})
    return vendor_json(out)


def _common_params(params: dict[str, Any], *, send_at: Any, forbidden: Any, reference: str | None,
                   report: bool | None) -> None:
    if (when := vendor_send_at(send_at)) is not None:
        params["Fecha"] = when
    if forbidden:
        params["Intervaloprohibido"] = forbidden_interval(forbidden)
    if reference is not None:
        params["Referenciausuario"] = require_text(str(reference), "reference", max_len=100)
    if report is not None:
        params["Report"] = check_flag(report, "report")


@dataclass(frozen=True)
class CampaignRecipient(_Jsonable):
    address: str
    name: str | None
    message_id: int | None


@dataclass(frozen=True)
class CampaignSendResult(_Jsonable):
    """An EnviarEMAIL / EnviarRCS answer: the campaign id and who got a message id."""

    campaign_id: int | None
    recipients: int | None
    sent: list[CampaignRecipient]
    not_sent: list[CampaignRecipient]
    duplicates: int
    reference: str | None
    send_at: str | None
    message_ids: list[int] = field(default_factory=list)


def parse_campaign(record: Mapping[str, Any], address_key: str, params: Mapping[str, Any],
                   reference: str | None) -> CampaignSendResult:
    def recipients(value: Any) -> list[CampaignRecipient]:
        return [CampaignRecipient(address=str(item.get(address_key, "")), name=item.get("nombre"),
                                  message_id=as_int(item.get("idmensaje")))
                for item in decode_json_array(value)]

    sent = recipients(record.get("enviados"))
    return CampaignSendResult(
        campaign_id=as_int(record.get("idenvio")),
        recipients=as_int(record.get("destinatarios")),
        sent=sent,
        not_sent=recipients(record.get("noenviados")),
        duplicates=as_int(record.get("duplicados"), 0) or 0,
        reference=reference,
        send_at=params.get("Fecha"),
        message_ids=[r.message_id for r in sent if r.message_id is not None],
    )


# -- EnviarEMAIL -------------------------------------------------------------------


def build_email_params(
    sender_email: str,
    recipients: Any,
    subject: str,
    *,
    html: str | None = None,
    template_id: int | None = None,
    sender_name: str | None = None,
    reply_to: str | None = None,
    send_at: Any = None,
    forbidden_interval: Any = None,
    attachments: Sequence[Any] | None = None,
    allowed_roots: tuple[str, ...] = (),
    track_opens: bool | None = None,
    track_clicks: bool | None = None,
    list_unsubscribe: str | None = None,
    list_help: str | None = None,
    reference: str | None = None,
    report: bool | None = None,
    extra_params: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Validate an email campaign and build the ``EnviarEMAIL`` parameters (no HTTP).

    Local attachment paths are read only inside ``allowed_roots`` (the client's).
    """
    fn = FUNCTIONS["send_email"]
    if (html is None or html == "") == (template_id is None or template_id == ""):
        raise ValidationError("Give exactly one of html (Mensaje) or template_id (Plantilla)", function=fn)
    subject = require_text(subject, "subject")
    vendor_recipients = [normalise_email_recipient(r, i) for i, r in
                         enumerate(as_list(recipients, "recipients"))]
    params: dict[str, Any] = {
        "Emailremitente": check_email(sender_email, what="sender email"),
        "Destinatarios": vendor_json(vendor_recipients),
        "Asunto": subject,
    }
    if html:
        params["Mensaje"] = require_text(html, "html")
    else:
        params["Plantilla"] = _template_id(template_id)
    check_email_placeholders([subject, html or ""], vendor_recipients)
    if sender_name is not None:
        params["Nombreremitente"] = require_text(sender_name, "sender_name", max_len=100)
    if reply_to is not None:
        params["Replyto"] = check_email(reply_to, what="reply_to")
    _common_params(params, send_at=send_at, forbidden=forbidden_interval, reference=reference, report=report)
    if attachments:
        files = [load_attachment(a, max_name_len=MAX_NAME_LEN, max_bytes=MAX_ATTACHMENT_BYTES,
                                 allowed_roots=allowed_roots)
                 for a in as_list(attachments, "attachments")]
        # The attachment example of this document was lost; the same vendor's
        # certified email uses Nombre + base64 Contenido.
        params["Adjuntos"] = vendor_json([{"Nombre": f.name, "Contenido": f.base64} for f in files])
    for key, flag, what in (("Seguimientoaperturas", track_opens, "track_opens"),
                            ("Seguimientoclicks", track_clicks, "track_clicks")):
        if flag is not None:
            if not isinstance(flag, bool):
                raise ValidationError(f"{what} must be True or False, got {flag!r}", function=fn)
            params[key] = "1" if flag else "0"
    for key, header, what in (("Listunsubscribe", list_unsubscribe, "list_unsubscribe"),
                              ("Listhelp", list_help, "list_help")):
        if header is not None:
            params[key] = _list_header(header, what)
    merge_extra_params(params, extra_params, fn)
    return params


def _template_id(value: Any) -> str:
    text = str(value).strip()
    if not text.isdigit():
        raise ValidationError(f"template_id must be the numeric id of a panel template, got {value!r}")
    return text


def _list_header(value: Any, what: str) -> str:
    """``<mailto:…>, <https://…>`` as RFC 2369 headers are written."""
    text = require_text(value, what)
    parts = [p.strip() for p in text.split(",")]
    for part in parts:
        if not (part.startswith("<") and part.endswith(">")) or not part[1:].startswith(("mailto:", "https:",
                                                                                          "http:")):
            raise ValidationError(f"{what}: {part!r} must be <mailto:…> or <https://…> (comma-separated)")
    return text


def check_email_placeholders(texts: Sequence[str], recipients: Sequence[Mapping[str, Any]]) -> None:
    """A ``###Variable###`` defined for some recipients must be defined for all of them.

    A placeholder no recipient defines may be one of the vendor's reserved
    variables (their list was lost from the document): it is logged, not refused.
    """
    used: dict[str, str] = {}
    for text in texts:
        for name in PLACEHOLDER_RE.findall(text):
            used.setdefault(name.lower(), name)
    defined = [recipient_variable_names(r) for r in recipients]
    problems = []
    for key, name in used.items():
        lacking = [i + 1 for i, names in enumerate(defined) if key not in names]
        if lacking and len(lacking) < len(recipients):
            problems.append(f"###{name}### is missing for recipient(s) {', '.join(map(str, lacking[:10]))}")
        elif lacking:
            log.info("###%s### is defined by no recipient; assuming it is a Mensatek reserved variable", name)
    if problems:
        raise ValidationError("Variables used in the subject/message are not defined for every recipient: "
                              + "; ".join(problems))


# -- EnviarRCS and RCS templates ---------------------------------------------------


@dataclass(frozen=True)
class RcsTemplateVariable(_Jsonable):
    name: str
    type: str | None


@dataclass(frozen=True)
class RcsTemplate(_Jsonable):
    template_id: str
    name: str | None
    variables: list[RcsTemplateVariable]


def parse_rcs_template(record: Mapping[str, Any], template_id: str) -> RcsTemplate:
    return RcsTemplate(
        template_id=template_id,
        name=record.get("nombre"),
        variables=[RcsTemplateVariable(name=str(v.get("nombre", "")), type=v.get("tipo"))
                   for v in decode_json_array(record.get("variables"))],
    )


def build_rcs_params(
    template_id: Any,
    recipients: Any,
    *,
    agent: str | None = None,
    send_at: Any = None,
    forbidden_interval: Any = None,
    reference: str | None = None,
    report: bool | None = None,
    extra_params: Mapping[str, Any] | None = None,
    default_country_code: Any = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Validate an RCS send and build the ``EnviarRCS`` parameters (no HTTP).

    Returns the parameters and the normalised recipients (for the variable check).
    """
    fn = FUNCTIONS["send_rcs"]
    if template_id is None or template_id == "":
        raise ValidationError("template_id (Plantilla) is required for RCS", function=fn)
    vendor_recipients = [normalise_rcs_recipient(r, i, default_country_code=default_country_code)
                         for i, r in enumerate(as_list(recipients, "recipients"))]
    params: dict[str, Any] = {
        "Plantilla": _template_id(template_id),
        "Destinatarios": vendor_json(vendor_recipients),
    }
    if agent is not None:
        params["Agente"] = require_text(agent, "agent", max_len=100)
    _common_params(params, send_at=send_at, forbidden=forbidden_interval, reference=reference, report=report)
    merge_extra_params(params, extra_params, fn)
    return params, vendor_recipients


def check_rcs_variables(template: RcsTemplate, recipients: Sequence[Mapping[str, Any]]) -> None:
    """Every variable the template needs is supplied for every recipient, and nothing unknown is.

    Raises :class:`ValidationError` naming each recipient and variable.
    """
    needed = {v.name.lower(): v for v in template.variables}
    problems = []
    for i, rec in enumerate(recipients):
        given = {v["Nombre"].lower(): v["Nombre"] for v in rec.get("Variables", [])}
        missing = [v.name for key, v in needed.items() if key not in given
                   and not ((v.type or "").upper() == RECIPIENT_VARIABLE_TYPE and rec.get("Nombre"))]
        unknown = [name for key, name in given.items() if key not in needed]
        who = f"recipient #{i + 1} ({rec.get('Telefono')})"
        if missing:
            problems.append(f"{who} lacks {', '.join(missing)}")
        if unknown:
            problems.append(f"{who} gives {', '.join(unknown)}, which the template does not use")
    if problems:
        expected = ", ".join(f"{v.name} ({v.type})" for v in template.variables) or "none"
        raise ValidationError(
            f"RCS template {template.template_id} expects variables {expected}: "
            + "; ".join(problems[:10]) + (f" (+{len(problems) - 10} more)" if len(problems) > 10 else ""),
            function=FUNCTIONS["send_rcs"],
        )


__all__ = [
    "CampaignRecipient",
    "CampaignSendResult",
    "RcsTemplate",
    "RcsTemplateVariable",
    "build_email_params",
    "build_rcs_params",
    "check_email_placeholders",
    "check_rcs_variables",
    "forbidden_interval",
]
