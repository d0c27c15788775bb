"""The sandbox's messages as the vendor reports them: each one's status at any time, and its report payload.

The emulators compute a message's status from the clock when asked
(``sandbox/mensatek.py``, ``sandbox/mensatek_channels.py``); nothing fires when it
changes. :func:`candidates` lists every message with what can change its timeline
(the step, its send time, a cancel) and a :class:`Tracked` factory giving
``state_at(t)`` and ``payload(state, t)``; the pusher (``sandbox/reports.py``) samples
each one at every whole step after its send time, where every sandbox timeline
changes, and at the current time, and pushes one report per change. Between two
whole steps a message whose timeline did not change is not looked at.

Payloads have exactly the keys of the documents' request samples, in their order,
every value text (numbers as strings). Where a document is silent:

* EMAILCERTIFICADO: ``CSV`` appears once the certificate is downloadable ("only if
  you already have generated certificates"), with the code the certificate's CSV holds.
* SMSMASIVO: ``Segundos`` is 3 for a delivery (as GetReportSMS's ``Tiempo``), 0
  otherwise; ``idReport`` is the send's id followed by the phone's position.
* EMAILTRANSACCIONAL and RCS have no status query and lost their status tables; the
  only code documented is 11 (delivered, in both samples). The sandbox reports 11
  one step after the send time, and for an address containing "read" an opening
  (11 again, ``Aperturas`` 1, with the sample's ``Dispositivo``/``SistOperativo``
  codes and a documentation IP) one step later. ``RefMensaje`` is a recipient's
  ``Referencia`` in ``Destinatarios`` (the document does not name that key).
* SMSRECIBIDO is injected (:func:`inbound_sms_payload`): a reply names the SMS in
  ``idM`` and its ``idReport`` in ``idR``; a message nobody replied to has both "0"
  (the fields are documented as required integers), and ``EsCert`` is "false"
  because the sandbox sends no certified SMS.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from airflow_provider_mensatek.clients.mensatek.reports import CERTIFIED_EMAIL, EMAIL, RCS, SMS, SMS_INBOUND
from airflow_provider_mensatek.sandbox import control_params as check
from airflow_provider_mensatek.sandbox.clock import MADRID
from airflow_provider_mensatek.sandbox.mensatek import CertifiedEmail, MensatekApp, parse_fecha
from airflow_provider_mensatek.sandbox.mensatek_channels import RCS_AGENTS, SmsBatch

#: Every sandbox timeline is over within this many steps of the send time (the longest, 3).
SETTLE_STEPS = 8
#: The number that receives SMS replies, as the vendor's panel would show the one you contracted.
DEFAULT_INBOUND_NUMBER = "34699000000"
MAX_INBOUND_TEXT = 1_600
OPENING_IP = "192.0.2.10"
_PHONE = re.compile(r"[1-9][0-9]{7,14}")


@dataclass(frozen=True)
class Tracked:
    """One message (one recipient of a send) whose status changes the pusher reports."""

    key: tuple[Hashable, ...]
    #: The emulator's object: the ids restart after a reset, so an id alone does not name a message.
    owner: object
    service: str
    created: datetime
    start: datetime
    state_at: Callable[[datetime], Hashable | None]
    payload: Callable[[Any, datetime], dict[str, str]]

    def changes(self, step: float) -> list[datetime]:
        """The times where the status may change: whole steps after the send time."""
        return [self.start + timedelta(seconds=k * step) for k in range(SETTLE_STEPS + 1)]

    def settled(self, at: datetime, step: float) -> bool:
        return at >= self.start + timedelta(seconds=SETTLE_STEPS * step)


#: (key, owner, what can change its timeline, a factory of its Tracked).
Candidate = tuple[tuple[Hashable, ...], object, Hashable, Callable[[], Tracked]]


def candidates(app: MensatekApp, step: float) -> Iterator[Candidate]:
    """Every message the sandbox holds (call it holding ``app.lock``)."""
    for msg in app.certified.values():
        yield (CERTIFIED_EMAIL, msg.id), msg, (step, msg.send_at, msg.cancelled_at), partial(_certified, msg, step)
    batch: SmsBatch
    for batch in app.stores.get("sms", {}).values():
        timeline = (step, batch.send_at, batch.cancelled_at)
        for index, recipient in enumerate(batch.recipients):
            phone = str(recipient["Movil"])
            yield (SMS, batch.id, phone), batch, timeline, partial(_sms, batch, index, phone, step)
    for service, store in ((EMAIL, "email"), (RCS, "rcs")):
        for campaign, entry in app.stores.get(store, {}).items():
            address = "Email" if service == EMAIL else "Telefono"
            for index, sent in enumerate(entry["sent"]):
                yield ((service, str(sent["idMensaje"])), entry, (step,),
                       partial(_campaign, service, campaign, entry, index, str(sent[address]), step))


def report_date(when: datetime) -> str:
    return when.astimezone(MADRID).strftime("%Y-%m-%d %H:%M:%S")


def sms_report_id(batch_id: int, index: int) -> str:
    return str(batch_id * 1_000_000 + index + 1)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _certified(msg: CertifiedEmail, step: float) -> Tracked:
    def payload(code: int, when: datetime) -> dict[str, str]:
        fields = {"Servicio": CERTIFIED_EMAIL, "Resultado": str(code), "Remitente": msg.sender,
                  "Destinatario": msg.email, "Fecha": report_date(when), "Asunto": msg.subject,
                  "idMensaje": str(msg.id), "Referencia": _text(msg.reference)}
        certified = msg.certified_at(step)
        if certified is not None and when >= certified + timedelta(seconds=step):
            fields["CSV"] = f"SBX{msg.id:012d}"  # the code certificate_zip() writes into the certificate
        return fields

    return Tracked(key=(CERTIFIED_EMAIL, msg.id), owner=msg, service=CERTIFIED_EMAIL, created=msg.created,
                   start=msg.effective_send(), state_at=lambda t: msg.status(t, step), payload=payload)


def _sms(batch: SmsBatch, index: int, phone: str, step: float) -> Tracked:
    def payload(code: int, when: datetime) -> dict[str, str]:
        return {"Servicio": SMS, "Resultado": str(code), "Remitente": batch.sender, "Movil": phone,
                "Fecha": report_date(when), "Segundos": "3" if code == 11 else "0", "idMensaje": str(batch.id),
                "Referencia": _text(batch.reference), "idReport": sms_report_id(batch.id, index)}

    return Tracked(key=(SMS, batch.id, phone), owner=batch, service=SMS, created=batch.created,
                   start=batch.send_at or batch.created, state_at=lambda t: batch.status(phone, t, step),
                   payload=payload)


def _param(params: Mapping[str, Any], name: str) -> Any:
    return next((v for k, v in params.items() if str(k).lower() == name.lower()), None)


def _campaign(service: str, campaign: int, entry: Mapping[str, Any], index: int, address: str,
              step: float) -> Tracked:
    params = entry["params"]
    created: datetime = entry["created"]
    start = parse_fecha(_param(params, "Fecha")) or created
    message_id = str(entry["sent"][index]["idMensaje"])
    reference = _text(_param(entry["recipients"][index], "Referencia"))
    opener = service == EMAIL and "read" in address.lower()

    def state_at(t: datetime) -> tuple[str, int] | None:
        elapsed = (t - start).total_seconds()
        if elapsed < step:
            return None
        return ("11", 1 if opener and elapsed >= 2 * step else 0)

    def payload(state: tuple[str, int], when: datetime) -> dict[str, str]:
        code, opens = state
        common = {"Servicio": service, "Estado": code}
        tail = {"RefCampaign": _text(_param(params, "Referenciausuario")), "RefMensaje": reference,
                "Fecha": report_date(when), "idCampaign": str(campaign), "idMensaje": message_id}
        if service == RCS:
            agent = _param(params, "Agente") or sorted(RCS_AGENTS)[0]
            return {**common, "Agente": str(agent), "Destinatario": address, **tail}
        return {**common, "Remitente": _text(_param(params, "Emailremitente")), "Destinatario": address, **tail,
                "Aperturas": str(opens), "IP": OPENING_IP if opens else "", "Dispositivo": "2" if opens else "0",
                "SistOperativo": "3" if opens else "0"}

    return Tracked(key=(service, message_id), owner=entry, service=service, created=created, start=start,
                   state_at=state_at, payload=payload)


def inbound_sms_payload(app: MensatekApp, now: datetime, *, text: Any, sender: Any = None, reply_to: Any = None,
                        number: Any = None) -> dict[str, str]:
    """An SMS received on ``number``: a reply to the sandbox's SMS ``reply_to`` from one of its phones, or new."""
    message = check.text("text", text)
    if len(message) > MAX_INBOUND_TEXT:
        raise check.ControlError(f"text must be at most {MAX_INBOUND_TEXT} characters")
    receiver = _phone("number", DEFAULT_INBOUND_NUMBER if number is None else number)
    internal = original = "0"
    reference = ""
    if reply_to is not None:
        batch = app.stores.get("sms", {}).get(check.integer("reply_to", reply_to, minimum=1, maximum=2**62))
        if batch is None:
            raise check.ControlError(f"reply_to {reply_to!r} is not an SMS this sandbox sent")
        phones = [str(r["Movil"]) for r in batch.recipients]
        sender = phones[0] if sender is None else sender
        if sender not in phones:
            raise check.ControlError("sender must be one of the phones the SMS in reply_to went to")
        internal, original = sms_report_id(batch.id, phones.index(sender)), str(batch.id)
        reference = _text(batch.reference)
    elif sender is None:
        raise check.ControlError("sender is required for an SMS that replies to nothing")
    return {"Servicio": SMS_INBOUND, "timestamp": str(int(now.timestamp())), "Fecha": report_date(now),
            "Movil": receiver, "Remitente": _phone("sender", sender), "Mensaje": message, "idR": internal,
            "idM": original, "EsCert": "false", "Referencia": reference}


def _phone(name: str, value: Any) -> str:
    if not isinstance(value, str) or not _PHONE.fullmatch(value):
        raise check.ControlError(f"{name} must be a phone number in international format without '+', "
                                 "8 to 15 digits")
    return value
