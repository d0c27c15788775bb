"""The LegallyMail sandbox's endpoints, by API surface: certified email, e-signature, certified SMS.

Each handler registers itself in :data:`~airflow_provider_mensatek.sandbox.legallymail.ROUTES`;
the app, its state and its timelines are in :mod:`~airflow_provider_mensatek.sandbox.legallymail`.
"""

from __future__ import annotations

import base64
import binascii
import uuid as uuidlib

from airflow_provider_mensatek.sandbox.legallymail import (
    _EMAIL_RE,
    _PHONE_RE,
    LANGUAGES,
    MAX_DOCUMENT_BYTES,
    MAX_SIGNERS,
    CertifiedSms,
    EmailRecipient,
    LegallyMailApp,
    SentEmail,
    SignatureRequest,
    _fmt,
    _local,
    fail,
    route,
)
from airflow_provider_mensatek.sandbox.server import (
    RecordedRequest,
    SandboxResponse,
)

# -- certified email -------------------------------------------------------------


def _limit(req: RecordedRequest) -> int | SandboxResponse:
    raw = req.param("limit")
    try:
        limit = int(str(raw))
    except ValueError:
        return fail(400, "El parámetro limit es obligatorio (entre 1 y 25)")
    if not 1 <= limit <= 25:
        return fail(400, "limit debe estar entre 1 y 25")
    return limit


@route("POST", "send")
def send_email(app: LegallyMailApp, req: RecordedRequest) -> SandboxResponse:
    raw = req.param("recipient") or req.param("to")
    subject = req.param("subject")
    message = req.param("message") or req.param("body") or req.param("content")
    if not raw or not subject or not message:
        return fail(400, "Faltan parámetros obligatorios: recipient, subject, message")
    emails = [e.strip() for e in str(raw).split(",") if e.strip()]
    if len(emails) > app.max_recipients:
        return fail(400, f"Límite de destinatarios excedido: máximo {app.max_recipients}")
    bad = [e for e in emails if not _EMAIL_RE.match(e)]
    if bad:
        return fail(400, f"Email de destinatario no válido: {bad[0]}")
    reply_to = req.param("reply_to")
    if reply_to and not _EMAIL_RE.match(str(reply_to)):
        return fail(400, "reply_to no es un email válido")
    attachments = req.param("attachments") or []
    if not isinstance(attachments, list):
        return fail(400, "attachments debe ser un array")
    for att in attachments:
        if not isinstance(att, dict) or not all(att.get(k) for k in ("filename", "content", "mime_type")):
            return fail(400, "Cada adjunto necesita filename, content (base64) y mime_type")
        try:
            base64.b64decode(str(att["content"]), validate=True)
        except (binascii.Error, ValueError):
            return fail(400, f"El adjunto {att['filename']} no está en base64")
    deliverable = [e for e in emails if not _local(e).startswith("fail")]
    if len(deliverable) > app.remaining_emails:
        return fail(403, "No tienes emails restantes disponibles (créditos insuficientes)")
    app.remaining_emails -= len(deliverable)
    email_id = app.new_id()
    recipients = [EmailRecipient(email=e, tracking_id=f"cm_{email_id}_r{i + 1}",
                                 failed=_local(e).startswith("fail"))
                  for i, e in enumerate(emails)]
    sent = SentEmail(id=email_id, tracking_id=f"cm_{email_id}", subject=str(subject), message=str(message),
                     created=app.now(), recipients=recipients, reply_to=reply_to, attachments=attachments)
    app.emails[sent.tracking_id] = sent
    for rec in recipients:
        app.recipients[rec.tracking_id] = (sent, rec)
    ok = len(deliverable)
    return SandboxResponse.json({
        "success": True,
        "message": f"Email sent to {ok} of {len(emails)} recipients",
        "data": {
            "tracking_id": sent.tracking_id,
            "recipients": [{"email": r.email, "status": "failed" if r.failed else "sent",
                            "tracking_id": None if r.failed else r.tracking_id,
                            "error_details": "Recipient refused by the mail server" if r.failed else None}
                           for r in recipients],
            "subject": sent.subject, "sent_at": _fmt(sent.created), "success_count": ok,
            "fail_count": len(emails) - ok, "error_status": None if ok == len(emails) else "Partial failure",
        },
    })


@route("GET", "info")
def info(app: LegallyMailApp, req: RecordedRequest) -> SandboxResponse:
    return SandboxResponse.json({
        "name": "LegallyMail API", "version": "1.0.0",
        "user": {"email": "sandbox@example.com", "name": "Sandbox User", "plan": "professional",
                 "plan_name": "Profesional", "plan_limit": app.plan_limit, "extra_emails": 0,
                 "remaining_emails": app.remaining_emails},
    })


@route("GET", "emails")
def list_emails(app: LegallyMailApp, req: RecordedRequest) -> SandboxResponse:
    limit = _limit(req)
    if isinstance(limit, SandboxResponse):
        return limit
    latest = sorted(app.emails.values(), key=lambda e: e.id, reverse=True)[:limit]
    rows = []
    for email in latest:
        view = app.email_view(email)
        rows.append({k: v for k, v in view.items() if k not in ("certificates", "recipients")})
    return SandboxResponse.json({"success": True, "count": len(rows), "limit": limit, "max_limit": 25,
                                 "emails": rows})


