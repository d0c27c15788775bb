"""LegallyMailClient: one method per LegallyMail REST endpoint, typed results.

Contract: ``vendor-docs/legallymail.txt``. What is handled here and nowhere else:

* the token travels only in ``Authorization: Bearer`` (never in the body or
  the URL, both of which the vendor also accepts and both of which end up in
  access logs);
* answers are JSON objects with ``success`` (``/info`` has none); sends wrap
  their answer in ``data``, except ``/sms/send`` which answers flat;
* errors are HTTP statuses: 400 -> :class:`InvalidRequestError` with the
  vendor's message, 401 -> :class:`AuthenticationError` (the transport never
  retries it and remembers it), 403 -> :class:`ForbiddenError` or, when the
  body talks about credits / remaining emails, :class:`InsufficientCreditsError`,
  404 -> :class:`NotFoundError`, 429 -> :class:`RateLimitedError` (retried after
  ``Retry-After``), 5xx -> transient on reads, :class:`AmbiguousSendError` on sends;
* the documented 10 requests/minute: every request first takes a slot from the
  process-wide :class:`~airflow_provider_mensatek.delivery.polling.RateLimiter`
  of the token, so the client waits instead of collecting 429s.
"""

from __future__ import annotations

import logging
import mimetypes
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any
from urllib.parse import parse_qsl, urlsplit

import requests

from airflow_provider_mensatek.clients._http.credentials import BearerAuth
from airflow_provider_mensatek.clients._http.limits import DEFAULT_MAX_RESPONSE_BYTES
from airflow_provider_mensatek.clients._http.transport import (
    SAFE,
    SEND,
    RetrySettings,
    Timeouts,
    Transport,
    TransportClient,
    credential_key,
    resolve_base_url,
)
from airflow_provider_mensatek.clients._local_files import LocalFileAccess, read_source
from airflow_provider_mensatek.clients.errors import (
    AmbiguousSendError,
    AuthenticationError,
    CertificateError,
    ForbiddenError,
    InsufficientCreditsError,
    InvalidRequestError,
    MensatekError,
    NotFoundError,
    ValidationError,
)
from airflow_provider_mensatek.clients.mensatek import _Jsonable, as_int
from airflow_provider_mensatek.clients.sms_encoding import normalise_phone
from airflow_provider_mensatek.clients.validation import (
    Attachment,
    as_list,
    check_email,
    check_int_range,
    load_attachment,
    require_text,
)
from airflow_provider_mensatek.delivery.polling import LEGALLYMAIL_REQUESTS_PER_MINUTE, RateLimiter, limiter_for
from airflow_provider_mensatek.delivery.statuses import VendorStatus, classify

log = logging.getLogger("airflow_provider_mensatek.clients.legallymail")

VENDOR = "legallymail"
DEFAULT_BASE_URL = "https://legallymail.com/api"

#: "Límite por defecto: 10 destinatarios" (can be raised by the vendor's support on request).
DEFAULT_MAX_RECIPIENTS = 10
MAX_SIGNERS = 5
MAX_DOCUMENT_BYTES = 10 * 1024 * 1024
LANGUAGES = ("es", "en", "fr", "it")
MAX_SMS_CHARS = 300
MAX_LIST_LIMIT = 25
#: Assumptions (not documented): attachments share the signature document's 10 MB
#: cap, and names stay within common file-system limits.
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
MAX_FILE_NAME_LEN = 255
#: Certificates and actas are one-page PDFs; signed originals are at most 10 MB.
MAX_DOWNLOAD_BYTES = 64 * 1024 * 1024

_PDF_MAGIC = b"%PDF-"
_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
#: The vendor's 401 text ("Token inválido o no proporcionado") and what it answers with a 200.
_AUTH_FAILURE_RE = re.compile(r"\btoken\b.{0,40}\b(inv[aá]lid|no proporcionado|missing|expired|revoked)|"
                              r"\b(invalid|inv[aá]lido|missing|expired|revoked)\b.{0,20}\btoken\b|"
                              r"\bunauthori[sz]ed\b|\bunauthenticated\b|\bno autorizado\b", re.IGNORECASE)
_CREDITS_RE = re.compile(r"cr[ée]dit|quota|remaining|restantes|saldo|balance|l[ií]mite del plan", re.IGNORECASE)


