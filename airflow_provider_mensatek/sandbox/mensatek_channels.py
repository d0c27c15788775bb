"""Sandbox routes for Mensatek SMS, the file library, SMS templates, Email and RCS.

Registered on the Mensatek emulator with ``@mensatek_function``; state lives in
``app.stores`` (created on first use, so ``app.reset()`` clears it).

SMS timeline, per recipient, in steps of ``sandbox.step_seconds`` after the
send time (codes from the SMS status table): 1 scheduled before the date, 2
awaiting delivery for one step, then 11 delivered. Numbers ending in ``404``
end in 50 (the phone does not exist); numbers ending in ``123`` show 123
(switched off) until three steps, then 53 (expired). A cancelled message
reports 3 (a sandbox assumption: the SMS table has no cancelled state). The
number in ``blacklist`` is refused unless ``Obviarlistanegra=1``.

``GetReportSMS`` writes ``Informe`` as a JSON string, or, with
``app.sms_report_style = "documented"`` (``--sms-report-style documented``),
exactly as the document's example does: single quotes, numbers bare,
``[{'Fecha':'2021-09-04 19:37:21','Tiempo':3,...}]``.

``Remitente`` is required, but "if left blank, the sender will be the mobile
phone or default sender registered by the user": a blank one sends from
:data:`ACCOUNT_DEFAULT_SENDER`, a missing one is refused (-3).

Billing (an assumption; the documents give no tariff): one credit per SMS
part of each recipient's text, ``{{Variable_N}}`` filled in (GSM 160/153,
Unicode 70/67, GSM extension characters count double), one credit per email
and per RCS recipient.

Message codes: Appendix 1 of the SMS document (how a message links a library
file) was lost; the sandbox reads ``(SMSFILE:<name>)``, modelled on the
documented landing code ``(SMSLAND:2:idLanding)``, and answers -3 when the file
is not in the library.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from airflow_provider_mensatek.sandbox.mensatek import (
    UNVALIDATED_SENDER_DOMAIN,
    MensatekApp,
    mensatek_function,
    parse_fecha,
)
from airflow_provider_mensatek.sandbox.server import RecordedRequest, SandboxResponse

SMS_STATUS_TEXT = {
    1: "Programado",
    2: "Pendiente de entrega",
    3: "Cancelado",
    11: "Entregado al Teléfono",
    50: "La Red responde que el teléfono no existe",
    53: "El mensaje ha caducado",
    123: "Teléfono apagado o fuera de cobertura",
}
# The GSM 03.38 extension table (two septets each), as the SMS document's Appendix 2 describes.
_GSM_EXTENSION = set("€^{}[]~|\\\f")
_FILE_CODE_RE = re.compile(r"\(SMSFILE:([^)]+)\)")
_VARIABLE_RE = re.compile(r"\{\{\s*(Variable_[0-9]+)\s*\}\}", re.IGNORECASE)
_LIBRARY_NAME_RE = re.compile(r"^[A-Za-z0-9]{1,15}\.([A-Za-z0-9]{1,5})$")
LIBRARY_EXTENSIONS = {"pdf", "xls", "xlsx", "doc", "docx", "vcf"}
MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_LIBRARY_BYTES = 5 * 1024 * 1024
MAX_LIBRARY_FILES = 20
BLACKLISTED = "34600000054"
#: The sender registered on the sandbox account, used when ``Remitente`` is blank.
ACCOUNT_DEFAULT_SENDER = "SANDBOX"
RCS_AGENTS = {"sandbox-agent"}


def _store(app: MensatekApp, key: str, factory: Any) -> Any:
    if key not in app.stores:
        app.stores[key] = factory()
    return app.stores[key]


def _flag(req: RecordedRequest, name: str) -> bool:
    return str(req.param(name, "0")).strip() == "1"


# -- SMS ---------------------------------------------------------------------------


def sms_parts(text: str, unicode: bool) -> int:
    if unicode:
        units = len(text.encode("utf-16-le")) // 2
        single, part = 70, 67
    else:
        units = sum(2 if c in _GSM_EXTENSION else 1 for c in text)
        single, part = 160, 153
    return 1 if units <= single else -(-units // part)


def render_sms(message: str, recipient: dict[str, Any]) -> str:
    """``{{Variable_N}}`` filled from the recipient (the certified-email convention; see the client)."""
    values = {str(k).lower(): str(v) for k, v in recipient.items()}
    return _VARIABLE_RE.sub(lambda m: values.get(m.group(1).lower(), m.group(0)), message)


@dataclass
class SmsBatch:
    id: int
    sender: str
    message: str
    reference: str | None
    created: datetime
    send_at: datetime | None
    recipients: list[dict[str, Any]] = field(default_factory=list)
    cancelled_at: datetime | None = None
    cost: float = 0.0

    def status(self, phone: str, now: datetime, step: float) -> int:
        if self.cancelled_at is not None:
            return 3
        start = self.send_at or self.created
        if now < start:
            return 1
        elapsed = (now - start).total_seconds()
        if elapsed < step:
            return 2
        if phone.endswith("404"):
            return 50
        if phone.endswith("123"):
            return 123 if elapsed < 3 * step else 53
        return 11


def _sms_batches(app: MensatekApp) -> dict[int, SmsBatch]:
    batches: dict[int, SmsBatch] = _store(app, "sms", dict)
    return batches


@mensatek_function("EnviarSMS")
def send_sms(app: MensatekApp, req: RecordedRequest) -> SandboxResponse:
    raw_sender = req.param("Remitente")
    recipients = req.json_param("Destinatarios")
    message = req.param("Mensaje")
    if raw_sender is None or not recipients or not message:
        return app.error(-3, "Falta parámetro obligatorio (Remitente, Destinatarios, Mensaje)")
    sender = str(raw_sender).strip() or ACCOUNT_DEFAULT_SENDER
    if not isinstance(recipients, list):
        return app.error(-3, "Destinatarios debe ser un array JSON")
    digits = sender.lstrip("+")
    if digits.isdigit() and len(digits) > 15:
        return app.error(-3, "El remitente numérico admite como máximo 15 dígitos")
    if not digits.isdigit() and len(sender) > 11:
        return app.error(-3, "El remitente alfanumérico admite como máximo 11 caracteres")
    try:
        send_at = parse_fecha(req.param("Fecha"))
    except ValueError:
        return app.error(-3, "Formato de Fecha incorrecto (AAAA-MM-DD HH:MM)")
    for name in _FILE_CODE_RE.findall(str(message)):
        if name not in _store(app, "files", dict):
            return app.error(-3, f"El fichero {name} no existe en la biblioteca")
    batches = _sms_batches(app)
    group: SmsBatch | None = None
    if req.param("Idmensaje") not in (None, ""):
        try:
            group = batches.get(int(req.param("Idmensaje")))
        except (TypeError, ValueError):
            group = None
        if group is None:
            return app.error(-3, "Idmensaje no corresponde a un envío de esta cuenta")
        sender = group.sender  # "the sender will be forced to that of the first message"
    unicode = _flag(req, "Unicode")
    blacklist = {BLACKLISTED} if not _flag(req, "Obviarlistanegra") else set()
    taken = {r["Movil"] for r in group.recipients} if group else set()
    accepted: list[dict[str, Any]] = []
    not_sent = 0
    for rec in recipients:
        lowered = {str(k).lower(): v for k, v in rec.items()} if isinstance(rec, dict) else {}
        if any(k.startswith("variable_") and k not in {f"variable_{i}" for i in range(1, 11)}
               for k in lowered):
            return app.error(-3, "Solo se admiten Variable_1 a Variable_10")
        phone = str(lowered.get("movil", ""))
        if not re.fullmatch(r"[1-9][0-9]{7,14}", phone) or phone in taken or phone in blacklist:
            not_sent += 1
            continue
        taken.add(phone)
        accepted.append(rec)
    if not accepted:
        return app.error(-3, "Ningún destinatario válido")
    parts = sum(sms_parts(render_sms(str(message), r), unicode) for r in accepted)
    cost = float(parts)
    if cost > app.credits:
        return app.error(-2, CreditosNecesarios=cost)
    app.credits -= cost
    if group is None:
        group = SmsBatch(id=app.new_id(), sender=sender, message=str(message),
                         reference=req.param("Referenciausuario"), created=app.now(), send_at=send_at)
        batches[group.id] = group
    group.recipients.extend({**r, "Movil": str(r.get("Movil", r.get("movil")))} for r in accepted)
    group.cost += cost
    return app.answer(Res=len(accepted), Destinatarios=len(accepted), Msgid=group.id, idMensaje=group.id,
                      Cred=app.credits, Mensajes=parts, NoEnviados=not_sent,
                      CreditosUsados=cost)


def _sms_lookup(app: MensatekApp, req: RecordedRequest) -> SmsBatch | SandboxResponse:
    try:
        mid = int(req.param("Idmensaje"))
    except (TypeError, ValueError):
        return app.error(-3, "Falta parámetro obligatorio Idmensaje")
    batch = _sms_batches(app).get(mid)
    return batch if batch is not None else app.error(-2)


def _scheduled(app: MensatekApp, batch: SmsBatch) -> bool:
    return all(batch.status(r["Movil"], app.now(), app.sandbox.step_seconds) == 1 for r in batch.recipients)


@mensatek_function("CancelarSMS")
def cancel_sms(app: MensatekApp, req: RecordedRequest) -> SandboxResponse:
    batch = _sms_lookup(app, req)
    if isinstance(batch, SandboxResponse):
        return batch
    if batch.cancelled_at is not None:
        return app.error(-5)
    if not _scheduled(app, batch):
        return app.error(-4)
    batch.cancelled_at = app.now()
    app.credits += batch.cost
    return app.answer(Res=len(batch.recipients), IDMENSAJE=batch.id, CRED=app.credits, CREDR=batch.cost)


@mensatek_function("ReprogramarSMS")
def reschedule_sms(app: MensatekApp, req: RecordedRequest) -> SandboxResponse:
    batch = _sms_lookup(app, req)
    if isinstance(batch, SandboxResponse):
        return batch
    try:
        when = parse_fecha(req.param("Fecha"))
    except ValueError:
        return app.error(-6)
    if when is None:
        return app.error(-3, "Falta parámetro obligatorio Fecha")
    if batch.cancelled_at is not None:
        return app.error(-5)
    if not _scheduled(app, batch):
        return app.error(-4)
    if when <= app.now():
        return app.error(-7)
    batch.send_at = when
    return app.answer(Res=len(batch.recipients), Cred=app.credits)


@mensatek_function("GetReportSMS")
def report_sms(app: MensatekApp, req: RecordedRequest) -> SandboxResponse:
    batch = _sms_lookup(app, req)
    if isinstance(batch, SandboxResponse):
        return batch
    now, step = app.now(), app.sandbox.step_seconds
    informe = []
    for rec in batch.recipients:
        code = batch.status(rec["Movil"], now, step)
        informe.append({"Fecha": now.strftime("%Y-%m-%d %H:%M:%S"), "Tiempo": 3 if code == 11 else 0,
                        "Telefono": rec["Movil"], "Resultado": code, "Estado": SMS_STATUS_TEXT[code]})
    text = (documented_records(informe) if app.sms_report_style == "documented"
            else json.dumps(informe, ensure_ascii=False))
    return app.answer(Res=1, Destinatarios=len(batch.recipients), Cred=app.credits, Informe=text)


def documented_records(records: list[dict[str, Any]]) -> str:
    """Records written like the SMS document's ``Informe`` example: single quotes, no spaces."""
    def value(v: Any) -> str:
        if isinstance(v, int | float) and not isinstance(v, bool):
            return str(v)
        return "'" + str(v).replace("\\", "\\\\").replace("'", "\\'") + "'"

    return "[" + ",".join("{" + ",".join(f"{value(k)}:{value(v)}" for k, v in r.items()) + "}"
                          for r in records) + "]"


