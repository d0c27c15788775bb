"""The Mensatek file library (CargarFichero, ListarFicheros, BorrarFichero): files an SMS can link."""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_mensatek.clients._http.transport import (
    SAFE,
)
from airflow_provider_mensatek.clients._wire import _Jsonable, as_float, decode_json_array
from airflow_provider_mensatek.clients.errors import (
    NotFoundError,
    ValidationError,
)
from airflow_provider_mensatek.clients.mensatek._core import MensatekCore
from airflow_provider_mensatek.clients.mensatek.wire import FUNCTIONS
from airflow_provider_mensatek.clients.validation import (
    Attachment,
    check_flag,
    load_attachment,
    require_text,
)

#: CargarFichero: "Names must include the extension and have a maximum of 15
#: characters (letters and numbers only)" -- read as 15 letters/digits plus the extension.
LIBRARY_NAME_RE = re.compile(r"^[A-Za-z0-9]{1,15}\.[A-Za-z0-9]{1,5}$")
#: Res -11: "PDF, Excel, Word and VCF are supported".
LIBRARY_EXTENSIONS = frozenset({"pdf", "xls", "xlsx", "doc", "docx", "vcf"})
#: Not documented (Res -16 "file too large, consult support"); a sane local cap.
MAX_LIBRARY_FILE_BYTES = 10 * 1024 * 1024
UPLOAD_MODES = ("FILES", "BASE64")


def check_library_name(name: Any) -> str:
    """A file name the library accepts: up to 15 letters/digits, a dot, a supported extension."""
    if not isinstance(name, str) or not LIBRARY_NAME_RE.match(name):
        raise ValidationError(
            f"Library file name {name!r} is not valid: use up to 15 letters or digits (no spaces, dashes or "
            "accents) plus the extension, e.g. 'invoice2024.pdf'"
        )
    extension = name.rsplit(".", 1)[1].lower()
    if extension not in LIBRARY_EXTENSIONS:
        raise ValidationError(
            f"File type .{extension} is not supported by the Mensatek library; use one of "
            f"{', '.join(sorted(LIBRARY_EXTENSIONS))} (PDF is the most compatible on phones)"
        )
    return name


def load_library_file(source: Any, name: str | None, *, allowed_roots: tuple[str, ...] = ()) -> Attachment:
    """The bytes to upload and the (validated) library name they will get (local files only inside the roots)."""
    loaded = load_attachment(source, max_name_len=255, max_bytes=MAX_LIBRARY_FILE_BYTES,
                             allowed_roots=allowed_roots)
    return Attachment(name=check_library_name(name or loaded.name), content=loaded.content)


def upload_fields(file: Attachment, mode: str, auto_delete: bool) -> dict[str, Any]:
    """``CargarFichero`` form fields other than the file itself."""
    if mode not in UPLOAD_MODES:
        raise ValidationError(f"upload mode must be one of {UPLOAD_MODES}, got {mode!r}")
    fields: dict[str, Any] = {"Tipo": mode, "Nombre": file.name}
    if mode == "BASE64":
        fields["Contenido"] = file.base64
    if check_flag(auto_delete, "auto_delete") == "1":
        fields["Autoborrado"] = "Si"  # the document's own value
    return fields


def file_part(file: Attachment) -> dict[str, tuple[str, bytes, str]]:
    """The multipart part of a FILES upload.

    The document does not name the form field ("sent as a normal POST"); the
    vendor reads the first uploaded file, so the name is ours (assumption).
    """
    mime = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
    return {"Fichero": (file.name, file.content, mime)}


@dataclass(frozen=True)
class UploadResult(_Jsonable):
    name: str
    mode: str
    size: int
    auto_delete: bool
    credits_left: float | None


@dataclass(frozen=True)
class LibraryFile(_Jsonable):
    name: str
    extension: str | None
    uploaded_at: str | None


def parse_library(record: Mapping[str, Any]) -> list[LibraryFile]:
    return [
        LibraryFile(name=str(item.get("nombre", "")), extension=item.get("ext"),
                    uploaded_at=item.get("fecha"))
        for item in decode_json_array(record.get("ficheros"))
    ]


@dataclass(frozen=True)
class DeleteFileResult(_Jsonable):
    name: str
    deleted: bool
    credits_left: float | None


class FilesApi(MensatekCore):
    """The library functions, for SMS messages that link a file."""

    def upload_file(self, source: Any, *, name: str | None = None, mode: str = "FILES",
                    auto_delete: bool = False) -> UploadResult:
        """Upload a file to the library (CargarFichero) so an SMS can link it.

        ``source`` is a path (local ones only inside :attr:`allowed_roots`), an
        object-storage path, a bytes-bearing dict or an Attachment; ``name`` (default:
        the file's own) must be up to 15 letters/digits plus a PDF/Excel/Word/VCF
        extension. ``mode="FILES"`` sends a multipart upload (the vendor's
        recommendation), ``"BASE64"`` the content in ``Contenido``.
        """
        file = load_library_file(source, name, allowed_roots=self.allowed_roots)
        fields = upload_fields(file, mode, auto_delete)
        if mode == "BASE64":
            record = self.call("upload_file", fields)
        else:
            function = FUNCTIONS["upload_file"]
            response = self.transport.request(
                "POST", function, function=function, kind=SAFE, data={**fields, "Resp": "JSON"},
                files=file_part(file),
            )
            record = self._check(function, response)
        return UploadResult(name=str(record.get("nombre") or file.name), mode=mode,
                                         size=len(file.content), auto_delete=auto_delete,
                                         credits_left=as_float(record.get("cred")))

    def list_files(self) -> list[LibraryFile]:
        """The files in the library (ListarFicheros)."""
        return parse_library(self.call("list_files"))

    def delete_file(self, name: str, *, missing_ok: bool = False) -> DeleteFileResult:
        """Delete a library file (BorrarFichero); with ``missing_ok`` an absent file counts as deleted."""
        name = require_text(name, "file name", max_len=255)
        try:
            record = self.call("delete_file", {"Nombre": name})
        except NotFoundError as exc:
            if not missing_ok:
                raise
            return DeleteFileResult(name=name, deleted=False,
                                                 credits_left=as_float(exc.details.get("cred")))
        return DeleteFileResult(name=name, deleted=True,
                                             credits_left=as_float(record.get("cred")))
