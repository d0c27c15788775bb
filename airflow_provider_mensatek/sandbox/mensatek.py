"""Mensatek API v7 emulator (certified email, credits; other channels register more functions).

Follows the vendor documents, quirks included:

* every function is ``POST /mensatek/v7/<Function>``; parameter names are
  case-insensitive; a JSON body or a form are accepted, arrays as JSON strings
  or real arrays;
* answers are a JSON array wrapping one object, every number as a string;
* bad credentials are HTTP 200 with ``Res: -1`` (seen in public callers);
* a certificate that is not generated yet is the plain text ``Res:-5``.

Certified-email statuses. The status table of the certified-email document
did not survive; the sandbox uses the codes the document does name (11
"delivered, opened, read and certified" in its report sample, 14 "delivered
and certified" in its certificate section) and fills the rest from the SMS
table of the same API (1 scheduled, 2 awaiting delivery, 10 sent, 50 bounced).
``3`` (cancelled) is a sandbox assumption. Timeline after the send time, in
steps of ``sandbox.step_seconds``: 2 -> 10 (1 step) -> 14 (2 steps) -> 11
(3 steps, only for recipients whose address contains "read"); the
certificate is downloadable one step after 14 (the real lag, DESIGN.md).
Addresses whose local part starts with "bounce" end in 50 at 2 steps.
EMAIL Contracts: an address whose local part is ``contract17``, ``contract160``
or ``contract181`` (optionally followed by more, e.g. ``contract181.ana@``)
goes on from 14 to that code at 3 steps, the statuses the certificate section
names for a "contract signed/perfected and certified".
"""

from __future__ import annotations

import csv
import io
import json
import re
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from airflow_provider_mensatek.sandbox.pdf import make_pdf
from airflow_provider_mensatek.sandbox.server import (
    MADRID,
    RecordedRequest,
    Sandbox,
    SandboxResponse,
    register_app,
)

Handler = Callable[["MensatekApp", RecordedRequest], SandboxResponse]

#: Vendor function name (lower case) -> handler. Channel modules add theirs with @mensatek_function.
FUNCTIONS: dict[str, Handler] = {}

UNVALIDATED_SENDER_DOMAIN = "unvalidated.example"
CERTIFIED_EMAIL_COST = 1.0

STATUS_TEXT = {
    1: "Programado",
    2: "Pendiente de entrega",
    3: "Cancelado",
    10: "Enviado",
    11: "Mensaje entregado, abierto, leído y certificado",
    14: "Entregado y certificado",
    17: "Contrato EMAIL firmado por respuesta y certificado",
    50: "Rebotado: el buzón no existe",
    160: "Contrato EMAIL perfeccionado y certificado",
    181: "Contrato EMAIL aceptado, firmado con firma biométrica y certificado",
}
_CONTRACT_RE = re.compile(r"^contract(17|160|181)(?![0-9])")


def mensatek_function(name: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        FUNCTIONS[name.lower()] = handler
        return handler

    return register


def parse_fecha(value: Any) -> datetime | None:
    """Vendor date ``YYYY-MM-DD HH:MM[:SS]`` (Europe/Madrid); None if absent; ValueError if bad."""
    if value in (None, ""):
        return None
    text = str(value).strip()
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=MADRID)
        except ValueError:
            continue
    raise ValueError(text)


