"""Whole-file reads of manifests, journals and ids files, bounded: never more than the limit plus one byte.

These files are read whole to be parsed, from a lake that other jobs and
people write to. A manifest replaced by a huge object, a symlink to
``/dev/zero`` or a FIFO would otherwise exhaust the worker's memory or hang
``verify`` for ever. So only regular files (objects) are read, at most
``limit + 1`` bytes of them, and one over the limit is refused naming it.
The archive task refuses to write a manifest or journal over the same limit,
so every set it writes stays readable.
"""

from __future__ import annotations

from pathlib import Path

from airflow.sdk import ObjectStoragePath

from airflow_provider_mensatek.certificates.limits import MIB
from airflow_provider_mensatek.clients.errors import CertificateError

#: A manifest lists at most ``ArchiveLimits.max_entries`` files and the rows of one CSV of at most
#: ``max_csv_bytes``: a few MiB at most. 64 MiB leaves room for that and keeps the parse in bounds.
MAX_MANIFEST_BYTES = 64 * MIB
_CHUNK = MIB


def read_bounded(path: ObjectStoragePath | Path, *, what: str, limit: int = MAX_MANIFEST_BYTES) -> bytes:
    """The bytes of the regular file ``path``; CertificateError if it is not one or holds more than ``limit``."""
    if not path.is_file():
        raise CertificateError(f"{what} {path} is not a regular file (a folder, device, FIFO or socket, or a "
                               "symlink to one): refused unread", vendor="provider", code="bad-manifest")
    chunks: list[bytes] = []
    size = 0
    with path.open("rb") as handle:
        while size <= limit and (chunk := handle.read(min(_CHUNK, limit + 1 - size))):
            chunks.append(chunk)
            size += len(chunk)
    if size > limit:
        raise CertificateError(f"{what} {path} holds more than {limit} bytes, the most a manifest may: refused "
                               "(replaced or damaged; compare it with a copy you trust)",
                               vendor="provider", code="manifest-too-large")
    return b"".join(chunks)


def check_writable_size(data: bytes, *, what: str, limit: int = MAX_MANIFEST_BYTES) -> bytes:
    """``data`` if a later :func:`read_bounded` will accept it; else CertificateError before anything is written."""
    if len(data) > limit:
        raise CertificateError(f"{what} would be {len(data)} bytes, more than the {limit} a manifest may hold "
                               "(too many files or CSV rows in one set); nothing was archived",
                               vendor="provider", code="manifest-too-large")
    return data


__all__ = ["MAX_MANIFEST_BYTES", "check_writable_size", "read_bounded"]
