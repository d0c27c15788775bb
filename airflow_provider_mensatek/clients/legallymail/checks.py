"""LegallyMail's limits and the local checks every input passes before a request is made."""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_mensatek.clients._local_files import read_source
from airflow_provider_mensatek.clients._wire import _Jsonable
from airflow_provider_mensatek.clients.errors import (
    ValidationError,
)
from airflow_provider_mensatek.clients.sms_encoding import normalise_phone
from airflow_provider_mensatek.clients.validation import (
    Attachment,
    as_list,
    check_email,
    load_attachment,
    require_text,
)

VENDOR = "legallymail"
DEFAULT_BASE_URL = "https://legallymail.com/api"

#: LegallyMail's documented limit (requests per minute, per IP).
LEGALLYMAIL_REQUESTS_PER_MINUTE = 10
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


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _bool(value: Any) -> bool | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "si", "sí")
    return bool(value)


@dataclass(frozen=True)
class Signer(_Jsonable):
    """A person asked to sign. ``phone`` (with country code) enables the vendor's SMS check."""

    name: str
    email: str
    phone: str | None = None


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