@dataclass
class CertifiedEmail:
    id: int
    sender: str
    email: str
    name: str | None
    subject: str
    message: str
    reference: str | None
    created: datetime
    send_at: datetime | None
    acceptance: bool
    variables: dict[str, Any] = field(default_factory=dict)
    attachments: list[dict[str, Any]] = field(default_factory=list)
    cancelled_at: datetime | None = None
    cost: float = CERTIFIED_EMAIL_COST

    def effective_send(self) -> datetime:
        return self.send_at or self.created

    def status(self, now: datetime, step: float) -> int:
        if self.cancelled_at is not None:
            return 3
        start = self.effective_send()
        if now < start:
            return 1
        elapsed = (now - start).total_seconds()
        if elapsed < step:
            return 2
        if self.email.split("@")[0].lower().startswith("bounce"):
            return 10 if elapsed < 2 * step else 50
        if elapsed < 2 * step:
            return 10
        contract = _CONTRACT_RE.match(self.email.split("@")[0].lower())
        if contract and elapsed >= 3 * step:
            return int(contract.group(1))
        if "read" in self.email.lower() and elapsed >= 3 * step:
            return 11
        return 14

    def certified_at(self, step: float) -> datetime | None:
        if self.cancelled_at is not None or self.email.split("@")[0].lower().startswith("bounce"):
            return None
        return self.effective_send() + timedelta(seconds=2 * step)


class MensatekApp:
    prefix = "/mensatek/v7"

    def __init__(self, sandbox: Sandbox, *, sms_report_style: str = "json") -> None:
        self.sandbox = sandbox
        self.lock = threading.RLock()
        #: How GetReportSMS writes ``Informe``: "json" (a JSON string) or "documented" (the SMS
        #: document's own example, single-quoted). A setting of the server, so reset() keeps it.
        self.sms_report_style = sms_report_style
        self.reset()

    def reset(self) -> None:
        self.credits = 1000.0
        self._next_id = 108366000
        self.certified: dict[int, CertifiedEmail] = {}
        #: Free-form state for the other channel modules (sms, email, rcs, files).
        self.stores: dict[str, Any] = {}

    # -- helpers for handlers -------------------------------------------------

    def now(self) -> datetime:
        return self.sandbox.clock.now()

    def new_id(self) -> int:
        with self.lock:
            self._next_id += 1
            return self._next_id

    @staticmethod
    def answer(**fields: Any) -> SandboxResponse:
        """The vendor's shape: a JSON array wrapping one object, numbers as strings."""
        return SandboxResponse.json([{k: _as_vendor_text(v) for k, v in fields.items()}])

    def error(self, res: int, text: str | None = None, **fields: Any) -> SandboxResponse:
        extra = {"Error": text} if text else {}
        return self.answer(Res=res, **extra, Cred=self.credits, **fields)

    # -- dispatch ------------------------------------------------------------

    def handle(self, request: RecordedRequest) -> SandboxResponse:
        if request.method != "POST":
            return SandboxResponse.text("Method not allowed: use POST", status=405)
        handler = FUNCTIONS.get(request.function.lower())
        if handler is None:
            return SandboxResponse.text(f"Unknown function {request.function}", status=404)
        auth = request.basic_auth
        if auth != (self.sandbox.mensatek_user, self.sandbox.mensatek_token):
            return self.answer(Res=-1)
        with self.lock:
            return handler(self, request)


register_app(MensatekApp)


def _as_vendor_text(value: Any) -> Any:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return f"{value:g}" if value != int(value) else str(int(value))
    if isinstance(value, int):
        return str(value)
    return value


# -- certified email -----------------------------------------------------------