@mensatek_function("GetPlantillasSMS")
def sms_templates(app: MensatekApp, req: RecordedRequest) -> SandboxResponse:
    templates = _store(app, "sms_templates", lambda: {
        "Recordatorio": "Hola, le recordamos su cita de mañana.",
        "Factura": "Su factura esta disponible: (SMSFILE:factura.pdf)",
    })
    return app.answer(Res=1, Total=len(templates), Plantillas=json.dumps(templates, ensure_ascii=False))


# -- file library -----------------------------------------------------------------


@dataclass
class LibraryEntry:
    name: str
    content: bytes
    uploaded: datetime
    auto_delete: bool


@mensatek_function("CargarFichero")
def upload_file(app: MensatekApp, req: RecordedRequest) -> SandboxResponse:
    files: dict[str, LibraryEntry] = _store(app, "files", dict)
    mode = str(req.param("Tipo", "")).upper()
    if mode not in ("FILES", "BASE64"):
        return app.error(-15)
    if app.stores.get("trial"):
        return app.error(-18)
    name = req.param("Nombre")
    if mode == "BASE64":
        encoded = req.param("Contenido")
        if not encoded:
            return app.error(-12)
        try:
            content = base64.b64decode(str(encoded), validate=True)
        except (binascii.Error, ValueError):
            return app.error(-3, "Contenido no es Base64 válido")
        if not name:
            return app.error(-3, "Nombre es obligatorio con Tipo=BASE64")
    else:
        upload = next((v for v in req.params.values() if isinstance(v, dict) and "content" in v), None)
        if upload is None or not upload["content"]:
            return app.error(-13)
        content = upload["content"]
        name = name or upload["filename"]
    match = _LIBRARY_NAME_RE.match(str(name))
    if not match:
        return app.error(-3, "El Nombre debe tener extensión y como máximo 15 letras o números")
    if match.group(1).lower() not in LIBRARY_EXTENSIONS:
        return app.error(-11)
    if len(content) > MAX_FILE_BYTES:
        return app.error(-16)
    used = sum(len(f.content) for n, f in files.items() if n != name)
    if used + len(content) > MAX_LIBRARY_BYTES or (name not in files and len(files) >= MAX_LIBRARY_FILES):
        return app.error(-10)
    files[str(name)] = LibraryEntry(str(name), content, app.now(),
                                    str(req.param("Autoborrado", "")).lower() == "si")
    return app.answer(Res=1, Nombre=name, Cred=app.credits)