# -- typed results -------------------------------------------------------------


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _bool(value: Any) -> bool | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "si", "sí")
    return bool(value)


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
class AccountInfo(_Jsonable):
    api_name: str | None
    api_version: str | None
    email: str | None
    name: str | None
    plan: str | None
    plan_name: str | None
    plan_limit: int | None
    extra_emails: int | None
    remaining_emails: int | None


@dataclass(frozen=True)
class EmailCertificate(_Jsonable):
    certificate_type: str | None
    file_hash: str | None
    confirmed_at: str | None
    has_tsr: bool | None
    has_tsq: bool | None
    pdf_download_url: str | None


@dataclass(frozen=True)
class EmailRecipientStatus(_Jsonable):
    email: str
    name: str | None
    status: str | None
    tracking_id: str | None
    sent_at: str | None
    delivered_at: str | None
    read_at: str | None
    error_details: str | None
    certificates: list[EmailCertificate] = field(default_factory=list)

    @property
    def state(self) -> VendorStatus:
        return classify("legallymail.email", self.status)


@dataclass(frozen=True)
class EmailSummary(_Jsonable):
    """One line of ``GET /emails`` (and the head of ``GET /email``)."""

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

    @property
    def state(self) -> VendorStatus:
        return classify("legallymail.email", self.status)


@dataclass(frozen=True)
class EmailStatus(EmailSummary):
    """``GET /email``: the send, its time-stamp certificates and every recipient's status."""

    certificates: list[EmailCertificate] = field(default_factory=list)
    recipients: list[EmailRecipientStatus] = field(default_factory=list)


@dataclass(frozen=True)
class Signer(_Jsonable):
    """A person asked to sign. ``phone`` (with country code) enables the vendor's SMS check."""

    name: str
    email: str
    phone: str | None = None


@dataclass(frozen=True)
class SignerStatus(_Jsonable):
    name: str | None
    email: str | None
    phone: str | None
    status: str | None
    signed_at: str | None


@dataclass(frozen=True)
class SignatureRequestResult(_Jsonable):
    uuid: str
    signer_name: str | None
    signer_email: str | None
    document_name: str | None
    status: str | None
    created_at: str | None
    signers: list[Signer] = field(default_factory=list)


@dataclass(frozen=True)
class SignatureSummary(_Jsonable):
    uuid: str
    signer_name: str | None
    signer_email: str | None
    document_name: str | None
    status: str | None
    created_at: str | None
    signed_at: str | None

    @property
    def state(self) -> VendorStatus:
        return classify("legallymail.signature", self.status)


@dataclass(frozen=True)
class SignatureStatus(SignatureSummary):
    expires_at: str | None = None
    document_hash: str | None = None
    signed_document_hash: str | None = None
    signers: list[SignerStatus] = field(default_factory=list)
    download_original_url: str | None = None
    download_acta_url: str | None = None


@dataclass(frozen=True)
class DownloadedFile(_Jsonable):
    url: str
    bytes_written: int
    content_type: str | None


@dataclass(frozen=True)
class SmsSendResult(_Jsonable):
    uuid: str
    status: str | None
    credits_deducted: int | None
    message: str | None
    phone: str


@dataclass(frozen=True)
class SmsStatus(_Jsonable):
    uuid: str
    recipient: str | None
    message: str | None
    status: str | None
    credits: int | None
    sent_at: str | None
    delivered_at: str | None
    failed_at: str | None
    ts_confirmed_at: str | None
    download_certificate_url: str | None

    @property
    def state(self) -> VendorStatus:
        return classify("legallymail.sms", self.status, certified=bool(self.ts_confirmed_at))


# -- local validation ----------------------------------------------------------


def _invalid(message: str, function: str | None = None) -> ValidationError:
    return ValidationError(message, vendor=VENDOR, function=function)


def check_recipients(value: Any, *, max_recipients: int = DEFAULT_MAX_RECIPIENTS) -> list[str]:
    """A list (a JSON list string, or a comma-separated string) of distinct, valid addresses within the limit."""
    if isinstance(value, str) and not value.lstrip().startswith("["):
        value = [part for part in value.split(",") if part.strip()]
    items = as_list(value, "recipients", vendor=VENDOR)
    emails = [check_email(item, what=f"recipient #{i + 1}", vendor=VENDOR) for i, item in enumerate(items)]
    if len(emails) > max_recipients:
        raise _invalid(
            f"{len(emails)} recipients; the account limit is {max_recipients} per send (the vendor "
            "raises it on request; then set the connection extra max_recipients)"
        )
    seen: set[str] = set()
    for email in emails:
        if email.lower() in seen:
            # The vendor would certify (and charge) the same person twice.
            raise _invalid(f"Recipient {email!r} is listed more than once")
        seen.add(email.lower())
    return emails


