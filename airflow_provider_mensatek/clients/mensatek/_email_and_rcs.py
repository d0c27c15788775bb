"""What Mensatek Email (EnviarEMAIL) and RCS (EnviarRCS) share.

Both APIs share a shape: recipients carry ``Variables`` as a list of
``{"Nombre", "Valor"}`` pairs used by ``###Variable###`` placeholders, a
campaign answer lists ``Enviados`` / ``NoEnviados`` with one ``idMensaje`` per
recipient, and both take a forbidden sending interval.

Parts of these documents were lost in conversion (the ``Res`` tables, the
attachment and interval examples). Where the code relies on a guess it says
so next to it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_mensatek.clients._wire import _Jsonable, as_int, decode_json_array
from airflow_provider_mensatek.clients.errors import (
    ValidationError,
)
from airflow_provider_mensatek.clients.mensatek.wire import vendor_json
from airflow_provider_mensatek.clients.send_at import vendor_send_at
from airflow_provider_mensatek.clients.sms_encoding import (
    normalise_phone,
)
from airflow_provider_mensatek.clients.validation import (
    as_list,
    check_email,
    check_flag,
    require_text,
)

#: ``###Variable###``; the vendor's own sample mixes ``###motivo###`` with a variable
#: named ``Motivo``, so names match case-insensitively.
PLACEHOLDER_RE = re.compile(r"###([A-Za-z0-9_]+)###")
_TIME_RE = re.compile(r"^([01]?[0-9]|2[0-3]):([0-5][0-9])$")
#: RCS variables of this type are filled from the recipient (assumption: the document
#: only shows ``{"Nombre":"Destinatario","Tipo":"DESTINATARIO"}``), so a recipient
#: ``Nombre`` satisfies them.
RECIPIENT_VARIABLE_TYPE = "DESTINATARIO"


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


def _template_id(value: Any) -> str:
    text = str(value).strip()
    if not text.isdigit():
        raise ValidationError(f"template_id must be the numeric id of a panel template, got {value!r}")
    return text
