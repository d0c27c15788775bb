"""Mensatek Certified Email: send, cancel, reschedule, report, and the certificate download."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from airflow_provider_mensatek.clients._http.extra_params import merge_extra_params
from airflow_provider_mensatek.clients._http.transport import (
    SAFE,
    SEND,
)
from airflow_provider_mensatek.clients._wire import _Jsonable, as_float, as_int, decode_json_array
from airflow_provider_mensatek.clients.errors import (
    AlreadyCancelledError,
    AlreadySentError,
    CertificateError,
    InvalidDateError,
    MensatekError,
    ValidationError,
)
from airflow_provider_mensatek.clients.mensatek._core import CancelResult, MensatekCore, RescheduleResult
from airflow_provider_mensatek.clients.mensatek.wire import (
    FUNCTIONS,
    MAX_ATTACHMENT_BYTES,
    MAX_NAME_LEN,
    parse_mensatek_body,
)
from airflow_provider_mensatek.clients.send_at import vendor_send_at
from airflow_provider_mensatek.clients.validation import (
    PLACEHOLDER_RE,
    as_list,
    check_email,
    check_flag,
    check_int_range,
    check_message_id,
    load_attachment,
    require_text,
    vendor_datetime,
)

log = logging.getLogger("airflow_provider_mensatek.clients.mensatek")


MAX_ACCEPTANCE_DAYS = 30
_ZIP_MAGIC = b"PK\x03\x04"
_EMPTY_ZIP_MAGIC = b"PK\x05\x06"

#: Certified-email states in which a message is still waiting for its date.
SCHEDULED_CODES = frozenset({1})


@dataclass(frozen=True)
class RecipientResult(_Jsonable):
    email: str
    name: str | None
    message_id: int | None

    @property
    def sent(self) -> bool:
        return self.message_id is not None


@dataclass(frozen=True)
class CertifiedEmailSendResult(_Jsonable):
    """What the vendor accepted. ``message_ids`` is one id per accepted recipient."""

    recipients: list[RecipientResult]
    sent: int
    not_sent: int
    duplicates: int
    credits_used: float | None
    credits_left: float | None
    reference: str | None
    send_at: str | None
    message_ids: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class CertifiedEmailReport(_Jsonable):
    message_id: int
    status_code: int | None
    status_text: str | None
    sender: str | None
    recipient: str | None
    scheduled_for: str | None
    credits_left: float | None


@dataclass(frozen=True)
class DownloadResult(_Jsonable):
    message_id: int
    bytes_written: int
    content_type: str | None


class CertifiedEmailApi(MensatekCore):
    """EnviarEMAILCERTIFICADO and its cancel, reschedule, report and certificate functions."""

    def send_certified_email(
        self,
        sender: str,
        recipients: Any,
        subject: str,
        message: str,
        *,
        send_at: Any = None,
        require_acceptance: bool = False,
        acceptance_days: int | None = None,
        attachments: Sequence[Any] | None = None,
        reference: str | None = None,
        report: bool | None = None,
        extra_params: Mapping[str, Any] | None = None,
    ) -> CertifiedEmailSendResult:
        """Send (or schedule) a certified email. Never retried once it may have arrived.

        Recipients are email strings or dicts with the vendor's keys (``Nombre``,
        ``Email``, ``Variable_1`` …, the advanced protection options) or the
        English aliases ``name`` / ``email``; a ``variables`` dict is merged in.
        Every ``{{Placeholder}}`` in the subject and message must be defined for
        every recipient (``Nombre`` and ``Email`` count when given).
        """
        params = self.build_certified_email_params(
            sender, recipients, subject, message, send_at=send_at,
            require_acceptance=require_acceptance, acceptance_days=acceptance_days,
            attachments=attachments, reference=reference, report=report, extra_params=extra_params,
        )
        record = self.call("send_certified_email", params, kind=SEND, reference=reference)
        sent_list = decode_json_array(record.get("destinatarios"))
        results: list[RecipientResult] = []
        for item in sent_list:
            results.append(
                RecipientResult(
                    email=str(item.get("email", "")),
                    name=item.get("nombre"),
                    message_id=as_int(item.get("idmensaje")),
                )
            )
        return CertifiedEmailSendResult(
            recipients=results,
            sent=as_int(record.get("enviados"), as_int(record.get("res"), 0)) or 0,
            not_sent=as_int(record.get("noenviados"), 0) or 0,
            duplicates=as_int(record.get("duplicados"), 0) or 0,
            credits_used=as_float(record.get("creditosusados")),
            credits_left=as_float(record.get("cred")),
            reference=reference,
            send_at=params.get("Fecha"),
            message_ids=[r.message_id for r in results if r.message_id is not None],
        )

    def build_certified_email_params(
        self,
        sender: str,
        recipients: Any,
        subject: str,
        message: str,
        *,
        send_at: Any = None,
        require_acceptance: bool = False,
        acceptance_days: int | None = None,
        attachments: Sequence[Any] | None = None,
        reference: str | None = None,
        report: bool | None = None,
        extra_params: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Validate everything and build the vendor parameters (no HTTP). Raises ValidationError."""
        fn = FUNCTIONS["send_certified_email"]
        sender = check_email(sender, what="sender")
        subject = require_text(subject, "subject")
        message = require_text(message, "message")
        vendor_recipients = [normalise_certified_recipient(r, i) for i, r in
                             enumerate(as_list(recipients, "recipients"))]
        check_placeholders(subject, message, vendor_recipients)
        params: dict[str, Any] = {
            "Remitente": sender,
            "Destinatarios": json.dumps(vendor_recipients, ensure_ascii=False),
            "Asunto": subject,
            "Mensaje": message,
        }
        if (when := vendor_send_at(send_at)) is not None:
            params["Fecha"] = when
        if not isinstance(require_acceptance, bool):
            raise ValidationError(f"require_acceptance must be True or False, got {require_acceptance!r}")
        if require_acceptance:
            if acceptance_days is None:
                raise ValidationError("acceptance_days (1-30) is required when require_acceptance is True")
            params["Aceptacion"] = "SI"
            params["Caducidadaceptacion"] = check_int_range(acceptance_days, "acceptance_days", 1,
                                                            MAX_ACCEPTANCE_DAYS)
        elif acceptance_days is not None:
            raise ValidationError("acceptance_days only applies with require_acceptance=True")
        if attachments:
            files = [load_attachment(a, max_name_len=MAX_NAME_LEN, max_bytes=MAX_ATTACHMENT_BYTES,
                                     allowed_roots=self.allowed_roots)
                     for a in as_list(attachments, "attachments")]
            # The document's attachment example is lost; Nombre + base64 Contenido
            # follows the vendor's own naming in CargarFichero.
            params["Adjuntos"] = json.dumps([{"Nombre": f.name, "Contenido": f.base64} for f in files])
        if reference is not None:
            params["Referenciausuario"] = require_text(str(reference), "reference", max_len=100)
        if report is not None:
            params["Report"] = check_flag(report, "report")
        merge_extra_params(params, extra_params, fn)
        return params

    def cancel_certified_email(self, message_id: int) -> CancelResult:
        """Cancel a scheduled certified email. "Already cancelled" counts as done (safe to retry)."""
        return self._cancel("cancel_certified_email", message_id, "Certified email")

    def reschedule_certified_email(self, message_id: int, send_at: Any) -> RescheduleResult:
        """Move a scheduled certified email to a new (future) date.

        If the vendor refuses but the message is already scheduled for exactly
        that date (a retried call whose first attempt went through), it counts
        as done.
        """
        mid = check_message_id(message_id)
        when = vendor_datetime(send_at, what="send_at")
        try:
            record = self.call("reschedule_certified_email", {"Idmensaje": mid, "Fecha": when})
        except (AlreadySentError, InvalidDateError, AlreadyCancelledError):
            report = self.get_certified_email_report(mid)
            if (report.scheduled_for or "")[:16] == when and report.status_code in SCHEDULED_CODES:
                log.info("Certified email %s is already scheduled for %s; nothing to do", mid, when)
                return RescheduleResult(message_id=mid, send_at=when, rescheduled=0,
                                        credits_left=report.credits_left)
            raise
        return RescheduleResult(message_id=mid, send_at=when, rescheduled=as_int(record.get("res"), 0) or 0,
                                credits_left=as_float(record.get("cred")))

    def get_certified_email_report(self, message_id: int) -> CertifiedEmailReport:
        """Status of one certified email. The vendor treats tight polling loops as an attack:
        prefer webhooks, and poll through the provider's sensors, which pace themselves."""
        mid = check_message_id(message_id)
        record = self.call("get_certified_email_report", {"Idmensaje": mid})
        return CertifiedEmailReport(
            message_id=mid,
            status_code=as_int(record.get("estado")),
            status_text=record.get("txtestado"),
            sender=record.get("remitente"),
            recipient=record.get("destinatario"),
            scheduled_for=record.get("programado"),
            credits_left=as_float(record.get("cred")),
        )

    def download_certified_email_certificates(
        self,
        message_id: int,
        fileobj: IO[bytes],
        *,
        max_bytes: int = 512 * 1024 * 1024,
        chunk_size: int = 64 * 1024,
    ) -> DownloadResult:
        """Stream the certificate ZIP (PDFs + CSV) into ``fileobj``; memory stays flat.

        The answer is sniffed before anything is written: a JSON or plain-text
        error body raises the mapped error (``Res:-5`` ->
        :class:`CertificateNotReadyError`, ask again later), never lands as a
        ".zip".
        """
        mid = check_message_id(message_id)
        function = FUNCTIONS["download_certified_email_certificates"]
        with self.transport.first_use():
            return self._download(function, mid, fileobj, max_bytes=max_bytes, chunk_size=chunk_size)

    def _download(self, function: str, mid: int, fileobj: IO[bytes], *, max_bytes: int,
                  chunk_size: int) -> DownloadResult:
        response = self.transport.request(
            "POST", function, function=function, kind=SAFE, json={"Idmensaje": mid, "Resp": "JSON"},
            stream=True,
        )
        with response:
            if response.status_code >= 400:
                raise MensatekError(f"Unexpected HTTP {response.status_code}", function=function,
                                    code=response.status_code)
            chunks = self.transport.iter_content(response, function=function, chunk_size=chunk_size)
            head = b""
            for chunk in chunks:
                head += chunk
                if len(head) >= 4:
                    break
            if not head.startswith((_ZIP_MAGIC, _EMPTY_ZIP_MAGIC)):
                rest = head + b"".join(_take(chunks, 64 * 1024 - len(head)))
                text = rest.decode("utf-8", errors="replace")
                try:
                    record = self.transport.redact_answer(parse_mensatek_body(text))
                except ValueError:
                    raise CertificateError(
                        f"Expected a ZIP archive, got {response.headers.get('Content-Type')!r}: "
                        f"{self.transport.redact(text)[:120]!r}", function=function, code="not-zip",
                    ) from None
                if as_int(record.get("res")) is None:
                    # Not the vendor's Res shape (a gateway or another API answered):
                    # still a body instead of an archive, never a retryable parse error.
                    raise CertificateError(
                        f"Expected a ZIP archive, got a JSON error body: {self.transport.redact(text)[:200]!r}",
                        function=function, code="error-body",
                    )
                self._raise_for_res(function, record)
                raise CertificateError("Expected a ZIP archive, got a JSON answer without an error",
                                       function=function, code="not-zip")
            written = 0
            for chunk in _chain_first(head, chunks):
                written += len(chunk)
                if written > max_bytes:
                    raise CertificateError(f"Certificate archive exceeds {max_bytes} bytes; refused",
                                           function=function, code="too-large")
                fileobj.write(chunk)
        return DownloadResult(message_id=mid, bytes_written=written,
                              content_type=response.headers.get("Content-Type"))