@mensatek_function("ListarFicheros")
def list_files(app: MensatekApp, req: RecordedRequest) -> SandboxResponse:
    files: dict[str, LibraryEntry] = _store(app, "files", dict)
    listing = [{"Fecha": f.uploaded.strftime("%Y-%m-%d %H:%M:%S"), "Nombre": f.name,
                "Ext": f.name.rsplit(".", 1)[-1]} for f in files.values()]
    return app.answer(Res=1, Ficheros=json.dumps(listing), Cred=app.credits)


@mensatek_function("BorrarFichero")
def delete_file(app: MensatekApp, req: RecordedRequest) -> SandboxResponse:
    files: dict[str, LibraryEntry] = _store(app, "files", dict)
    name = req.param("Nombre")
    if not name:
        return app.error(-3, "Falta parámetro obligatorio Nombre")
    if files.pop(str(name), None) is None:
        return app.error(-2)
    return app.answer(Res=1, Cred=app.credits)


# -- email and RCS campaigns -----------------------------------------------------------


def _campaign_checks(app: MensatekApp, req: RecordedRequest) -> SandboxResponse | None:
    try:
        parse_fecha(req.param("Fecha"))
    except ValueError:
        return app.error(-3, "Formato de Fecha incorrecto (AAAA-MM-DD HH:MM)")
    interval = req.json_param("Intervaloprohibido")
    if interval not in (None, ""):
        if not isinstance(interval, list) or not all(
                isinstance(i, dict) and {"HoraInicio", "HoraFin"} <= set(i) for i in interval):
            return app.error(-3, "Intervaloprohibido debe ser un array de {HoraInicio, HoraFin, Accion}")
    return None


