"""MensatekClient: one method per Mensatek API v7 function, typed results.

Vendor quirks handled here and nowhere else:

* every function is ``POST {base}/{Function}``; parameters travel in a JSON
  body (``Resp=JSON`` always in the body, never the query string), arrays as
  JSON-encoded strings exactly as the vendor samples show;
* answers are a JSON array wrapping one object, numbers as strings, key case
  varying between functions (``IDMENSAJE`` / ``idMensaje``, ``CRED`` /
  ``Cred``): :func:`parse_mensatek_body` normalises them;
* failures come back as HTTP 200 with a negative ``Res`` whose meaning depends
  on the function (``-5`` is "sender not validated" on a send, "already
  cancelled" on a cancel, "certificate not ready" on a download): codes are
  mapped per function in :data:`RES_ERRORS`.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import IO, TYPE_CHECKING, Any

import requests

from airflow_provider_mensatek.clients._http.credentials import BasicAuth
from airflow_provider_mensatek.clients._http.extra_params import merge_extra_params
from airflow_provider_mensatek.clients._http.limits import DEFAULT_MAX_RESPONSE_BYTES
from airflow_provider_mensatek.clients._http.transport import (
    SAFE,
    SEND,
    RetrySettings,
    Timeouts,
    Transport,
    TransportClient,
    ambiguous_send_text,
    credential_key,
    resolve_base_url,
)
from airflow_provider_mensatek.clients._local_files import LocalFileAccess
from airflow_provider_mensatek.clients.errors import (
    AlreadyCancelledError,
    AlreadySentError,
    AmbiguousSendError,
    AuthenticationError,
    CertificateError,
    CertificateNotReadyError,
    FileStorageFullError,
    FileTooLargeError,
    FileUploadFailedError,
    ForbiddenError,
    InsufficientCreditsError,
    InvalidDateError,
    InvalidRequestError,
    MensatekError,
    NotFoundError,
    SenderNotValidatedError,
    UnsupportedFileTypeError,
    ValidationError,
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

if TYPE_CHECKING:
    from airflow_provider_mensatek.clients.mensatek_campaigns import CampaignSendResult, RcsTemplate
    from airflow_provider_mensatek.clients.mensatek_sms import (
        DeleteFileResult,
        LibraryFile,
        SmsReport,
        SmsSendResult,
        UploadResult,
    )
    from airflow_provider_mensatek.clients.sms_encoding import SmsCostEstimate

log = logging.getLogger("airflow_provider_mensatek.clients.mensatek")

DEFAULT_BASE_URL = "https://api.mensatek.com/v7"

#: Our method -> the vendor's v7 function name. A vendor rename is one line here.
FUNCTIONS: dict[str, str] = {
    "send_certified_email": "EnviarEMAILCERTIFICADO",
    "cancel_certified_email": "CancelarEMAILCERTIFICADO",
    "reschedule_certified_email": "ReprogramarEMAILCERTIFICADO",
    "get_certified_email_report": "GetReportEMAILCERTIFICADO",
    "download_certified_email_certificates": "GetCertificadoEMAILCERTIFICADO",
    "get_credits": "GetCreditos",
    "send_sms": "EnviarSMS",
    "cancel_sms": "CancelarSMS",
    "reschedule_sms": "ReprogramarSMS",
    "get_sms_report": "GetReportSMS",
    "upload_file": "CargarFichero",
    "list_files": "ListarFicheros",
    "delete_file": "BorrarFichero",
    "get_sms_templates": "GetPlantillasSMS",
    "send_email": "EnviarEMAIL",
    "send_rcs": "EnviarRCS",
    # The RCS document lost the names of its two template functions; these follow
    # the vendor's pattern (GetPlantillasSMS) and are one line to fix.
    "get_rcs_templates": "GetPlantillasRCS",
    "get_rcs_template_variables": "GetVariablesPlantillaRCS",
}

_AUTH = (AuthenticationError, "Authentication error: check the API user and token")
_INVALID = (InvalidRequestError, "Error in the call data")

#: ``Res`` codes per function. The certified-email document does not list the
#: cancel / reschedule codes; they are taken from the SMS document's identical
#: functions (CancelarSMS / ReprogramarSMS), the closest contract we have.
RES_ERRORS: dict[str, dict[int, tuple[type[MensatekError], str]]] = {
    "EnviarEMAILCERTIFICADO": {
        -1: _AUTH,
        -2: (InsufficientCreditsError, "Not enough credits"),
        -3: _INVALID,
        -5: (SenderNotValidatedError, "The sender has not been validated in the Mensatek panel"),
    },
    "CancelarEMAILCERTIFICADO": {
        -1: _AUTH,
        -2: (NotFoundError, "Unknown message id (or it belongs to another account)"),
        -3: _INVALID,
        -4: (AlreadySentError, "The message has already been sent and cannot be cancelled"),
        -5: (AlreadyCancelledError, "The message has already been cancelled"),
    },
    "ReprogramarEMAILCERTIFICADO": {
        -1: _AUTH,
        -2: (NotFoundError, "Unknown message id (or it belongs to another account)"),
        -3: _INVALID,
        -4: (AlreadySentError, "The message has already been sent and cannot be rescheduled"),
        -5: (AlreadyCancelledError, "The message is cancelled and cannot be rescheduled"),
        -6: (InvalidDateError, "The new date is not correct"),
        -7: (InvalidDateError, "The new date has already passed"),
    },
    "GetReportEMAILCERTIFICADO": {
        -1: _AUTH,
        -2: (NotFoundError, "No permission to query this message"),
        -3: _INVALID,
        -4: (NotFoundError, "No permission to query this message"),
    },
    "GetCertificadoEMAILCERTIFICADO": {
        -1: _AUTH,
        -2: (NotFoundError, "No permission to download this certificate"),
        -3: _INVALID,
        -4: (NotFoundError, "No certificate for this message"),
        -5: (CertificateNotReadyError, "The certificate is not generated yet; ask again later"),
    },
    "GetCreditos": {-1: _AUTH},
}

_SEND_ERRORS: dict[int, tuple[type[MensatekError], str]] = {
    -1: _AUTH,
    -2: (InsufficientCreditsError, "Not enough credits"),
    -3: _INVALID,
}
#: The file library codes, listed identically for CargarFichero and ListarFicheros.
_FILE_ERRORS: dict[int, tuple[type[MensatekError], str]] = {
    -1: _AUTH,
    -3: _INVALID,
    -10: (FileStorageFullError, "File storage capacity exceeded; delete files or ask support for more"),
    -11: (UnsupportedFileTypeError, "File format not supported (PDF, Excel, Word and VCF only)"),
    -12: (InvalidRequestError, "BASE64 upload without content"),
    -13: (InvalidRequestError, "FILES upload whose file did not arrive"),
    -15: (InvalidRequestError, "Tipo must be FILES or BASE64"),
    -16: (FileTooLargeError, "File too large for the library"),
    -17: (FileUploadFailedError, "The vendor failed to store the file"),
    -18: (ForbiddenError, "Trial accounts cannot upload files; contact support"),
}
# The SMS document is the complete one; the Email and RCS documents lost their Res
# tables, so their sends use the codes every Mensatek send documents (-1, -2, -3).
RES_ERRORS.update({
    "EnviarSMS": _SEND_ERRORS,
    "CancelarSMS": RES_ERRORS["CancelarEMAILCERTIFICADO"],
    "ReprogramarSMS": RES_ERRORS["ReprogramarEMAILCERTIFICADO"],
    "GetReportSMS": RES_ERRORS["GetReportEMAILCERTIFICADO"],
    "CargarFichero": _FILE_ERRORS,
    "ListarFicheros": _FILE_ERRORS,
    "BorrarFichero": {-1: _AUTH, -2: (NotFoundError, "The file does not exist"), -3: _INVALID},
    "GetPlantillasSMS": {-1: _AUTH, -3: _INVALID},
    "EnviarEMAIL": _SEND_ERRORS,
    "EnviarRCS": _SEND_ERRORS,
    "GetPlantillasRCS": {-1: _AUTH, -3: _INVALID},
    "GetVariablesPlantillaRCS": {-1: _AUTH, -3: _INVALID},
})

#: Vendor limits we enforce locally (the vendor's own -3 texts, DESIGN.md).
MAX_NAME_LEN = 19  # "Nombre must be under 20 characters"
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024  # assumption: not documented; keeps requests sane
MAX_ACCEPTANCE_DAYS = 30

RES_TEXT_RE = re.compile(r"^\s*Res\s*[:=]\s*(-?\d+)", re.IGNORECASE)
_ZIP_MAGIC = b"PK\x03\x04"
_EMPTY_ZIP_MAGIC = b"PK\x05\x06"


# -- response normalisation ---------------------------------------------------


def parse_mensatek_body(text: str) -> dict[str, Any]:
    """The vendor's answer as one dict with lower-cased keys.

    Accepts the documented ``[{...}]``, a bare ``{...}``, and the plain-text
    ``Res:-5`` some functions answer with. Values stay as sent (strings); use
    :func:`as_int` / :func:`as_float` on the fields you need.
    """
    stripped = text.strip()
    data: Any
    try:
        data = json.loads(stripped)
    except ValueError:
        match = RES_TEXT_RE.match(stripped)
        if match:
            return {"res": match.group(1)}
        raise
    if isinstance(data, list):
        data = data[0] if data else {}
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    return {str(k).lower(): v for k, v in data.items()}


def as_int(value: Any, default: int | None = None) -> int | None:
    if value is None or value == "":
        return default
    try:
        return int(float(value)) if isinstance(value, str) and "." in value else int(value)
    except (TypeError, ValueError):
        return default


def as_float(value: Any, default: float | None = None) -> float | None:
    if value is None or value == "":
        return default
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def decode_json_array(value: Any) -> list[dict[str, Any]]:
    """Arrays inside answers arrive JSON-encoded in a string (or, sometimes, as real arrays)."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return []
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        return []
    return [{str(k).lower(): v for k, v in item.items()} for item in value if isinstance(item, dict)]


