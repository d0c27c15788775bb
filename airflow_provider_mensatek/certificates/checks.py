"""Safe handling of downloaded certificate archives, and their manifests (Airflow-free).

Certificates are legal evidence, so a download is treated as untrusted input
until it has passed every check here:

* the payload is what was asked for: a ZIP or a PDF, not a JSON / text error
  body that a vendor answered with HTTP 200;
* a ZIP is sound: every entry is read to the end, so zlib and the CRC check
  run on all of them, its names are safe (``archive_names``: relative, no
  control or bidi character, nothing reserved for the manifest, no symlink
  entry) and distinct on every store (no case or NFC/NFD twins, no file that
  is also a folder);
* a ZIP is not a bomb (``archive_limits``): entry count, per-entry and total
  uncompressed size, and the compression ratio of each entry and of the whole
  archive are bounded; the declared sizes are checked before reading and the
  bytes actually produced while reading;
* ``.pdf`` entries start with the PDF magic bytes; ``.csv`` entries (the
  Mensatek per-recipient result, ``;``-separated) are parsed into rows.

Everything streams from a temporary file in fixed-size chunks, so memory
stays flat whatever the archive size. The checked files come back as a
:class:`CertificateSet` whose bytes a writer copies to storage, re-hashing
as it goes; the manifest that describes them is built here too, so the
storage side (``airflow_provider_mensatek.certificates``) holds no format logic.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import stat
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import PurePosixPath
from typing import IO, Any

from airflow_provider_mensatek.certificates.limits import (
    DEFAULT_LIMITS,
    ArchiveLimits,
    check_entry_size,
    check_total_size,
)
from airflow_provider_mensatek.certificates.names import check_distinct_names, safe_relative_path
from airflow_provider_mensatek.clients.errors import CertificateError
from airflow_provider_mensatek.clients.mensatek.wire import RES_TEXT_RE

CHUNK_SIZE = 1024 * 1024
MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1
PROVIDER_NAME = "airflow-provider-mensatek"

PDF_MAGIC = b"%PDF-"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
_SNIFF_BYTES = 64 * 1024
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")

MEDIA_TYPES = {
    ".pdf": "application/pdf",
    ".csv": "text/csv",
    ".json": "application/json",
    ".xml": "application/xml",
    ".txt": "text/plain",
    ".zip": "application/zip",
}


@dataclass(frozen=True)
class CheckedFile:
    """One file of a certificate set, as it will be written: safe relative path, size, digest."""

    path: str
    size: int
    sha256: str
    media_type: str
    #: The vendor's name for the file where it differs from ``path`` (normalised, or shortened: see names).
    original_name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if value is not None}


@dataclass
class CertificateSet:
    """Checked files plus a way to re-read their bytes (from the temporary download)."""

    files: list[CheckedFile]
    opener: Callable[[CheckedFile], Any]
    source: dict[str, Any] = field(default_factory=dict)
    csv_rows: list[dict[str, str]] = field(default_factory=list)

    @contextmanager
    def open(self, checked: CheckedFile) -> Iterator[IO[bytes]]:
        with self.opener(checked) as handle:
            yield handle

    def content_digest(self) -> list[tuple[str, str]]:
        return content_digest(f.to_dict() for f in self.files)


# -- helpers -------------------------------------------------------------------


def _error(message: str, code: str, *, vendor: str, function: str | None) -> CertificateError:
    return CertificateError(message, vendor=vendor, function=function, code=code)


def sha256_stream(handle: IO[bytes], chunk_size: int = CHUNK_SIZE, limit: int | None = None) -> tuple[int, str]:
    """(size, hex sha256) of everything left in ``handle``, read in chunks, stopping after ``limit`` bytes."""
    digest = hashlib.sha256()
    size = 0
    while chunk := handle.read(chunk_size if limit is None else min(chunk_size, limit - size)):
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


def media_type_for(name: str) -> str:
    return MEDIA_TYPES.get(PurePosixPath(name).suffix.lower(), "application/octet-stream")


def sniff_payload(
    handle: IO[bytes],
    expected: str,
    *,
    vendor: str = "mensatek",
    function: str | None = None,
    redact: Callable[[str], str] = lambda text: text,
) -> None:
    """Refuse a payload that is not a ``expected`` ("zip" or "pdf") file.

    Vendors answer some failures with HTTP 200 and a JSON or text body; that
    must become a typed error, never a ``.zip`` / ``.pdf`` in a data lake.
    The vendor's own error text is quoted (through ``redact``) so the task
    log says what went wrong. ``handle`` is rewound.
    """
    handle.seek(0)
    head = handle.read(_SNIFF_BYTES)
    handle.seek(0)
    magics = {"zip": ZIP_MAGICS, "pdf": (PDF_MAGIC,)}[expected]
    if head.startswith(magics):
        return
    if not head:
        raise _error(f"Expected a {expected.upper()} file, got an empty body", "empty",
                     vendor=vendor, function=function)
    text = head.decode("utf-8", errors="replace").strip()
    detail = _error_text(text)
    if detail is not None:
        raise _error(f"Expected a {expected.upper()} file, got an error body: {redact(detail)[:300]}",
                     "error-body", vendor=vendor, function=function)
    raise _error(f"Expected a {expected.upper()} file, got {redact(text[:80])!r}…", f"not-{expected}",
                 vendor=vendor, function=function)


def _error_text(text: str) -> str | None:
    """The vendor's message when ``text`` is a JSON or ``Res:`` error body, else None."""
    match = RES_TEXT_RE.match(text)
    if match:
        return f"Res {match.group(1)}"
    if not text.startswith(("{", "[")):
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return "unparseable JSON body"
    if isinstance(data, list) and data and isinstance(data[0], dict):
        data = data[0]
    if not isinstance(data, dict):
        return "JSON body"
    lowered = {str(k).lower(): v for k, v in data.items()}
    parts = [f"{key}={lowered[key]}" for key in ("res", "code", "status", "success") if key in lowered]
    for key in ("error", "message", "detail"):
        if lowered.get(key):
            parts.append(str(lowered[key]))
            break
    return ", ".join(parts) or "JSON body without an error text"