def _campaign(app: MensatekApp, req: RecordedRequest, key: str, valid: Any, store: str) -> SandboxResponse:
    recipients = req.json_param("Destinatarios")
    if not isinstance(recipients, list) or not recipients:
        return app.error(-3, "Destinatarios debe ser un array JSON")
    seen: set[str] = set()
    sent, not_sent, duplicates = [], [], 0
    for rec in recipients:
        address = str(rec.get(key, "")).strip() if isinstance(rec, dict) else ""
        if not valid(address):
            not_sent.append({k: v for k, v in (rec if isinstance(rec, dict) else {}).items()
                             if k in ("Nombre", key)})
            continue
        if address.lower() in seen:
            duplicates += 1
            continue
        seen.add(address.lower())
        sent.append(rec)
    cost = float(len(sent))
    if cost > app.credits:
        return app.error(-2, CreditosNecesarios=cost)
    app.credits -= cost
    campaign = app.new_id()
    out = [{key: r[key], "idMensaje": str(app.new_id())} for r in sent]
    # "created" and "recipients" (the accepted entries, as sent) time and address the real-time reports.
    _store(app, store, dict)[campaign] = {"params": dict(req.params), "sent": out, "created": app.now(),
                                          "recipients": sent}
    return app.answer(Res=len(sent), idEnvio=campaign, Destinatarios=len(sent),
                      Enviados=json.dumps(out, ensure_ascii=False),
                      NoEnviados=json.dumps(not_sent, ensure_ascii=False), Duplicados=duplicates)