@mensatek_function("EnviarEMAILCERTIFICADO")
def send_certified_email(app: MensatekApp, req: RecordedRequest) -> SandboxResponse:
    sender = req.param("Remitente")
    recipients = req.json_param("Destinatarios")
    subject = req.param("Asunto")
    message = req.param("Mensaje")
    if not sender or not recipients or not subject or not message:
        return app.error(-3, "Falta parámetro obligatorio")
    if not isinstance(recipients, list):
        return app.error(-3, "Destinatarios debe ser un array JSON")
    if str(sender).lower().endswith("@" + UNVALIDATED_SENDER_DOMAIN):
        return app.error(-5, "Remitente no validado")
    try:
        send_at = parse_fecha(req.param("Fecha"))
    except ValueError:
        return app.error(-3, "Formato de Fecha incorrecto (AAAA-MM-DD HH:MM)")
    acceptance = str(req.param("Aceptacion", "NO")).upper() == "SI"
    if acceptance:
        try:
            days = int(req.param("Caducidadaceptacion"))
        except (TypeError, ValueError):
            return app.error(-3, "Caducidadaceptacion es obligatorio si Aceptacion=SI")
        if not 1 <= days <= 30:
            return app.error(-3, "Caducidadaceptacion debe estar entre 1 y 30")
    attachments = req.json_param("Adjuntos") or []
    if not isinstance(attachments, list):
        return app.error(-3, "Adjuntos debe ser un array JSON")
    for att in attachments:
        if not isinstance(att, dict) or not att.get("Nombre") or not att.get("Contenido"):
            return app.error(-3, "Cada adjunto necesita Nombre y Contenido")
        if len(str(att["Nombre"])) >= 20:
            return app.error(-3, "El Nombre del adjunto debe tener menos de 20 caracteres")
    seen: set[str] = set()
    accepted: list[dict[str, Any]] = []
    not_sent = duplicates = 0
    for rec in recipients:
        if not isinstance(rec, dict):
            not_sent += 1
            continue
        lowered = {str(k).lower(): v for k, v in rec.items()}
        email = str(lowered.get("email", "")).strip()
        name = lowered.get("nombre")
        if name is not None and len(str(name)) >= 20:
            return app.error(-3, "El Nombre debe tener menos de 20 caracteres")
        if "@" not in email:
            not_sent += 1
            continue
        if email.lower() in seen:
            duplicates += 1
            continue
        seen.add(email.lower())
        accepted.append(rec)
    cost = CERTIFIED_EMAIL_COST * len(accepted)
    if cost > app.credits:
        return app.error(-2, CreditosNecesarios=cost)
    app.credits -= cost
    out = []
    now = app.now()
    for rec in accepted:
        lowered = {str(k).lower(): v for k, v in rec.items()}
        msg = CertifiedEmail(
            id=app.new_id(), sender=str(sender), email=str(lowered["email"]).strip(),
            name=lowered.get("nombre"), subject=str(subject), message=str(message),
            reference=req.param("Referenciausuario"), created=now, send_at=send_at,
            acceptance=acceptance, variables=dict(rec), attachments=list(attachments),
        )
        app.certified[msg.id] = msg
        out.append({**rec, "IDMENSAJE": str(msg.id)})
    return app.answer(
        Res=len(accepted),
        Destinatarios=json.dumps(out, ensure_ascii=False),
        Cred=app.credits,
        Enviados=len(accepted),
        NoEnviados=not_sent,
        Duplicados=duplicates,
        CreditosUsados=cost,
    )


def _lookup(app: MensatekApp, req: RecordedRequest) -> CertifiedEmail | SandboxResponse | None:
    raw = req.param("Idmensaje")
    try:
        mid = int(raw)
    except (TypeError, ValueError):
        return app.error(-3, "Falta parámetro obligatorio Idmensaje")
    return app.certified.get(mid)


@mensatek_function("CancelarEMAILCERTIFICADO")
def cancel_certified_email(app: MensatekApp, req: RecordedRequest) -> SandboxResponse:
    msg = _lookup(app, req)
    if isinstance(msg, SandboxResponse):
        return msg
    if msg is None:
        return app.error(-2)
    now = app.now()
    if msg.cancelled_at is not None:
        return app.error(-5)
    if msg.status(now, app.sandbox.step_seconds) != 1:
        return app.error(-4)
    msg.cancelled_at = now
    app.credits += msg.cost
    return app.answer(Res=1, IDMENSAJE=msg.id, CRED=app.credits, CREDR=msg.cost)