@route("GET", "email")
def get_email(app: LegallyMailApp, req: RecordedRequest) -> SandboxResponse:
    tracking_id = req.param("tracking_id")
    if not tracking_id:
        return fail(400, "El parámetro tracking_id es obligatorio")
    email = app.emails.get(str(tracking_id))
    if email is None and str(tracking_id) in app.recipients:
        email = app.recipients[str(tracking_id)][0]
    if email is None:
        return fail(404, f"No se encontró ningún email con tracking_id {tracking_id}")
    return SandboxResponse.json({"success": True, "email": app.email_view(email)})


# -- e-signature -------------------------------------------------------------------


@route("POST", "signature/send")
def send_signature(app: LegallyMailApp, req: RecordedRequest) -> SandboxResponse:
    signers = req.param("signers")
    if signers is None and req.param("signer_email"):
        signers = [{"name": req.param("signer_name"), "email": req.param("signer_email"),
                    "phone": req.param("signer_phone")}]
    if not isinstance(signers, list) or not signers:
        return fail(400, "Indica signer_name y signer_email, o un array signers")
    if len(signers) > MAX_SIGNERS:
        return fail(400, f"Máximo {MAX_SIGNERS} firmantes por documento")
    clean: list[dict[str, str]] = []
    for signer in signers:
        if not isinstance(signer, dict) or not signer.get("name") or not _EMAIL_RE.match(str(signer.get("email"))):
            return fail(400, "Cada firmante necesita name y un email válido")
        phone = signer.get("phone")
        if phone and not _PHONE_RE.match(str(phone)):
            return fail(400, f"Teléfono no válido: {phone}")
        clean.append({"name": str(signer["name"]), "email": str(signer["email"]),
                      **({"phone": str(phone)} if phone else {})})
    name = req.param("document_name")
    if not req.param("document") or not name:
        return fail(400, "document (base64) y document_name son obligatorios")
    try:
        document = base64.b64decode(str(req.param("document")), validate=True)
    except (binascii.Error, ValueError):
        return fail(400, "document no está en base64")
    if not document.startswith(b"%PDF-"):
        return fail(400, "El documento debe ser un PDF")
    if len(document) > MAX_DOCUMENT_BYTES:
        return fail(400, "El documento supera el máximo de 10MB")
    language = str(req.param("language") or "es")
    if language not in LANGUAGES:
        return fail(400, "language debe ser es, en, fr o it")
    sig = SignatureRequest(uuid=str(uuidlib.uuid4()), signers=clean, document=document, document_name=str(name),
                           language=language, created=app.now())
    app.signatures[sig.uuid] = sig
    return SandboxResponse.json({"success": True, "message": "Signature request sent successfully",
                                 "data": app.signature_view(sig, detail=False) | {"signed_at": None}})


@route("GET", "signatures")
def list_signatures(app: LegallyMailApp, req: RecordedRequest) -> SandboxResponse:
    limit = _limit(req)
    if isinstance(limit, SandboxResponse):
        return limit
    latest = list(app.signatures.values())[::-1][:limit]
    return SandboxResponse.json({"success": True, "data": [app.signature_view(s, detail=False) for s in latest]})


@route("GET", "signature")
def get_signature(app: LegallyMailApp, req: RecordedRequest) -> SandboxResponse:
    uid = req.param("uuid")
    if not uid:
        return fail(400, "El parámetro uuid es obligatorio")
    sig = app.signatures.get(str(uid))
    if sig is None:
        return fail(404, f"No se encontró la firma {uid}")
    return SandboxResponse.json({"success": True, "data": app.signature_view(sig, detail=True)})


# -- certified SMS -----------------------------------------------------------------


@route("POST", "sms/send")
def send_sms(app: LegallyMailApp, req: RecordedRequest) -> SandboxResponse:
    phone = req.param("phone") or req.param("recipient")
    text = req.param("message") or req.param("text")
    if not phone or not text:
        return fail(400, "phone y message son obligatorios")
    if not _PHONE_RE.match(str(phone)):
        return fail(400, "Número de teléfono no válido: incluye el código de país (ej: +34600000000)")
    if len(str(text)) > 300:
        return fail(400, "El SMS supera los 300 caracteres")
    if app.sms_credits < 1:
        return fail(403, "No tienes créditos de SMS certificado disponibles")
    app.sms_credits -= 1
    sms = CertifiedSms(uuid=str(uuidlib.uuid4()), recipient=str(phone), message=str(text), created=app.now())
    app.sms[sms.uuid] = sms
    return SandboxResponse.json({"success": True, "uuid": sms.uuid, "status": "sent", "credits_deducted": 1,
                                 "message": "Certified SMS sent successfully"})


@route("GET", "sms")
def get_sms(app: LegallyMailApp, req: RecordedRequest) -> SandboxResponse:
    uid = req.param("uuid") or req.param("id")
    if not uid:
        return fail(400, "El parámetro uuid es obligatorio")
    sms = app.sms.get(str(uid))
    if sms is None:
        return fail(404, f"No se encontró el SMS {uid}")
    return SandboxResponse.json({"success": True, "data": app.sms_view(sms)})
