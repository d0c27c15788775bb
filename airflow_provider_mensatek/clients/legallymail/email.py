"""LegallyMail certified email: ``POST /send``, ``GET /emails``, ``GET /email``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_mensatek.clients._http.transport import (
    SEND,
)
from airflow_provider_mensatek.clients._removed_names import STATE, RemovedNames
from airflow_provider_mensatek.clients._wire import _Jsonable, as_int
from airflow_provider_mensatek.clients.legallymail._core import LegallyMailCore
from airflow_provider_mensatek.clients.legallymail.checks import (
    MAX_LIST_LIMIT,
    VENDOR,
    _bool,
    _text,
    check_identifier,
    check_recipients,
    vendor_attachment,
)
from airflow_provider_mensatek.clients.validation import (
    as_list,
    check_email,
    check_int_range,
    require_text,
)


@dataclass(frozen=True)
class RecipientSendStatus(_Jsonable):
    email: str
    status: str | None
    tracking_id: str | None
    error_details: str | None


@dataclass(frozen=True)
class CertifiedEmailSendResult(_Jsonable):
    """``tracking_id`` is the send as a whole; each recipient has its own for status and certificates."""

    tracking_id: str | None
    recipients: list[RecipientSendStatus]
    subject: str | None
    sent_at: str | None
    success_count: int
    fail_count: int
    error_status: str | None
    message: str | None

    @property
    def tracking_ids(self) -> dict[str, str]:
        """Recipient email -> tracking id, for every recipient the vendor accepted."""
        return {r.email: r.tracking_id for r in self.recipients if r.tracking_id}


@dataclass(frozen=True)
class EmailCertificate(_Jsonable):
    certificate_type: str | None
    file_hash: str | None
    confirmed_at: str | None
    has_tsr: bool | None
    has_tsq: bool | None
    pdf_download_url: str | None


@dataclass(frozen=True)
class EmailRecipientStatus(RemovedNames, _Jsonable):
    REMOVED = STATE
    email: str
    name: str | None
    status: str | None
    tracking_id: str | None
    sent_at: str | None
    delivered_at: str | None
    read_at: str | None
    error_details: str | None
    certificates: list[EmailCertificate] = field(default_factory=list)


@dataclass(frozen=True)
class EmailSummary(RemovedNames, _Jsonable):
    """One line of ``GET /emails`` (and the head of ``GET /email``)."""

    REMOVED = STATE
    id: int | None
    tracking_id: str | None
    recipient: str | None
    subject: str | None
    status: str | None
    sent_at: str | None
    read_at: str | None
    created_at: str | None
    mailsender_id: str | None
    is_multi_recipient: bool | None
    recipient_count: int | None
    error_status: str | None


@dataclass(frozen=True)
class EmailStatus(EmailSummary):
    """``GET /email``: the send, its time-stamp certificates and every recipient's status."""

    certificates: list[EmailCertificate] = field(default_factory=list)
    recipients: list[EmailRecipientStatus] = field(default_factory=list)


