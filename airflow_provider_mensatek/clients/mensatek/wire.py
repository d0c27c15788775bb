"""Mensatek's wire: the function names, the ``Res`` codes per function, and the answer shape.

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
import re
from collections.abc import Mapping
from typing import Any

from airflow_provider_mensatek.clients.errors import (
    AlreadyCancelledError,
    AlreadySentError,
    AuthenticationError,
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
)

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

RES_TEXT_RE = re.compile(r"^\s*Res\s*[:=]\s*(-?\d+)", re.IGNORECASE)


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


def vendor_json(value: Any) -> str:
    """An array parameter as the vendor samples encode it: compact, UTF-8 kept as is."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def decode_json_object(value: Any) -> dict[str, Any]:
    """Objects inside answers arrive JSON-encoded in a string (or as real objects)."""
    if isinstance(value, str) and value.strip():
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return {str(k): v for k, v in value.items()} if isinstance(value, Mapping) else {}
