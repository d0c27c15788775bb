"""LegallyMail REST API emulator (certified email, e-signature, certified SMS).

Follows ``vendor-docs/legallymail.txt``: JSON answers with ``success``
(``/info`` has none, as documented), the token as ``Authorization: Bearer``,
a bare token in that header, or ``token`` in the JSON body (all three are
documented; tests assert the client uses the first), HTTP status errors with
a ``message``, and 10 requests per minute per token with 429 + ``Retry-After``
(``app.requests_per_minute``; ``None`` switches it off for tests of other
features). Everything runs on the sandbox :class:`Clock`.

Timelines, in steps of ``sandbox.step_seconds`` after the request:

* certified email, per recipient: ``sent`` -> ``delivered`` (1 step, delivery
  certificate) -> ``read`` (2 steps, read certificate). Deterministic
  triggers on the address's local part: ``unread...`` stops at delivered,
  ``bounce...`` ends ``bounced`` at 1 step, ``fail...`` is refused at send
  time (``status: failed`` with ``error_details``, not charged);
* signature: signer *i* (0-based) signs at ``i + 1`` steps; the request is
  ``signed`` when all have. A signer whose local part starts with
  ``reject...`` rejects at their turn (request ``rejected``); one starting
  with ``expire...`` never signs and the request is ``expired`` at its
  ``expires_at`` (10 steps). The acta PDF exists once signed;
* certified SMS: ``sent`` -> ``delivered`` (1 step) -> time-stamp confirmed
  (2 steps, certificate PDF). Numbers ending in ``999`` end ``failed`` at 1 step.

Certificates and documents are served by the sandbox under
``/legallymail/files/...`` (Bearer token required), the URLs the API returns.
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from airflow_provider_mensatek.sandbox.pdf import make_pdf
from airflow_provider_mensatek.sandbox.server import (
    RecordedRequest,
    Sandbox,
    SandboxResponse,
    register_app,
)

PREFIX = "/legallymail/api"
FILES_PREFIX = "/legallymail/files"
DEFAULT_REQUESTS_PER_MINUTE = 10
DEFAULT_MAX_RECIPIENTS = 10
MAX_SIGNERS = 5
MAX_DOCUMENT_BYTES = 10 * 1024 * 1024
SIGNATURE_EXPIRY_STEPS = 10
LANGUAGES = {"es", "en", "fr", "it"}
_EMAIL_RE = re.compile(r"^[^@\s,]+@[^@\s,]+\.[^@\s,]+$")
_PHONE_RE = re.compile(r"^\+?[1-9][0-9]{7,14}$")
FMT = "%Y-%m-%d %H:%M:%S"


def _fmt(when: datetime | None) -> str | None:
    return when.strftime(FMT) if when is not None else None


def _local(email: str) -> str:
    return email.split("@", 1)[0].lower()


@dataclass
class EmailRecipient:
    email: str
    tracking_id: str
    failed: bool = False

    @property
    def delay_steps(self) -> int:
        """Steps until delivery: "slow..." mailboxes take three (partial multi-recipient sets)."""
        return 3 if _local(self.email).startswith("slow") else 1

    def status(self, created: datetime, now: datetime, step: float) -> str:
        if self.failed:
            return "failed"
        elapsed = (now - created).total_seconds()
        if elapsed < self.delay_steps * step:
            return "sent"
        if _local(self.email).startswith("bounce"):
            return "bounced"
        if elapsed < (self.delay_steps + 1) * step or _local(self.email).startswith("unread"):
            return "delivered"
        return "read"


@dataclass
class SentEmail:
    id: int
    tracking_id: str
    subject: str
    message: str
    created: datetime
    recipients: list[EmailRecipient]
    reply_to: str | None = None
    attachments: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class SignatureRequest:
    uuid: str
    signers: list[dict[str, str]]
    document: bytes
    document_name: str
    language: str
    created: datetime

    def expires_at(self, step: float) -> datetime:
        return self.created + timedelta(seconds=SIGNATURE_EXPIRY_STEPS * step)

    def signer_status(self, index: int, now: datetime, step: float) -> tuple[str, datetime | None]:
        local = _local(self.signers[index]["email"])
        turn = self.created + timedelta(seconds=(index + 1) * step)
        if local.startswith("expire") or now < turn:
            return "pending", None
        if local.startswith("reject"):
            return "rejected", None
        return "signed", turn

    def status(self, now: datetime, step: float) -> tuple[str, datetime | None]:
        states = [self.signer_status(i, now, step) for i in range(len(self.signers))]
        if any(s == "rejected" for s, _ in states):
            return "rejected", None
        if all(s == "signed" for s, _ in states):
            return "signed", max(t for _, t in states if t is not None)
        if now >= self.expires_at(step):
            return "expired", None
        return "pending", None


@dataclass
class CertifiedSms:
    uuid: str
    recipient: str
    message: str
    created: datetime

    def timeline(self, now: datetime, step: float) -> dict[str, Any]:
        one, two = (self.created + timedelta(seconds=n * step) for n in (1, 2))
        failed = self.recipient.endswith("999")
        status = "sent"
        if now >= one:
            status = "failed" if failed else "delivered"
        return {
            "status": status,
            "delivered_at": one if status == "delivered" else None,
            "failed_at": one if status == "failed" else None,
            "ts_confirmed_at": two if not failed and now >= two else None,
        }


Route = Callable[["LegallyMailApp", RecordedRequest], SandboxResponse]
ROUTES: dict[tuple[str, str], Route] = {}


def route(method: str, path: str) -> Callable[[Route], Route]:
    def register(handler: Route) -> Route:
        ROUTES[(method, path)] = handler
        return handler

    return register


def fail(status: int, message: str, **extra: Any) -> SandboxResponse:
    reasons = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
               405: "Method Not Allowed", 429: "Too Many Requests"}
    headers = {k: str(v) for k, v in extra.pop("headers", {}).items()}
    return SandboxResponse.json({"success": False, "error": reasons.get(status, "Error"), "message": message,
                                 **extra}, status=status, headers=headers)


class LegallyMailApp:
    prefix = PREFIX

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        #: 429 past this many requests per minute per token (None: no limit, for tests of other features).
        self.requests_per_minute: int | None = DEFAULT_REQUESTS_PER_MINUTE
        self.max_recipients = DEFAULT_MAX_RECIPIENTS
        self.plan_limit = 100
        self.remaining_emails = 100
        self.sms_credits = 100
        self._window: dict[str, deque[datetime]] = {}
        self._next_id = 1000
        self.emails: dict[str, SentEmail] = {}
        self.recipients: dict[str, tuple[SentEmail, EmailRecipient]] = {}
        self.signatures: dict[str, SignatureRequest] = {}
        self.sms: dict[str, CertifiedSms] = {}

    # -- helpers -------------------------------------------------------------

    def now(self) -> datetime:
        return self.sandbox.clock.now()

    @property
    def step(self) -> float:
        return self.sandbox.step_seconds

    def new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def file_url(self, path: str) -> str:
        return f"{self.sandbox.url}{FILES_PREFIX}/{path}"

    def token_of(self, request: RecordedRequest) -> str | None:
        header = request.authorization
        if header:
            return header[7:].strip() if header.lower().startswith("bearer ") else header.strip()
        token = request.param("token")
        return str(token) if token else None

    def _rate_limited(self, token: str) -> SandboxResponse | None:
        limit = self.requests_per_minute
        if limit is None:
            return None
        now = self.now()
        window = self._window.setdefault(token, deque())
        while window and window[0] <= now - timedelta(seconds=60):
            window.popleft()
        if len(window) >= limit:
            wait = (window[0] + timedelta(seconds=60) - now).total_seconds()
            return fail(429, "Too many requests: limit of 10 requests per minute exceeded",
                        headers={"Retry-After": max(1, math.ceil(wait))})
        window.append(now)
        return None

    # -- dispatch ------------------------------------------------------------

    def handle(self, request: RecordedRequest) -> SandboxResponse:
        path = request.path[len(PREFIX):].strip("/")
        methods = {m for m, p in ROUTES if p == path}
        with self.lock:
            limited = self._rate_limited(self.token_of(request) or "")
            if limited is not None:
                return limited
            if self.token_of(request) != self.sandbox.legallymail_token:
                return fail(401, "Token inválido o no proporcionado")
            if not methods:
                return fail(404, f"Endpoint /api/{path} not found")
            handler = ROUTES.get((request.method, path))
            if handler is None:
                return fail(405, f"Method {request.method} not allowed; use {', '.join(sorted(methods))}")
            return handler(self, request)

    # -- views ---------------------------------------------------------------

    def email_view(self, email: SentEmail) -> dict[str, Any]:
        recipients = [self.recipient_view(email, r) for r in email.recipients]
        order = ["failed", "bounced", "sent", "delivered", "read"]
        statuses = [r["status"] for r in recipients]
        live = [s for s in statuses if s not in ("failed", "bounced")]
        # The least advanced live recipient is where the send as a whole stands.
        status = min(live, key=order.index) if live else statuses[0]
        errors = sorted({r["error_details"] for r in recipients if r["error_details"]})
        multi = len(email.recipients) > 1
        read_times = [r["read_at"] for r in recipients]
        return {
            "id": email.id, "tracking_id": email.tracking_id,
            "recipient": "Multiple Recipients" if multi else email.recipients[0].email,
            "subject": email.subject, "status": status, "sent_at": _fmt(email.created),
            "read_at": max(read_times) if read_times and all(read_times) else None,
            "created_at": _fmt(email.created), "mailsender_id": f"mail_{email.id}",
            "is_multi_recipient": multi, "recipient_count": len(email.recipients),
            "error_status": "; ".join(errors) or None,
            "certificates": [] if multi else recipients[0]["certificates"],
            "recipients": recipients,
        }

    def recipient_view(self, email: SentEmail, rec: EmailRecipient) -> dict[str, Any]:
        now, step = self.now(), self.step
        status = rec.status(email.created, now, step)
        delivered = email.created + timedelta(seconds=rec.delay_steps * step)
        read = email.created + timedelta(seconds=(rec.delay_steps + 1) * step)
        certificates = []
        for kind, when in (("delivered", delivered), ("read", read)):
            reached = {"delivered": ("delivered", "read"), "read": ("read",)}[kind]
            if status in reached:
                certificates.append({
                    "certificate_type": kind,
                    "file_hash": hashlib.sha256(self.email_certificate(email, rec, kind)).hexdigest(),
                    "confirmed_at": _fmt(when), "has_tsr": True, "has_tsq": True,
                    "pdf_download_url": self.file_url(
                        f"emails/download-certificate?id={rec.tracking_id}&status={kind}"),
                })
        return {
            "email": rec.email, "name": None, "status": status, "tracking_id": rec.tracking_id,
            "sent_at": None if rec.failed else _fmt(email.created),
            "delivered_at": _fmt(delivered) if status in ("delivered", "read") else None,
            "read_at": _fmt(read) if status == "read" else None,
            "error_details": ("Mailbox does not exist" if status == "bounced" else
                              "Recipient refused by the mail server" if status == "failed" else None),
            "certificates": certificates,
        }

    def email_certificate(self, email: SentEmail, rec: EmailRecipient, kind: str) -> bytes:
        when = email.created + timedelta(seconds=self.step * (rec.delay_steps + (0 if kind == "delivered" else 1)))
        return make_pdf([
            f"LegallyMail sandbox - Certificado de {'entrega' if kind == 'delivered' else 'lectura'}",
            f"tracking_id: {rec.tracking_id}", f"Destinatario: {rec.email}", f"Asunto: {email.subject}",
            f"Fecha: {_fmt(when)} (Europe/Madrid)",
            "Documento generado por el emulador local: sin valor legal.",
        ])

    def signature_view(self, sig: SignatureRequest, *, detail: bool) -> dict[str, Any]:
        now, step = self.now(), self.step
        status, signed_at = sig.status(now, step)
        first = sig.signers[0]
        out: dict[str, Any] = {
            "uuid": sig.uuid, "signer_name": first["name"], "signer_email": first["email"],
            "document_name": sig.document_name, "status": status, "created_at": _fmt(sig.created),
            "signed_at": _fmt(signed_at),
        }
        if not detail:
            return out
        signers = []
        for i, signer in enumerate(sig.signers):
            s_status, s_at = sig.signer_status(i, now, step)
            if status == "expired" and s_status == "pending":
                s_status = "expired"
            signers.append({"signer_name": signer["name"], "signer_email": signer["email"],
                            "signer_phone": signer.get("phone"), "status": s_status, "signed_at": _fmt(s_at)})
        out.update({
            "expires_at": _fmt(sig.expires_at(step)),
            "document_hash": hashlib.sha256(sig.document).hexdigest(),
            "signed_document_hash": hashlib.sha256(self.acta(sig)).hexdigest() if status == "signed" else None,
            "signers": signers,
            "download_original_url": self.file_url(f"electronic-signature/download-original/{sig.uuid}"),
            "download_acta_url": self.file_url(f"electronic-signature/download-acta/{sig.uuid}"),
        })
        return out

    def acta(self, sig: SignatureRequest) -> bytes:
        _, signed_at = sig.status(self.now(), self.step)
        return make_pdf([
            "LegallyMail sandbox - Acta de firma electronica", f"uuid: {sig.uuid}",
            f"Documento: {sig.document_name}", f"SHA-256: {hashlib.sha256(sig.document).hexdigest()}",
            *(f"Firmante: {s['name']} <{s['email']}>" for s in sig.signers),
            f"Firmado: {_fmt(signed_at)} (Europe/Madrid)",
            "Documento generado por el emulador local: sin valor legal.",
        ])

    def sms_view(self, sms: CertifiedSms) -> dict[str, Any]:
        t = sms.timeline(self.now(), self.step)
        return {
            "uuid": sms.uuid, "recipient": sms.recipient, "message": sms.message, "status": t["status"],
            "credits": 1, "sent_at": _fmt(sms.created), "delivered_at": _fmt(t["delivered_at"]),
            "failed_at": _fmt(t["failed_at"]), "ts_confirmed_at": _fmt(t["ts_confirmed_at"]),
            "download_certificate_url": (self.file_url(f"certified-sms/download-certificate/{sms.uuid}")
                                         if t["ts_confirmed_at"] else None),
        }

    def sms_certificate(self, sms: CertifiedSms) -> bytes:
        t = sms.timeline(self.now(), self.step)
        return make_pdf([
            "LegallyMail sandbox - Certificado de SMS certificado", f"uuid: {sms.uuid}",
            f"Destinatario: {sms.recipient}", f"Entregado: {_fmt(t['delivered_at'])}",
            f"Sello de tiempo: {_fmt(t['ts_confirmed_at'])} (Europe/Madrid)",
            "Documento generado por el emulador local: sin valor legal.",
        ])


# -- files (certificates, documents) -------------------------------------------------


class LegallyMailFilesApp:
    """The download URLs the API hands out. Not rate limited (not part of the documented API)."""

    prefix = FILES_PREFIX

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    def reset(self) -> None:
        """Stateless: the files come from the API app's state."""

    def handle(self, request: RecordedRequest) -> SandboxResponse:
        api: LegallyMailApp = self.sandbox.app(PREFIX)
        if api.token_of(request) != self.sandbox.legallymail_token:
            return fail(401, "Token inválido o no proporcionado")
        path = request.path[len(FILES_PREFIX):].strip("/")
        with api.lock:
            pdf = self._find(api, path, request)
        if pdf is None:
            return fail(404, "Documento no disponible")
        name, content = pdf
        return SandboxResponse(200, content, "application/pdf",
                               {"Content-Disposition": f'attachment; filename="{name}"'})

    def _find(self, api: LegallyMailApp, path: str, request: RecordedRequest) -> tuple[str, bytes] | None:
        parts = path.split("/")
        if path == "emails/download-certificate":
            found = api.recipients.get(str(request.param("id")))
            kind = str(request.param("status"))
            if found is None or kind not in ("delivered", "read"):
                return None
            email, rec = found
            view = api.recipient_view(email, rec)
            if not any(c["certificate_type"] == kind for c in view["certificates"]):
                return None
            return f"{rec.tracking_id}_{kind}.pdf", api.email_certificate(email, rec, kind)
        if len(parts) == 3 and parts[0] == "electronic-signature":
            sig = api.signatures.get(parts[2])
            if sig is None:
                return None
            if parts[1] == "download-original":
                return sig.document_name, sig.document
            if parts[1] == "download-acta" and sig.status(api.now(), api.step)[0] == "signed":
                return f"acta_{sig.uuid}.pdf", api.acta(sig)
            return None
        if len(parts) == 3 and parts[:2] == ["certified-sms", "download-certificate"]:
            sms = api.sms.get(parts[2])
            if sms is None or sms.timeline(api.now(), api.step)["ts_confirmed_at"] is None:
                return None
            return f"sms_{sms.uuid}.pdf", api.sms_certificate(sms)
        return None


register_app(LegallyMailApp)
register_app(LegallyMailFilesApp)