def normalise_certified_recipient(item: Any, index: int) -> dict[str, Any]:
    """One recipient in the vendor's shape: ``{"Nombre", "Email", "Variable_1", …}``."""
    if isinstance(item, str):
        return {"Email": check_email(item, what=f"recipient #{index + 1} email")}
    if not isinstance(item, Mapping):
        raise ValidationError(f"recipient #{index + 1} must be an email string or a dict, got "
                              f"{type(item).__name__}")
    out: dict[str, Any] = {}
    for key, value in item.items():
        k = str(key)
        lowered = k.lower()
        if lowered in ("name", "nombre"):
            out["Nombre"] = value
        elif lowered == "email":
            out["Email"] = value
        elif lowered == "variables":
            if not isinstance(value, Mapping):
                raise ValidationError(f"recipient #{index + 1}: 'variables' must be a dict")
            out.update({str(vk): vv for vk, vv in value.items()})
        else:
            out[k] = value
    out["Email"] = check_email(out.get("Email"), what=f"recipient #{index + 1} email")
    name = out.get("Nombre")
    if name is not None:
        if not isinstance(name, str) or not name.strip():
            raise ValidationError(f"recipient #{index + 1}: name must be a non-empty string")
        if len(name) > MAX_NAME_LEN:
            raise ValidationError(
                f"recipient #{index + 1}: name {name!r} is {len(name)} characters; Mensatek accepts at "
                f"most {MAX_NAME_LEN}"
            )
    for key, value in out.items():
        if not isinstance(value, str | int | float | bool):
            raise ValidationError(f"recipient #{index + 1}: {key} must be text or a number, got "
                                  f"{type(value).__name__}")
    return out


def check_placeholders(subject: str, message: str, recipients: Sequence[Mapping[str, Any]]) -> None:
    """Every ``{{Name}}`` in subject/message must be defined for every recipient."""
    used = set(PLACEHOLDER_RE.findall(subject)) | set(PLACEHOLDER_RE.findall(message))
    if not used:
        return
    problems = []
    for i, rec in enumerate(recipients):
        if all(p in rec for p in used):  # the usual case, spelled as written: no lower-casing needed
            continue
        keys = {k.lower() for k in rec}
        missing = sorted(p for p in used if p.lower() not in keys)
        if missing:
            problems.append(f"recipient #{i + 1} ({rec.get('Email')}) lacks {', '.join(missing)}")
    if problems:
        raise ValidationError(
            "Placeholders in the subject/message are not defined for every recipient: "
            + "; ".join(problems[:10]) + (f" (+{len(problems) - 10} more)" if len(problems) > 10 else "")
        )


def _take(chunks: Any, limit: int) -> list[bytes]:
    out: list[bytes] = []
    size = 0
    for chunk in chunks:
        out.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    return out


def _chain_first(first: bytes, rest: Any) -> Any:
    yield first
    yield from rest