@mensatek_function("ReprogramarEMAILCERTIFICADO")
def reschedule_certified_email(app: MensatekApp, req: RecordedRequest) -> SandboxResponse:
    msg = _lookup(app, req)
    if isinstance(msg, SandboxResponse):
        return msg
    if msg is None:
        return app.error(-2)
    try:
        when = parse_fecha(req.param("Fecha"))
    except ValueError:
        return app.error(-6)
    if when is None:
        return app.error(-3, "Falta parámetro obligatorio Fecha")
    now = app.now()
    if msg.cancelled_at is not None:
        return app.error(-5)
    if msg.status(now, app.sandbox.step_seconds) != 1:
        return app.error(-4)
    if when <= now:
        return app.error(-7)
    msg.send_at = when
    return app.answer(Res=1, Cred=app.credits)


@mensatek_function("GetReportEMAILCERTIFICADO")
def report_certified_email(app: MensatekApp, req: RecordedRequest) -> SandboxResponse:
    msg = _lookup(app, req)
    if isinstance(msg, SandboxResponse):
        return msg
    if msg is None:
        return app.error(-2)
    code = msg.status(app.now(), app.sandbox.step_seconds)
    return app.answer(
        Res=1,
        Programado=msg.effective_send().strftime("%Y-%m-%d %H:%M"),
        Remitente=msg.sender,
        Destinatario=msg.email,
        Cred=app.credits,
        Estado=code,
        txtEstado=STATUS_TEXT.get(code, ""),
    )


@mensatek_function("GetCertificadoEMAILCERTIFICADO")
def certificate_certified_email(app: MensatekApp, req: RecordedRequest) -> SandboxResponse:
    # Tests and the benchmark put a crafted answer (a ZIP bomb, a 100 MB archive,
    # an error body) in app.stores["certificate_responses"][<id as text>].
    crafted = app.stores.get("certificate_responses", {}).get(str(req.param("Idmensaje")))
    if crafted is not None:
        return crafted
    msg = _lookup(app, req)
    if isinstance(msg, SandboxResponse):
        return msg
    if msg is None:
        return app.error(-2)
    certified = msg.certified_at(app.sandbox.step_seconds)
    now = app.now()
    if certified is None or now < certified + timedelta(seconds=app.sandbox.step_seconds):
        # The vendor answers plain text here, whatever Resp says.
        return SandboxResponse.text("Res:-5")
    return SandboxResponse(200, certificate_zip(app, msg), "application/zip",
                           {"Content-Disposition": f'attachment; filename="certificado_{msg.id}.zip"'})


def certificate_zip(app: MensatekApp, msg: CertifiedEmail) -> bytes:
    code = msg.status(app.now(), app.sandbox.step_seconds)
    certified = msg.certified_at(app.sandbox.step_seconds)
    when = certified.strftime("%Y-%m-%d %H:%M:%S") if certified else ""
    csv_code = f"SBX{msg.id:012d}"
    pdf = make_pdf([
        "Mensatek sandbox - Certificado de entrega de EMAIL CERTIFICADO",
        f"idMensaje: {msg.id}",
        f"Remitente: {msg.sender}",
        f"Destinatario: {msg.email}",
        f"Asunto: {msg.subject}",
        f"Estado: {code} {STATUS_TEXT.get(code, '')}",
        f"Fecha de certificacion: {when} (Europe/Madrid)",
        f"CSV: {csv_code}",
        "Documento generado por el emulador local: sin valor legal.",
    ])
    text = io.StringIO()
    writer = csv.writer(text, delimiter=";")
    writer.writerow(["idMensaje", "Destinatario", "Estado", "txtEstado", "Fecha", "CSV"])
    writer.writerow([msg.id, msg.email, code, STATUS_TEXT.get(code, ""), when, csv_code])
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"certificado_{msg.id}.pdf", pdf)
        archive.writestr(f"resultado_{msg.id}.csv", text.getvalue())
    return buffer.getvalue()


@mensatek_function("GetCreditos")
def get_credits(app: MensatekApp, req: RecordedRequest) -> SandboxResponse:
    return app.answer(Res=1, Cred=app.credits)