# -- typed results -------------------------------------------------------------


class _Jsonable:
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]


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
class CancelResult(_Jsonable):
    message_id: int
    cancelled: int
    already_cancelled: bool
    credits_left: float | None
    credits_recovered: float | None


@dataclass(frozen=True)
class RescheduleResult(_Jsonable):
    message_id: int
    send_at: str
    rescheduled: int
    credits_left: float | None


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


# -- the client ----------------------------------------------------------------


class MensatekClient(TransportClient, LocalFileAccess):
    """Airflow-free client for the Mensatek API v7 (HTTP Basic: API user + API token).

    ``allowed_roots``: the local folders attachments and library uploads may be
    read from (none by default: local paths are refused until you name them).
    """

    vendor = "mensatek"

    def __init__(
        self,
        api_user: str,
        api_token: str,
        *,
        base_url: str | None = None,
        timeouts: Timeouts | None = None,
        retry: RetrySettings | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        sleep: Callable[[float], None] | None = None,
        session: requests.Session | None = None,
        allowed_roots: Iterable[str | os.PathLike[str]] | None = None,
    ) -> None:
        self.allowed_roots = allowed_roots
        if not api_user or not api_token:
            raise ValidationError("Mensatek needs both the API user (login) and the API token (password)")
        self.api_user = api_user
        self.base_url = resolve_base_url(base_url, default=DEFAULT_BASE_URL)
        kwargs: dict[str, Any] = {}
        if sleep is not None:
            kwargs["sleep"] = sleep
        self.transport = Transport(
            vendor=self.vendor,
            base_url=self.base_url,
            auth=BasicAuth(api_user, api_token),
            secret=api_token,
            user=api_user,
            credential_id=credential_key(self.vendor, self.base_url, api_user, api_token),
            timeouts=timeouts,
            retry=retry,
            max_response_bytes=max_response_bytes,
            session=session,
            **kwargs,
        )

    def __repr__(self) -> str:
        return f"MensatekClient(api_user={self.api_user!r}, base_url={self.base_url!r})"

    # -- plumbing ------------------------------------------------------------

    def call(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        kind: str = SAFE,
        reference: str | None = None,
    ) -> dict[str, Any]:
        """POST one function and return its normalised answer; negative ``Res`` raises.

        ``method`` is a key of :data:`FUNCTIONS` (our name), so every call site
        goes through the one table of vendor names.
        """
        function = FUNCTIONS[method]
        body = {**(params or {}), "Resp": "JSON"}
        try:
            # Mensatek refuses a credential inside a 200 answer (Res -1): the gate spans the reading too.
            with self.transport.first_use():
                response = self.transport.request(
                    "POST", function, function=function, kind=kind, json=body, reference=reference
                )
                return self._check(function, response)
        except MensatekError as exc:
            if kind == SEND and exc.code == "parse":
                # The request arrived and was answered; what it did is unknown.
                raise AmbiguousSendError(
                    ambiguous_send_text(f"its answer could not be read ({exc.message})", reference),
                    function=function, code="parse", reference=reference,
                ) from None
            raise

    def _check(self, function: str, response: requests.Response) -> dict[str, Any]:
        text = response.text
        if response.status_code >= 400:
            # 401, 429 and 5xx are the transport's; any other 4xx is a refusal of the request.
            raise InvalidRequestError(
                f"The vendor refused the request (HTTP {response.status_code}): "
                f"{self.transport.redact(text)[:200]}",
                function=function, code=response.status_code,
            )
        try:
            record = parse_mensatek_body(text)
        except ValueError:
            raise MensatekError(
                f"Unreadable answer (not JSON): {self.transport.redact(text)[:200]!r}", function=function,
                code="parse",
            ) from None
        # An accepted answer may echo the credential too, and what the client returns reaches XCom.
        record = self.transport.redact_answer(record)
        self._raise_for_res(function, record)
        return record

    def _raise_for_res(self, function: str, record: Mapping[str, Any]) -> None:
        res = as_int(record.get("res"))
        if res is None:
            raise MensatekError("Answer without a Res field", function=function, code="parse")
        if res >= 0:
            return
        # A negative Res is the vendor refusing the call, documented or not.
        error_class, text = RES_ERRORS.get(function, {}).get(
            res, (InvalidRequestError, "Undocumented error code")
        )
        vendor_text = record.get("error")
        message = f"{text}: {vendor_text}" if vendor_text else text
        error = error_class(self.transport.redact(message), function=function, code=res,
                            details={k: v for k, v in record.items() if k != "error"})
        if isinstance(error, AuthenticationError):
            self.transport.remember_auth_failure(error)
        raise error

    # -- certified email -----------------------------------------------------

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

    def _cancel(self, method: str, message_id: int, what: str) -> CancelResult:
        """Shared by the channels whose cancel functions answer alike (CancelarSMS's documented codes)."""
        mid = check_message_id(message_id)
        try:
            record = self.call(method, {"Idmensaje": mid})
        except AlreadyCancelledError as exc:
            log.info("%s %s was already cancelled; nothing to do", what, mid)
            return CancelResult(message_id=mid, cancelled=0, already_cancelled=True,
                                credits_left=as_float(exc.details.get("cred")), credits_recovered=None)
        return CancelResult(
            message_id=as_int(record.get("idmensaje"), mid) or mid,
            cancelled=as_int(record.get("res"), 0) or 0,
            already_cancelled=False,
            credits_left=as_float(record.get("cred")),
            credits_recovered=as_float(record.get("credr")),
        )

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

    # -- SMS, file library, email, RCS ----------------------------------------
    # The vendor shapes live in mensatek_sms / mensatek_campaigns, which build on
    # this module's helpers; they are imported where used to keep imports acyclic.

    def send_sms(
        self,
        sender: str | None,
        recipients: Any,
        message: str,
        *,
        send_at: Any = None,
        reference: str | None = None,
        report: bool | None = None,
        group_with: int | None = None,
        fail2voice: bool = False,
        voice_language: str | None = None,
        voice_sender: str | None = None,
        unicode: bool | None = None,
        ignore_blacklist: bool = False,
        fix_utf8: bool = False,
        max_segments: int | None = None,
        extra_params: Mapping[str, Any] | None = None,
        default_country_code: str | None = None,
    ) -> SmsSendResult:
        """Send (or schedule) an SMS to one or many numbers (EnviarSMS). Never retried once it may
        have arrived.

        ``recipients``: numbers, or dicts with ``Movil`` and ``Variable_1`` …
        ``Variable_10`` (or ``variables``: a list of up to ten values), which
        fill ``{{Variable_1}}`` … in the message; every one used must be given
        for every recipient, and the cost is counted per recipient's text.
        ``group_with`` (Idmensaje) adds this send to an earlier message id;
        ``fail2voice`` with ``voice_language`` / ``voice_sender`` calls numbers
        that cannot get an SMS; ``unicode=None`` picks Unicode only when a
        character needs it; ``ignore_blacklist`` (Obviarlistanegra) and
        ``fix_utf8`` (Fixutf8) map one to one; ``max_segments`` refuses a text
        that would cost more SMS parts per recipient. ``sender`` None or blank
        sends from the account's default sender (the document's blank
        ``Remitente``). Numbers need their country code (``+34600000001`` or,
        as the document writes them, ``34600000001``); with
        ``default_country_code="34"`` a national ``600000001`` is read as Spanish.
        """
        from airflow_provider_mensatek.clients import mensatek_sms

        params, analysis, total_segments = mensatek_sms.build_sms_params(
            sender, recipients, message, send_at=send_at, reference=reference, report=report,
            group_with=group_with, fail2voice=fail2voice, voice_language=voice_language,
            voice_sender=voice_sender, unicode=unicode, ignore_blacklist=ignore_blacklist, fix_utf8=fix_utf8,
            max_segments=max_segments, extra_params=extra_params, default_country_code=default_country_code,
        )
        log.info("EnviarSMS: %d SMS part(s) in all; costliest recipient: %s", total_segments,
                 analysis.describe())
        record = self.call("send_sms", params, kind=SEND, reference=reference)
        return mensatek_sms.parse_sms_send(record, params, analysis, total_segments, reference)

    @staticmethod
    def estimate_sms(message: str, recipients: Any, *, unicode: bool | None = None,
                     credits_per_segment: float = 1.0, default_country_code: str | None = None) -> SmsCostEstimate:
        """Encoding, SMS parts and credits of a campaign, computed locally (no HTTP).

        ``recipients`` is a count, or the recipients themselves so that each
        one's ``{{Variable_N}}`` values are counted.
        """
        from airflow_provider_mensatek.clients import mensatek_sms

        return mensatek_sms.estimate_campaign(message, recipients, unicode=unicode,
                                              credits_per_segment=credits_per_segment,
                                              default_country_code=default_country_code)

    def cancel_sms(self, message_id: int) -> CancelResult:
        """Cancel a scheduled SMS; credits come back. "Already cancelled" counts as done (safe to retry)."""
        return self._cancel("cancel_sms", message_id, "SMS")

    def reschedule_sms(self, message_id: int, send_at: Any) -> RescheduleResult:
        """Move a scheduled SMS to a new (future) date (ReprogramarSMS)."""
        mid = check_message_id(message_id)
        when = vendor_datetime(send_at, what="send_at")
        record = self.call("reschedule_sms", {"Idmensaje": mid, "Fecha": when})
        return RescheduleResult(message_id=mid, send_at=when, rescheduled=as_int(record.get("res"), 0) or 0,
                                credits_left=as_float(record.get("cred")))

    def get_sms_report(self, message_id: int) -> SmsReport:
        """Per-recipient status of an SMS send (GetReportSMS). Prefer webhooks; poll politely."""
        from airflow_provider_mensatek.clients import mensatek_sms

        mid = check_message_id(message_id)
        return mensatek_sms.parse_sms_report(self.call("get_sms_report", {"Idmensaje": mid}), mid)

    def upload_file(self, source: Any, *, name: str | None = None, mode: str = "FILES",
                    auto_delete: bool = False) -> UploadResult:
        """Upload a file to the library (CargarFichero) so an SMS can link it.

        ``source`` is a path (local ones only inside :attr:`allowed_roots`), an
        object-storage path, a bytes-bearing dict or an Attachment; ``name`` (default:
        the file's own) must be up to 15 letters/digits plus a PDF/Excel/Word/VCF
        extension. ``mode="FILES"`` sends a multipart upload (the vendor's
        recommendation), ``"BASE64"`` the content in ``Contenido``.
        """
        from airflow_provider_mensatek.clients import mensatek_sms

        file = mensatek_sms.load_library_file(source, name, allowed_roots=self.allowed_roots)
        fields = mensatek_sms.upload_fields(file, mode, auto_delete)
        if mode == "BASE64":
            record = self.call("upload_file", fields)
        else:
            function = FUNCTIONS["upload_file"]
            response = self.transport.request(
                "POST", function, function=function, kind=SAFE, data={**fields, "Resp": "JSON"},
                files=mensatek_sms.file_part(file),
            )
            record = self._check(function, response)
        return mensatek_sms.UploadResult(name=str(record.get("nombre") or file.name), mode=mode,
                                         size=len(file.content), auto_delete=auto_delete,
                                         credits_left=as_float(record.get("cred")))

    def list_files(self) -> list[LibraryFile]:
        """The files in the library (ListarFicheros)."""
        from airflow_provider_mensatek.clients import mensatek_sms

        return mensatek_sms.parse_library(self.call("list_files"))

    def delete_file(self, name: str, *, missing_ok: bool = False) -> DeleteFileResult:
        """Delete a library file (BorrarFichero); with ``missing_ok`` an absent file counts as deleted."""
        from airflow_provider_mensatek.clients import mensatek_sms

        name = require_text(name, "file name", max_len=255)
        try:
            record = self.call("delete_file", {"Nombre": name})
        except NotFoundError as exc:
            if not missing_ok:
                raise
            return mensatek_sms.DeleteFileResult(name=name, deleted=False,
                                                 credits_left=as_float(exc.details.get("cred")))
        return mensatek_sms.DeleteFileResult(name=name, deleted=True,
                                             credits_left=as_float(record.get("cred")))

    def get_sms_templates(self) -> dict[str, str]:
        """The account's SMS templates, name -> content (GetPlantillasSMS)."""
        from airflow_provider_mensatek.clients import mensatek_sms

        templates = mensatek_sms.decode_json_object(self.call("get_sms_templates").get("plantillas"))
        return {name: str(content) for name, content in templates.items()}

    def send_email(
        self,
        sender_email: str,
        recipients: Any,
        subject: str,
        *,
        html: str | None = None,
        template_id: int | None = None,
        sender_name: str | None = None,
        reply_to: str | None = None,
        send_at: Any = None,
        forbidden_interval: Any = None,
        attachments: Sequence[Any] | None = None,
        track_opens: bool | None = None,
        track_clicks: bool | None = None,
        list_unsubscribe: str | None = None,
        list_help: str | None = None,
        reference: str | None = None,
        report: bool | None = None,
        extra_params: Mapping[str, Any] | None = None,
    ) -> CampaignSendResult:
        """Send (or schedule) an email campaign (EnviarEMAIL). Never retried once it may have arrived.

        Exactly one of ``html`` (Mensaje) or ``template_id`` (Plantilla).
        Recipients: addresses, or dicts with ``Email``, ``Nombre``, ``variables``
        (name -> value, used as ``###Name###``) and ``reference``.
        """
        from airflow_provider_mensatek.clients import mensatek_campaigns

        params = mensatek_campaigns.build_email_params(
            sender_email, recipients, subject, html=html, template_id=template_id, sender_name=sender_name,
            reply_to=reply_to, send_at=send_at, forbidden_interval=forbidden_interval,
            attachments=attachments, allowed_roots=self.allowed_roots,
            track_opens=track_opens, track_clicks=track_clicks, list_unsubscribe=list_unsubscribe,
            list_help=list_help, reference=reference, report=report, extra_params=extra_params,
        )
        record = self.call("send_email", params, kind=SEND, reference=reference)
        return mensatek_campaigns.parse_campaign(record, "email", params, reference)

    def send_rcs(
        self,
        template_id: Any,
        recipients: Any,
        *,
        agent: str | None = None,
        send_at: Any = None,
        forbidden_interval: Any = None,
        reference: str | None = None,
        report: bool | None = None,
        check_variables: bool = True,
        extra_params: Mapping[str, Any] | None = None,
        default_country_code: str | None = None,
    ) -> CampaignSendResult:
        """Send (or schedule) an RCS template to phones (EnviarRCS). Never retried once it may have arrived.

        With ``check_variables`` (default) one template-variables call runs
        first, and the send is refused locally if any recipient misses a
        variable the template needs or gives one it does not have. Phone numbers
        follow the SMS rule (country code required unless ``default_country_code``).
        """
        from airflow_provider_mensatek.clients import mensatek_campaigns

        params, vendor_recipients = mensatek_campaigns.build_rcs_params(
            template_id, recipients, agent=agent, send_at=send_at, forbidden_interval=forbidden_interval,
            reference=reference, report=report, extra_params=extra_params,
            default_country_code=default_country_code,
        )
        if check_variables:
            template = self.get_rcs_template_variables(params["Plantilla"])
            mensatek_campaigns.check_rcs_variables(template, vendor_recipients)
        record = self.call("send_rcs", params, kind=SEND, reference=reference)
        return mensatek_campaigns.parse_campaign(record, "telefono", params, reference)

    def get_rcs_templates(self) -> dict[str, str]:
        """The account's (non-certified) RCS templates, id -> name."""
        from airflow_provider_mensatek.clients import mensatek_sms

        templates = mensatek_sms.decode_json_object(self.call("get_rcs_templates").get("plantillas"))
        return {str(tid): str(name) for tid, name in templates.items()}

    def get_rcs_template_variables(self, template_id: Any) -> RcsTemplate:
        """The variables an RCS template needs, with their types."""
        from airflow_provider_mensatek.clients import mensatek_campaigns

        tid = str(template_id).strip()
        if not tid.isdigit():
            raise ValidationError(f"template_id must be the numeric id of an RCS template, got "
                                  f"{template_id!r}")
        record = self.call("get_rcs_template_variables", {"Plantilla": tid})
        return mensatek_campaigns.parse_rcs_template(record, tid)

    # -- account -------------------------------------------------------------

    def get_credits(self) -> float:
        """Credits left. Cheap, but the vendor frowns on "empty" calls: use it sparingly."""
        record = self.call("get_credits")
        credits = as_float(record.get("cred"))
        if credits is None:
            raise MensatekError("GetCreditos answered without Cred", function=FUNCTIONS["get_credits"],
                                code="parse")
        return credits


#: Certified-email states in which a message is still waiting for its date.
SCHEDULED_CODES = frozenset({1})


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