# -- CSV -------------------------------------------------------------------------


def parse_csv(data: bytes, *, max_rows: int = DEFAULT_LIMITS.max_csv_rows) -> list[dict[str, str]]:
    """Rows of a vendor CSV as dicts keyed by its header. Mensatek uses ``;``.

    The delimiter is ``;`` unless the header only has commas. UTF-8 (with or
    without BOM) is tried first, then Windows-1252, the usual Spanish export.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    first = text.split("\n", 1)[0]
    delimiter = "," if ";" not in first and "," in first else ";"
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header = next(reader, None)
    if not header:
        return []
    names = [h.strip() for h in header]
    rows: list[dict[str, str]] = []
    for raw in reader:
        if not any(cell.strip() for cell in raw):
            continue
        if len(rows) >= max_rows:
            break
        rows.append({names[i] if i < len(names) else f"column_{i + 1}": cell.strip()
                     for i, cell in enumerate(raw)})
    return rows


# -- ZIP -------------------------------------------------------------------------


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    # Unix mode bits live in the high 16 bits of external_attr (create_system 3).
    return stat.S_ISLNK(info.external_attr >> 16)


def check_zip(
    handle: IO[bytes],
    *,
    limits: ArchiveLimits = DEFAULT_LIMITS,
    vendor: str = "mensatek",
    function: str | None = None,
    redact: Callable[[str], str] = lambda text: text,
    source_name: str | None = None,
) -> CertificateSet:
    """Check a certificate ZIP held in a seekable binary ``handle`` (a temporary file).

    Two passes over the bytes: the central directory first (names, links,
    counts, declared sizes: cheap refusals before decompressing anything),
    then every entry read to the end through zlib and its CRC, hashing it and
    checking PDF magic on the way. Returns the checked set; the handle must
    stay open while the set is written.
    """
    sniff_payload(handle, "zip", vendor=vendor, function=function, redact=redact)
    handle.seek(0)
    archive_size, archive_sha = sha256_stream(handle)
    handle.seek(0)
    try:
        archive = zipfile.ZipFile(handle)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise _error(f"Corrupt or truncated ZIP archive: {exc}", "corrupt-zip",
                     vendor=vendor, function=function) from None
    entries = _check_directory(archive, limits, archive_size, vendor=vendor, function=function)
    files: list[CheckedFile] = []
    csv_rows: list[dict[str, str]] = []
    total = 0
    for info, path in entries:
        try:
            checked, data_for_csv = _read_entry(archive, info, path, limits, (total, archive_size),
                                                vendor=vendor, function=function)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError,
                RuntimeError) as exc:
            raise _error(f"Corrupt ZIP entry {path!r}: {exc}", "corrupt-zip",
                         vendor=vendor, function=function) from None
        total += checked.size
        files.append(checked)
        if data_for_csv is not None:
            csv_rows.extend(parse_csv(data_for_csv, max_rows=limits.max_csv_rows - len(csv_rows)))
    if not files:
        raise _error("The certificate archive holds no files", "empty-zip", vendor=vendor, function=function)

    by_path = {path: info for info, path in entries}

    def opener(checked: CheckedFile) -> Any:
        return archive.open(by_path[checked.path])

    source = {"bytes": archive_size, "sha256": archive_sha, "media_type": "application/zip"}
    if source_name:
        source["name"] = source_name
    return CertificateSet(files=files, opener=opener, source=source, csv_rows=csv_rows)


def _check_directory(
    archive: zipfile.ZipFile, limits: ArchiveLimits, archive_size: int, *, vendor: str, function: str | None,
) -> list[tuple[zipfile.ZipInfo, str]]:
    infos = archive.infolist()
    if len(infos) > limits.max_entries:
        raise _error(f"The archive has {len(infos)} entries; at most {limits.max_entries} are accepted",
                     "too-many-entries", vendor=vendor, function=function)
    entries: list[tuple[zipfile.ZipInfo, str]] = []
    declared_total = 0
    for info in infos:
        path = safe_relative_path(info.filename, vendor=vendor, function=function)
        if _is_symlink(info):
            raise _error(f"Archive entry {info.filename!r} is a symbolic link; links are refused",
                         "unsafe-name", vendor=vendor, function=function)
        if info.is_dir():
            continue
        if info.flag_bits & 0x1:
            raise _error(f"Archive entry {info.filename!r} is encrypted", "encrypted",
                         vendor=vendor, function=function)
        check_entry_size(path, info.file_size, info.compress_size, limits, vendor=vendor, function=function)
        declared_total += info.file_size
        check_total_size(declared_total, archive_size, limits, vendor=vendor, function=function)
        entries.append((info, path))
    check_distinct_names((path for _info, path in entries), vendor=vendor, function=function)
    return entries


def _read_entry(
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    path: str,
    limits: ArchiveLimits,
    sizes: tuple[int, int],
    *,
    vendor: str,
    function: str | None,
) -> tuple[CheckedFile, bytes | None]:
    """Read one entry to its end (zlib + CRC run), hashing it and bounding what it produces.

    ``sizes``: what the entries before this one produced, and the archive's own size.
    """
    total_before, archive_size = sizes
    media_type = media_type_for(path)
    keep_csv = media_type == "text/csv" and info.file_size <= limits.max_csv_bytes
    csv_buffer = bytearray() if keep_csv else None
    digest = hashlib.sha256()
    size = 0
    with archive.open(info) as entry:
        first = True
        while chunk := entry.read(CHUNK_SIZE):
            if first and media_type == "application/pdf" and not chunk.startswith(PDF_MAGIC):
                raise _error(f"Archive entry {path!r} is named .pdf but is not a PDF", "not-pdf",
                             vendor=vendor, function=function)
            first = False
            size += len(chunk)
            # zipfile stops at the declared size, but a lying header must not
            # get past the limits either way.
            check_entry_size(path, size, info.compress_size, limits, vendor=vendor, function=function)
            check_total_size(total_before + size, archive_size, limits, vendor=vendor, function=function)
            digest.update(chunk)
            if csv_buffer is not None:
                csv_buffer += chunk
    if first and media_type == "application/pdf":
        raise _error(f"Archive entry {path!r} is an empty .pdf", "not-pdf", vendor=vendor, function=function)
    checked = CheckedFile(path=path, size=size, sha256=digest.hexdigest(), media_type=media_type,
                          original_name=info.filename if info.filename != path else None)
    return checked, bytes(csv_buffer) if csv_buffer is not None else None


# -- single files (LegallyMail PDFs, JSON records) --------------------------------


def check_pdf(
    handle: IO[bytes],
    path: str,
    *,
    vendor: str = "legallymail",
    function: str | None = None,
    max_bytes: int = DEFAULT_LIMITS.max_entry_bytes,
    redact: Callable[[str], str] = lambda text: text,
) -> CheckedFile:
    """Check one downloaded PDF held in ``handle``: not an error body, PDF magic, size bound."""
    sniff_payload(handle, "pdf", vendor=vendor, function=function, redact=redact)
    handle.seek(0)
    size, sha = sha256_stream(handle)
    handle.seek(0)
    if size > max_bytes:
        raise _error(f"{path!r} is {size} bytes; the limit is {max_bytes}", "too-large",
                     vendor=vendor, function=function)
    safe = safe_relative_path(path, vendor=vendor, function=function)
    return CheckedFile(path=safe, size=size, sha256=sha, media_type="application/pdf")


def check_bytes(data: bytes, path: str, *, vendor: str = "legallymail", function: str | None = None
                ) -> CheckedFile:
    """A small file we produce ourselves (e.g. a signature record as JSON)."""
    safe = safe_relative_path(path, vendor=vendor, function=function)
    return CheckedFile(path=safe, size=len(data), sha256=hashlib.sha256(data).hexdigest(),
                       media_type=media_type_for(safe))


# -- manifests -------------------------------------------------------------------


def content_digest(files: Any) -> list[tuple[str, str]]:
    """What identifies a set's content: sorted (path, sha256). Timestamps and the archive's own
    bytes are left out on purpose: vendors rebuild the ZIP on every download."""
    return sorted((str(f["path"]), str(f["sha256"])) for f in files)


def utc_timestamp(moment: datetime | None = None) -> str:
    moment = moment or datetime.now(timezone.utc)
    if moment.tzinfo is None:
        raise ValueError("a manifest time must be timezone-aware")
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def build_manifest(
    *,
    vendor: str,
    kind: str,
    ids: Mapping[str, Any],
    files: Sequence[CheckedFile],
    provider_version: str,
    downloaded_at: datetime | None = None,
    recipients: Sequence[str] = (),
    vendor_status: Any = None,
    csv_rows: Sequence[Mapping[str, str]] = (),
    source: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The manifest of one certificate set: everything needed to prove later what was received."""
    manifest: dict[str, Any] = {
        "manifest_version": MANIFEST_VERSION,
        "vendor": vendor,
        "kind": kind,
        "ids": dict(ids),
        "recipients": list(recipients),
        "vendor_status": vendor_status,
        "downloaded_at": utc_timestamp(downloaded_at),
        "provider": {"name": PROVIDER_NAME, "version": provider_version},
        "files": [f.to_dict() for f in sorted(files, key=lambda f: f.path)],
    }
    if csv_rows:
        manifest["csv_rows"] = [dict(row) for row in csv_rows]
    if source:
        manifest["source"] = dict(source)
    if extra:
        manifest.update({k: v for k, v in extra.items() if k not in manifest})
    return manifest