class EmailApi(LegallyMailCore):
    """Certified email."""

    def build_send_body(
        self,
        recipients: Any,
        subject: str,
        message: str,
        *,
        reply_to: str | None = None,
        reply_to_name: str | None = None,
        attachments: Sequence[Any] | None = None,
    ) -> dict[str, Any]:
        """Validate everything and build the ``POST /send`` body (no HTTP). Raises ValidationError."""
        emails = check_recipients(recipients, max_recipients=self.max_recipients)
        body: dict[str, Any] = {
            "recipient": ", ".join(emails),
            "subject": require_text(subject, "subject", vendor=VENDOR, max_len=998).strip(),
            "message": require_text(message, "message", vendor=VENDOR),
        }
        if reply_to:
            body["reply_to"] = check_email(reply_to, what="reply_to", vendor=VENDOR)
        if reply_to_name:
            body["reply_to_name"] = require_text(reply_to_name, "reply_to_name", vendor=VENDOR, max_len=200)
        if attachments:
            body["attachments"] = [vendor_attachment(a, self.allowed_roots)
                                   for a in as_list(attachments, "attachments", vendor=VENDOR)]
        return body

    def send_certified_email(
        self,
        recipients: Any,
        subject: str,
        message: str,
        *,
        reply_to: str | None = None,
        reply_to_name: str | None = None,
        attachments: Sequence[Any] | None = None,
    ) -> CertifiedEmailSendResult:
        """``POST /send``: one certified email to up to ``max_recipients`` people (HTML message).

        Never retried once it may have arrived. ``reply_to`` must be a sender
        registered and verified in the LegallyMail account.
        """
        body = self.build_send_body(recipients, subject, message, reply_to=reply_to,
                                    reply_to_name=reply_to_name, attachments=attachments)
        look_for = f"a send with subject {body['subject']!r} to {body['recipient']}"
        answer = self.call("POST", "send", kind=SEND, json=body, look_for=look_for)
        data = answer.get("data")
        listed = data.get("recipients") if isinstance(data, Mapping) else None
        if not isinstance(data, Mapping) or not _text(data.get("tracking_id")) or not (
                listed is None or isinstance(listed, list)):
            # Accepted (2xx, success) but not in the documented shape: what was sent is unknown.
            raise self._accepted_but_unreadable("send", "the answer is not in the documented shape", look_for)
        recipients_out = [
            RecipientSendStatus(email=str(r.get("email", "")), status=_text(r.get("status")),
                                tracking_id=_text(r.get("tracking_id")), error_details=_text(r.get("error_details")))
            for r in listed or [] if isinstance(r, Mapping)
        ]
        return CertifiedEmailSendResult(
            tracking_id=_text(data.get("tracking_id")),
            recipients=recipients_out,
            subject=_text(data.get("subject")),
            sent_at=_text(data.get("sent_at")),
            success_count=as_int(data.get("success_count"), 0) or 0,
            fail_count=as_int(data.get("fail_count"), 0) or 0,
            error_status=_text(data.get("error_status")),
            message=_text(answer.get("message")),
        )

    def list_emails(self, limit: int = 10) -> list[EmailSummary]:
        """``GET /emails?limit=``: the latest certified emails (1 to 25)."""
        limit = check_int_range(limit, "limit", 1, MAX_LIST_LIMIT, vendor=VENDOR)
        answer = self.call("GET", "emails", params={"limit": limit})
        return [_email_summary(e) for e in answer.get("emails") or [] if isinstance(e, Mapping)]

    def get_email(self, tracking_id: str) -> EmailStatus:
        """``GET /email?tracking_id=``: a send (or one recipient of it) with certificates per recipient."""
        tid = check_identifier(tracking_id, "tracking_id")
        answer = self.call("GET", "email", params={"tracking_id": tid})
        email = answer.get("email") or {}
        recipients = [
            EmailRecipientStatus(
                email=str(r.get("email", "")), name=_text(r.get("name")), status=_text(r.get("status")),
                tracking_id=_text(r.get("tracking_id")), sent_at=_text(r.get("sent_at")),
                delivered_at=_text(r.get("delivered_at")), read_at=_text(r.get("read_at")),
                error_details=_text(r.get("error_details")),
                certificates=_certificates(r.get("certificates")),
            )
            for r in email.get("recipients") or [] if isinstance(r, Mapping)
        ]
        summary = _email_summary(email)
        return EmailStatus(**{**summary.__dict__, "certificates": _certificates(email.get("certificates")),
                              "recipients": recipients})


def _email_summary(e: Mapping[str, Any]) -> EmailSummary:
    return EmailSummary(
        id=as_int(e.get("id")), tracking_id=_text(e.get("tracking_id")), recipient=_text(e.get("recipient")),
        subject=_text(e.get("subject")), status=_text(e.get("status")), sent_at=_text(e.get("sent_at")),
        read_at=_text(e.get("read_at")), created_at=_text(e.get("created_at")),
        mailsender_id=_text(e.get("mailsender_id")), is_multi_recipient=_bool(e.get("is_multi_recipient")),
        recipient_count=as_int(e.get("recipient_count")), error_status=_text(e.get("error_status")),
    )


def _certificates(value: Any) -> list[EmailCertificate]:
    if not isinstance(value, list):
        return []
    return [
        EmailCertificate(
            certificate_type=_text(c.get("certificate_type")), file_hash=_text(c.get("file_hash")),
            confirmed_at=_text(c.get("confirmed_at")), has_tsr=_bool(c.get("has_tsr")),
            has_tsq=_bool(c.get("has_tsq")), pdf_download_url=_text(c.get("pdf_download_url")),
        )
        for c in value if isinstance(c, Mapping)
    ]