def check_identifier(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _ID_RE.match(value.strip()):
        raise _invalid(f"{what} must be the identifier the vendor returned (letters, digits, ._:-), "
                       f"got {value!r}")
    return value.strip()


def check_phone(value: Any, what: str = "phone") -> str:
    """International number as the vendor's samples write it: ``+`` and country code first.

    Whether a number has its country code is decided as for Mensatek SMS
    (:mod:`~airflow_provider_mensatek.clients.phone_numbers`): ``600000000`` is refused.
    """
    try:
        digits = normalise_phone(value, what=what)
    except ValidationError as exc:
        raise _invalid(exc.message) from None
    return f"+{digits}"


def check_language(value: Any) -> str:
    if not isinstance(value, str) or value.strip().lower() not in LANGUAGES:
        raise _invalid(f"language must be one of {', '.join(LANGUAGES)}, got {value!r}")
    return value.strip().lower()


def check_signers(signers: Any) -> list[Signer]:
    """1 to 5 signers (``Signer``, or dicts with name / email / optional phone), distinct emails."""
    items = as_list(signers, "signers", vendor=VENDOR)
    if len(items) > MAX_SIGNERS:
        raise _invalid(f"{len(items)} signers; the vendor accepts at most {MAX_SIGNERS} per document")
    out: list[Signer] = []
    for i, item in enumerate(items):
        where = f"signer #{i + 1}"
        name: Any
        email: Any
        phone: Any
        if isinstance(item, Signer):
            name, email, phone = item.name, item.email, item.phone
        elif isinstance(item, Mapping):
            lowered = {str(k).lower(): v for k, v in item.items()}
            unknown = sorted(set(lowered) - {"name", "email", "phone"})
            if unknown:
                raise _invalid(f"{where}: unknown fields {unknown}; use name, email and phone")
            name, email, phone = lowered.get("name"), lowered.get("email"), lowered.get("phone")
        else:
            raise _invalid(f"{where} must be a dict with name and email (and optional phone), got "
                           f"{type(item).__name__}")
        name = require_text(name, f"{where} name", vendor=VENDOR, max_len=200).strip()
        email = check_email(email, what=f"{where} email", vendor=VENDOR)
        if phone is not None and phone != "":
            phone = check_phone(phone, what=f"{where} phone")
        else:
            phone = None
        out.append(Signer(name=name, email=email, phone=phone))
    emails = [s.email.lower() for s in out]
    if len(set(emails)) != len(emails):
        raise _invalid("The same signer email appears more than once")
    return out


def load_document(document: Any, document_name: str | None = None, *,
                  allowed_roots: tuple[str, ...] = ()) -> tuple[str, bytes]:
    """A PDF from bytes, a local path inside ``allowed_roots``, a ``file://`` URL or an object-storage path.

    Checked locally: it starts with ``%PDF-`` and is at most 10 MB, as the vendor
    requires; never more than 10 MB + 1 byte is read. See
    :func:`~airflow_provider_mensatek.clients._local_files.read_source` for what
    a path may be.
    """
    name = document_name
    if isinstance(document, bytes | bytearray | memoryview):
        content = bytes(document)
    else:
        file_name, content = read_source(document, allowed_roots=allowed_roots, max_bytes=MAX_DOCUMENT_BYTES,
                                         what="document", vendor=VENDOR)
        name = name or file_name
    name = require_text(name, "document_name", vendor=VENDOR, max_len=MAX_FILE_NAME_LEN).strip()
    if not content.startswith(_PDF_MAGIC):
        raise _invalid(f"Document {name!r} is not a PDF (it does not start with %PDF-)")
    if len(content) > MAX_DOCUMENT_BYTES:
        raise _invalid(f"Document {name!r} is {len(content)} bytes; the vendor accepts at most "
                       f"{MAX_DOCUMENT_BYTES} (10 MB)")
    return name, content


def vendor_attachment(item: Any, allowed_roots: tuple[str, ...] = ()) -> dict[str, str]:
    """One attachment as the vendor wants it: ``filename``, base64 ``content``, ``mime_type``.

    Accepts what :func:`~airflow_provider_mensatek.clients.validation.load_attachment`
    accepts (a path, an :class:`Attachment`, a dict with ``name`` and ``content`` /
    ``path`` / ``base64``), plus the vendor's own ``filename`` and ``mime_type`` keys.
    Local paths are read only inside ``allowed_roots``.
    """
    mime_type: Any = None
    if isinstance(item, Mapping):
        lowered = {str(k).lower(): v for k, v in item.items()}
        mime_type = lowered.pop("mime_type", None)
        if "filename" in lowered:
            lowered.setdefault("name", lowered.pop("filename"))
        item = lowered
    file: Attachment = load_attachment(item, max_name_len=MAX_FILE_NAME_LEN, max_bytes=MAX_ATTACHMENT_BYTES,
                                       allowed_roots=allowed_roots, vendor=VENDOR)
    if mime_type is None:
        mime_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
    elif not isinstance(mime_type, str) or "/" not in mime_type:
        raise _invalid(f"Attachment {file.name!r}: mime_type must look like type/subtype, got {mime_type!r}")
    return {"filename": file.name, "content": file.base64, "mime_type": mime_type}


# -- the client ----------------------------------------------------------------


class LegallyMailClient(TransportClient, LocalFileAccess):
    """Airflow-free client for the LegallyMail REST API (Bearer token).

    ``allowed_roots``: the local folders attachments and signature documents may
    be read from (none by default: local paths are refused until you name them).
    """

    vendor = VENDOR

    def __init__(
        self,
        token: str,
        *,
        base_url: str | None = None,
        requests_per_minute: float = LEGALLYMAIL_REQUESTS_PER_MINUTE,
        max_recipients: int = DEFAULT_MAX_RECIPIENTS,
        timeouts: Timeouts | None = None,
        retry: RetrySettings | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        sleep: Callable[[float], None] | None = None,
        rate_limiter: RateLimiter | None = None,
        session: requests.Session | None = None,
        allowed_roots: Iterable[str | os.PathLike[str]] | None = None,
    ) -> None:
        self.allowed_roots = allowed_roots
        if not isinstance(token, str) or not token.strip():
            raise ValidationError("LegallyMail needs the API token (the connection's password)", vendor=VENDOR)
        self.base_url = resolve_base_url(base_url, default=DEFAULT_BASE_URL)
        self.max_recipients = check_int_range(max_recipients, "max_recipients", 1, 10_000, vendor=VENDOR)
        credential_id = credential_key(self.vendor, self.base_url, token)
        self.rate_limiter = rate_limiter or limiter_for(credential_id, requests_per_minute)
        kwargs: dict[str, Any] = {}
        if sleep is not None:
            kwargs["sleep"] = sleep
        self.transport = Transport(
            vendor=self.vendor,
            base_url=self.base_url,
            auth=BearerAuth(token.strip()),
            secret=token.strip(),
            credential_id=credential_id,
            timeouts=timeouts,
            retry=retry,
            max_response_bytes=max_response_bytes,
            before_request=self._take_slot,
            session=session,
            **kwargs,
        )
        origin = urlsplit(self.base_url)
        # Download URLs live outside /api on the same host: a second transport rooted at the
        # origin, sharing the session, the credential's auth memory and the rate limiter.
        self._files = Transport(
            vendor=self.vendor,
            base_url=f"{origin.scheme}://{origin.netloc}",
            auth=BearerAuth(token.strip()),
            secret=token.strip(),
            credential_id=credential_id,
            timeouts=timeouts,
            retry=retry,
            max_response_bytes=max_response_bytes,
            before_request=self._take_slot,
            session=self.transport.session,
            **kwargs,
        )

    def __repr__(self) -> str:
        return f"LegallyMailClient(base_url={self.base_url!r})"

    # -- plumbing ------------------------------------------------------------

    def _take_slot(self) -> None:
        self.rate_limiter.acquire()

    def call(
        self,
        method: str,
        path: str,
        *,
        kind: str = SAFE,
        json: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        look_for: str | None = None,
    ) -> dict[str, Any]:
        """One request; returns the decoded JSON object or raises the mapped error.

        ``look_for`` says, on an ambiguous send, what to look for in the
        vendor's dashboard (LegallyMail has no client reference field).
        """
        function = path.strip("/")
        # LegallyMail may refuse a token inside a 200 answer: the gate spans the reading too.
        with self.transport.first_use():
            try:
                response = self.transport.request(method, path, function=function, kind=kind, json=json,
                                                  params=params)
            except AmbiguousSendError as exc:
                if look_for is None:
                    raise
                raise AmbiguousSendError(
                    f"{exc.message} Look in the LegallyMail dashboard for {look_for}.", vendor=VENDOR,
                    function=function, code=exc.code,
                ) from None
            try:
                return self._check(function, response)
            except MensatekError as exc:
                if kind == SEND and exc.code == "parse":
                    raise self._accepted_but_unreadable(function, exc.message, look_for) from None
                raise

    @staticmethod
    def _accepted_but_unreadable(function: str, what: str, look_for: str | None) -> AmbiguousSendError:
        """A 2xx answer to a send that we cannot read: it may have been sent; never retried."""
        where = f" Look in the LegallyMail dashboard for {look_for}." if look_for else ""
        return AmbiguousSendError(
            f"The send may have reached LegallyMail: {what}. It was NOT retried, to avoid sending twice.{where}",
            vendor=VENDOR, function=function, code="parse",
        )

    def _check(self, function: str, response: requests.Response) -> dict[str, Any]:
        status = response.status_code
        text = response.text
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        vendor_message = self._vendor_message(body, text)
        refused = isinstance(body, dict) and body.get("success") is False
        if refused and status < 300 and _AUTH_FAILURE_RE.search(vendor_message):
            # "200 {success: false, message: Invalid API token}": a refused login like a 401, never repeated.
            error = AuthenticationError(f"The vendor refused the token: {vendor_message}", vendor=VENDOR,
                                        function=function, code=status)
            self.transport.remember_auth_failure(error)
            raise error
        if status >= 400 or refused:
            raise self._error_for(status, vendor_message, function)
        if not isinstance(body, dict):
            raise MensatekError(f"Unreadable answer (not a JSON object): {vendor_message!r}", vendor=VENDOR,
                                function=function, code="parse")
        # An accepted answer may echo the token too (its message, say), and what the client returns reaches XCom.
        answer: dict[str, Any] = self.transport.redact_answer(body)
        return answer

    def _vendor_message(self, body: Any, text: str) -> str:
        parts: list[str] = []
        if isinstance(body, dict):
            for key in ("message", "error", "errors", "details"):
                value = body.get(key)
                if value and str(value) not in parts:
                    parts.append(str(value))
        if parts:
            return self.transport.redact("; ".join(parts))
        return self.transport.redact(text.strip())[:300]

    def _error_for(self, status: int, message: str, function: str) -> MensatekError:
        detail = message or "no details"
        if status == 403:
            if _CREDITS_RE.search(message):
                return InsufficientCreditsError(f"No credits / remaining emails left: {detail}", vendor=VENDOR,
                                                function=function, code=403)
            return ForbiddenError(f"Not allowed: {detail}", vendor=VENDOR, function=function, code=403)
        if status == 404:
            return NotFoundError(f"Not found: {detail}", vendor=VENDOR, function=function, code=404)
        if status in (400, 405, 413, 422):
            return InvalidRequestError(f"The vendor refused the data: {detail}", vendor=VENDOR,
                                       function=function, code=status)
        if status < 500:
            # 401 and 429 are the transport's; any other 4xx is a refusal of the request.
            return InvalidRequestError(f"The vendor refused the request (HTTP {status}): {detail}", vendor=VENDOR,
                                       function=function, code=status)
        return MensatekError(f"Unexpected answer (HTTP {status}): {detail}", vendor=VENDOR, function=function,
                             code=status)

    # -- certified email -----------------------------------------------------

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

    def get_info(self) -> AccountInfo:
        """``GET /info``: the account, its plan and the emails left. The connection test uses it."""
        answer = self.call("GET", "info")
        user = answer.get("user") or {}
        return AccountInfo(
            api_name=_text(answer.get("name")), api_version=_text(answer.get("version")),
            email=_text(user.get("email")), name=_text(user.get("name")), plan=_text(user.get("plan")),
            plan_name=_text(user.get("plan_name")), plan_limit=as_int(user.get("plan_limit")),
            extra_emails=as_int(user.get("extra_emails")), remaining_emails=as_int(user.get("remaining_emails")),
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

    # -- e-signature ---------------------------------------------------------

    def _signature_body(
        self, document: Any, signers: Any, *, document_name: str | None, language: str
    ) -> tuple[dict[str, Any], list[Signer]]:
        checked = check_signers(signers)
        lang = check_language(language)
        name, content = load_document(document, document_name, allowed_roots=self.allowed_roots)
        body: dict[str, Any]
        if len(checked) == 1:
            # The vendor's primary (single-signer) form.
            only = checked[0]
            body = {"signer_name": only.name, "signer_email": only.email}
            if only.phone:
                body["signer_phone"] = only.phone
        else:
            body = {"signers": [{k: v for k, v in s.to_dict().items() if v is not None} for s in checked]}
        body.update({"document": Attachment(name, content).base64, "document_name": name, "language": lang})
        return body, checked

    def request_signature(
        self,
        document: Any,
        signers: Any,
        *,
        document_name: str | None = None,
        language: str = "es",
    ) -> SignatureRequestResult:
        """``POST /signature/send``: ask 1 to 5 people to sign a PDF (at most 10 MB).

        ``document`` is PDF bytes, a local path inside :attr:`allowed_roots`, or an
        object-storage path (``ObjectStoragePath``, any fsspec/UPath object);
        ``document_name`` (what signers see) defaults to the file name.
        """
        body, checked = self._signature_body(document, signers, document_name=document_name, language=language)
        emails = ", ".join(s.email for s in checked)
        answer = self.call("POST", "signature/send", kind=SEND, json=body,
                           look_for=f"a signature request for {body['document_name']!r} to {emails}")
        data = answer.get("data") or {}
        uuid = _text(data.get("uuid"))
        if not uuid:
            raise self._accepted_but_unreadable("signature/send", "the answer has no uuid",
                                                f"a signature request for {body['document_name']!r} to {emails}")
        return SignatureRequestResult(
            uuid=uuid, signer_name=_text(data.get("signer_name")), signer_email=_text(data.get("signer_email")),
            document_name=_text(data.get("document_name")), status=_text(data.get("status")),
            created_at=_text(data.get("created_at")), signers=checked,
        )

    def list_signatures(self, limit: int = 10) -> list[SignatureSummary]:
        """``GET /signatures?limit=``: the latest signature requests (1 to 25)."""
        limit = check_int_range(limit, "limit", 1, MAX_LIST_LIMIT, vendor=VENDOR)
        answer = self.call("GET", "signatures", params={"limit": limit})
        return [_signature_summary(s) for s in answer.get("data") or [] if isinstance(s, Mapping)]

    def get_signature(self, uuid: str) -> SignatureStatus:
        """``GET /signature?uuid=``: status of a request, each signer, hashes and download URLs."""
        uid = check_identifier(uuid, "uuid")
        answer = self.call("GET", "signature", params={"uuid": uid})
        data = answer.get("data") or {}
        signers = [
            SignerStatus(name=_text(s.get("signer_name")), email=_text(s.get("signer_email")),
                         phone=_text(s.get("signer_phone")), status=_text(s.get("status")),
                         signed_at=_text(s.get("signed_at")))
            for s in data.get("signers") or [] if isinstance(s, Mapping)
        ]
        summary = _signature_summary(data)
        return SignatureStatus(
            **summary.__dict__, expires_at=_text(data.get("expires_at")),
            document_hash=_text(data.get("document_hash")),
            signed_document_hash=_text(data.get("signed_document_hash")), signers=signers,
            download_original_url=_text(data.get("download_original_url")),
            download_acta_url=_text(data.get("download_acta_url")),
        )

    # -- downloads -----------------------------------------------------------

    def download(
        self,
        url: str,
        fileobj: IO[bytes],
        *,
        max_bytes: int = MAX_DOWNLOAD_BYTES,
        chunk_size: int = 64 * 1024,
    ) -> DownloadedFile:
        """Stream a file the API pointed to (``pdf_download_url``, ``download_acta_url`` …) into ``fileobj``.

        Only URLs on the API's own scheme and host are fetched: the Bearer token
        is never sent anywhere else. Assumption (not documented): the download
        URLs accept the same Bearer token as the API. The content is not judged
        here; :func:`~airflow_provider_mensatek.certificates.checks.check_pdf`
        does that before anything is archived.
        """
        parts = urlsplit(url if isinstance(url, str) else "")
        base = urlsplit(self.base_url)
        if (parts.scheme, parts.netloc) != (base.scheme, base.netloc) or not parts.path:
            raise _invalid(f"Refusing to download {url!r}: only URLs on {base.scheme}://{base.netloc} get the "
                           "API token", "download")
        with self.transport.first_use():
            return self._download(url, parts.path, parts.query, fileobj, max_bytes=max_bytes,
                                  chunk_size=chunk_size)

    def _download(self, url: str, path: str, query: str, fileobj: IO[bytes], *, max_bytes: int,
                  chunk_size: int) -> DownloadedFile:
        response = self._files.request("GET", path, function="download", kind=SAFE,
                                       params=dict(parse_qsl(query, keep_blank_values=True)) or None,
                                       stream=True)
        with response:
            content_type = response.headers.get("Content-Type")
            if response.status_code >= 400 or "json" in (content_type or "").lower():
                self._files.read_answer(response, function="download")
                self._check("download", response)
                raise CertificateError(f"Expected a file, got a JSON answer from {path}", vendor=VENDOR,
                                       function="download", code="not-a-file")
            written = 0
            for chunk in self._files.iter_content(response, function="download", chunk_size=chunk_size):
                written += len(chunk)
                if written > max_bytes:
                    raise CertificateError(f"{path} exceeds {max_bytes} bytes; refused", vendor=VENDOR,
                                           function="download", code="too-large")
                fileobj.write(chunk)
        return DownloadedFile(url=url, bytes_written=written, content_type=content_type)

    # -- certified SMS -------------------------------------------------------

    def build_sms_body(self, phone: str, message: str) -> dict[str, Any]:
        number = check_phone(phone)
        text = require_text(message, "message", vendor=VENDOR)
        if len(text) > MAX_SMS_CHARS:
            raise _invalid(f"The SMS is {len(text)} characters; a certified SMS holds at most {MAX_SMS_CHARS}")
        return {"phone": number, "message": text}

    def send_certified_sms(self, phone: str, message: str) -> SmsSendResult:
        """``POST /sms/send``: one certified SMS (up to 300 characters, 1 credit)."""
        body = self.build_sms_body(phone, message)
        answer = self.call("POST", "sms/send", kind=SEND, json=body,
                           look_for=f"a certified SMS to {body['phone']}")
        # Documented flat; accept a "data" wrapper too, like the other sends.
        wrapped = answer.get("data")
        data: Mapping[str, Any] = wrapped if isinstance(wrapped, Mapping) else answer
        uuid = _text(data.get("uuid"))
        if not uuid:
            raise self._accepted_but_unreadable("sms/send", "the answer has no uuid",
                                                f"a certified SMS to {body['phone']}")
        return SmsSendResult(uuid=uuid, status=_text(data.get("status")),
                             credits_deducted=as_int(data.get("credits_deducted")),
                             message=_text(answer.get("message")), phone=body["phone"])

    def get_sms(self, uuid: str) -> SmsStatus:
        """``GET /sms?uuid=``: delivery and certification of a certified SMS."""
        uid = check_identifier(uuid, "uuid")
        answer = self.call("GET", "sms", params={"uuid": uid})
        data = answer.get("data") or {}
        return SmsStatus(
            uuid=str(data.get("uuid") or uid), recipient=_text(data.get("recipient")),
            message=_text(data.get("message")), status=_text(data.get("status")),
            credits=as_int(data.get("credits")), sent_at=_text(data.get("sent_at")),
            delivered_at=_text(data.get("delivered_at")), failed_at=_text(data.get("failed_at")),
            ts_confirmed_at=_text(data.get("ts_confirmed_at")),
            download_certificate_url=_text(data.get("download_certificate_url")),
        )


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


def _signature_summary(s: Mapping[str, Any]) -> SignatureSummary:
    return SignatureSummary(
        uuid=str(s.get("uuid", "")), signer_name=_text(s.get("signer_name")),
        signer_email=_text(s.get("signer_email")), document_name=_text(s.get("document_name")),
        status=_text(s.get("status")), created_at=_text(s.get("created_at")), signed_at=_text(s.get("signed_at")),
    )