def _email_templates(app: MensatekApp) -> dict[str, str]:
    templates: dict[str, str] = _store(app, "email_templates", lambda: {
        "1234567": "<p>Hola ###Nombre###: ###Motivo###</p>",
    })
    return templates


@mensatek_function("EnviarEMAIL")
def send_email(app: MensatekApp, req: RecordedRequest) -> SandboxResponse:
    sender = str(req.param("Emailremitente", "") or "")
    if not sender or not req.param("Asunto") or req.param("Destinatarios") in (None, ""):
        return app.error(-3, "Falta parámetro obligatorio (Emailremitente, Destinatarios, Asunto)")
    if "@" not in sender or sender.lower().endswith("@" + UNVALIDATED_SENDER_DOMAIN):
        return app.error(-3, "El dominio del remitente no está validado")
    html, template = req.param("Mensaje"), req.param("Plantilla")
    if bool(html) == bool(template):
        return app.error(-3, "Indique Mensaje o Plantilla")
    if template and str(template) not in _email_templates(app):
        return app.error(-3, f"La Plantilla {template} no existe")
    attachments = req.json_param("Adjuntos")
    if attachments not in (None, "") and (not isinstance(attachments, list) or not all(
            isinstance(a, dict) and a.get("Nombre") and a.get("Contenido") for a in attachments)):
        return app.error(-3, "Adjuntos debe ser un array de {Nombre, Contenido}")
    problem = _campaign_checks(app, req)
    if problem is not None:
        return problem
    return _campaign(app, req, "Email", lambda a: re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", a), "email")


RCS_TEMPLATES: dict[str, tuple[str, list[dict[str, str]]]] = {
    "1234567": ("Customer welcome", [{"Nombre": "Destinatario", "Tipo": "DESTINATARIO"},
                                     {"Nombre": "Importe", "Tipo": "TEXTO"}]),
    "1234568": ("Shipping notice", [{"Nombre": "Codigo", "Tipo": "TEXTO"}]),
}


@mensatek_function("EnviarRCS")
def send_rcs(app: MensatekApp, req: RecordedRequest) -> SandboxResponse:
    template = str(req.param("Plantilla", "") or "")
    if not template or req.param("Destinatarios") in (None, ""):
        return app.error(-3, "Falta parámetro obligatorio (Plantilla, Destinatarios)")
    if template not in RCS_TEMPLATES:
        return app.error(-3, f"La Plantilla {template} no existe")
    agent = req.param("Agente")
    if agent not in (None, "") and agent not in RCS_AGENTS:
        return app.error(-3, f"El Agente {agent} no está registrado")
    problem = _campaign_checks(app, req)
    if problem is not None:
        return problem
    return _campaign(app, req, "Telefono", lambda a: re.fullmatch(r"[1-9][0-9]{7,14}", a), "rcs")


@mensatek_function("GetPlantillasRCS")
def rcs_templates(app: MensatekApp, req: RecordedRequest) -> SandboxResponse:
    listing = {tid: name for tid, (name, _) in RCS_TEMPLATES.items()}
    return app.answer(Res=1, Total=len(listing), Plantillas=json.dumps(listing, ensure_ascii=False))


@mensatek_function("GetVariablesPlantillaRCS")
def rcs_template_variables(app: MensatekApp, req: RecordedRequest) -> SandboxResponse:
    template = str(req.param("Plantilla", "") or "")
    if not template:
        return app.error(-3, "Falta parámetro obligatorio Plantilla")
    if template not in RCS_TEMPLATES:
        return app.error(-3, f"La Plantilla {template} no existe")
    name, variables = RCS_TEMPLATES[template]
    return app.answer(Res=1, Nombre=name, Total=len(variables), Variables=json.dumps(variables))