def manifest_bytes(manifest: Mapping[str, Any]) -> bytes:
    return (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def load_manifest(data: bytes, *, where: str = MANIFEST_NAME) -> dict[str, Any]:
    """Parse and sanity-check a manifest; its file paths must be safe (verify reads them)."""
    try:
        manifest = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise _error(f"{where} is not valid JSON: {exc}", "bad-manifest", vendor="provider",
                     function=None) from None
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, list):
        raise _error(f"{where} has no 'files' list", "bad-manifest", vendor="provider", function=None)
    for item in files:
        if (not isinstance(item, dict) or not isinstance(item.get("path"), str)
                or not isinstance(item.get("size"), int)
                or not _SHA256_RE.match(str(item.get("sha256", "")))):
            raise _error(f"{where} has a malformed file entry: {item!r}", "bad-manifest",
                         vendor="provider", function=None)
        if safe_relative_path(item["path"], vendor="provider") != item["path"]:
            raise _error(f"{where} lists a non-canonical path {item['path']!r}", "bad-manifest",
                         vendor="provider", function=None)
    return manifest


@dataclass(frozen=True)
class Problem:
    """One finding of a verification: a listed file that is missing or not what was recorded."""

    path: str
    kind: str  # "missing" | "size" | "sha256" | "unreadable"
    detail: str

    def __str__(self) -> str:
        return f"{self.kind.upper():8} {self.path}: {self.detail}"


def compare_file(expected: Mapping[str, Any], observed: tuple[int, str] | None) -> Problem | None:
    """Compare one manifest entry with what storage holds (``None``: the file is missing)."""
    path = str(expected["path"])
    if observed is None:
        return Problem(path, "missing", "listed in the manifest but not found")
    size, sha = observed
    if size != expected["size"]:
        return Problem(path, "size", f"{size} bytes, manifest says {expected['size']}")
    if sha != expected["sha256"]:
        return Problem(path, "sha256", f"sha256 {sha}, manifest says {expected['sha256']}")
    return None
