"""Atomic, idempotent writes of a checked certificate set to object storage.

The destination is an ``airflow.sdk.ObjectStoragePath`` (``file://``,
``s3://`` with the ``s3`` extra, ``gs://`` with ``gcs``; a storage
``conn_id`` in the path or given separately). The protocol:

1. if ``manifest.json`` exists, compare content (paths + sha256): identical
   means nothing to do; different is refused unless ``overwrite=True``;
2. every file is copied to a hidden temporary name beside its final one,
   re-hashed on the way and compared with what the checks recorded;
3. on overwrite the earlier manifest is kept as ``manifest.<UTC time>.json``
   and ``manifest.json`` removed, so the set reads as incomplete meanwhile;
4. the temporaries are moved into place, then ``manifest.json`` is written
   (itself through a temporary name) LAST: its presence means complete.

Any failure before step 4 removes the temporaries (and a folder this call
created), so nothing is left at the destination. A crash during step 4
can leave files without a manifest, which by the rule above is an
incomplete set; the next run rewrites it. On ``file://`` a move is an
atomic rename; on object stores it is a server-side copy + delete of an
already complete object, so no reader ever sees a partial file.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from airflow.sdk import ObjectStoragePath
from fsspec.implementations.local import LocalFileSystem

from airflow_provider_mensatek.clients.certificates import (
    CHUNK_SIZE,
    MANIFEST_NAME,
    CertificateSet,
    CheckedFile,
    content_digest,
    load_manifest,
    manifest_bytes,
)
from airflow_provider_mensatek.clients.errors import CertificateError

log = logging.getLogger(__name__)

UNCHANGED = "unchanged"
WRITTEN = "written"
OVERWRITTEN = "overwritten"


@dataclass(frozen=True)
class ArchiveOutcome:
    """What an archive call did; ``to_dict()`` is JSON-able (XCom)."""

    status: str
    location: str
    manifest_path: str
    manifest: dict[str, Any]
    previous_manifest_path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "location": self.location,
            "manifest_path": self.manifest_path,
            "previous_manifest_path": self.previous_manifest_path,
            "manifest": self.manifest,
        }


def to_storage_path(destination: str | ObjectStoragePath, conn_id: str | None = None) -> ObjectStoragePath:
    """A URL / path string or an ObjectStoragePath, with an optional storage connection.

    A bare local path is taken as ``file://``; a ``conn_id`` given here wins
    over one embedded in the URL (``s3://conn@bucket/key``).
    """
    conn_id = conn_id or None  # a rendered empty template means "no connection"
    if isinstance(destination, ObjectStoragePath):
        return ObjectStoragePath(destination, conn_id=conn_id) if conn_id else destination
    text = str(destination).strip()
    if not text:
        raise CertificateError("destination is empty", vendor="provider", code="bad-destination")
    if "://" not in text:
        if not text.startswith("/"):
            raise CertificateError(f"destination {text!r} must be a URL or an absolute path",
                                   vendor="provider", code="bad-destination")
        text = f"file://{text}"
    return ObjectStoragePath(text, conn_id=conn_id)


def _is_local(path: ObjectStoragePath) -> bool:
    return isinstance(path.fs, LocalFileSystem)


def _temp_name(final: ObjectStoragePath, token: str) -> ObjectStoragePath:
    return final.parent / f".{final.name}.partial-{token}"


def read_manifest(target: ObjectStoragePath) -> dict[str, Any] | None:
    path = target / MANIFEST_NAME
    if not path.exists():
        return None
    return load_manifest(path.read_bytes(), where=str(path))


def archive_certificate_set(
    target: ObjectStoragePath,
    certificate_set: CertificateSet,
    manifest: dict[str, Any],
    *,
    overwrite: bool = False,
) -> ArchiveOutcome:
    """Write ``certificate_set`` and its ``manifest`` under the folder ``target`` (see module doc)."""
    manifest_path = target / MANIFEST_NAME
    existing = read_manifest(target)
    if existing is not None:
        if content_digest(existing["files"]) == certificate_set.content_digest():
            log.info("%s already holds this exact certificate set; nothing to do", target)
            return ArchiveOutcome(UNCHANGED, str(target), str(manifest_path), existing)
        if not overwrite:
            raise CertificateError(
                f"{target} already holds a different certificate set "
                f"({_describe_change(existing, manifest)}); refusing to replace evidence. "
                "Pass overwrite=True to replace it (the earlier manifest is kept as manifest.<time>.json)",
                vendor=str(manifest.get("vendor", "provider")), code="conflict",
            )
    token = uuid.uuid4().hex[:12]
    created_dirs = _make_dirs(target, certificate_set.files)
    staged: list[tuple[ObjectStoragePath, ObjectStoragePath]] = []
    try:
        for checked in certificate_set.files:
            final = target / checked.path
            temp = _temp_name(final, token)
            staged.append((temp, final))
            _copy_checked(certificate_set, checked, temp)
    except BaseException:
        _discard(staged, created_dirs)
        raise
    previous: ObjectStoragePath | None = None
    if existing is not None:
        previous = _keep_previous_manifest(target, token)
        manifest_path.unlink()
    remaining = list(staged)
    try:
        for temp, final in staged:
            temp.fs.mv(temp.path, final.path)
            remaining.remove((temp, final))
        manifest_temp = _temp_name(manifest_path, token)
        remaining.append((manifest_temp, manifest_path))
        manifest_temp.write_bytes(manifest_bytes(manifest))
        manifest_temp.fs.mv(manifest_temp.path, manifest_path.path)
    except BaseException:
        _discard(remaining, [])
        raise
    status = OVERWRITTEN if existing is not None else WRITTEN
    log.info("Archived %d certificate file(s) to %s (%s)", len(certificate_set.files), target, status)
    return ArchiveOutcome(status, str(target), str(manifest_path), manifest,
                          str(previous) if previous is not None else None)


def _describe_change(existing: dict[str, Any], new: dict[str, Any]) -> str:
    old = dict(content_digest(existing["files"]))
    fresh = dict(content_digest(new["files"]))
    changed = sorted(p for p in old.keys() & fresh.keys() if old[p] != fresh[p])
    added = sorted(fresh.keys() - old.keys())
    removed = sorted(old.keys() - fresh.keys())
    parts = [f"{label}: {', '.join(paths[:5])}" for label, paths in
             (("changed", changed), ("new", added), ("gone", removed)) if paths]
    return "; ".join(parts) or "different content"


def _make_dirs(target: ObjectStoragePath, files: list[CheckedFile]) -> list[ObjectStoragePath]:
    """Create the folders a local destination needs; object stores have no folders.

    Returns the folders created, deepest first, so a failure can remove them.
    """
    if not _is_local(target):
        return []
    wanted = {target} | {(target / f.path).parent for f in files}
    created: list[ObjectStoragePath] = []
    for folder in sorted(wanted, key=lambda p: len(p.path)):
        missing = [folder, *folder.parents]
        for candidate in reversed(missing):
            if not candidate.exists():
                candidate.mkdir()
                created.append(candidate)
    return sorted(created, key=lambda p: len(p.path), reverse=True)


def _copy_checked(certificate_set: CertificateSet, checked: CheckedFile, temp: ObjectStoragePath) -> None:
    digest = hashlib.sha256()
    size = 0
    with certificate_set.open(checked) as source, temp.fs.open(temp.path, "wb") as sink:
        while chunk := source.read(CHUNK_SIZE):
            digest.update(chunk)
            size += len(chunk)
            sink.write(chunk)
    if size != checked.size or digest.hexdigest() != checked.sha256:
        raise CertificateError(
            f"{checked.path} changed between its check and its copy ({size} bytes, sha256 "
            f"{digest.hexdigest()}); nothing was archived", vendor="provider", code="changed-while-writing",
        )


def _keep_previous_manifest(target: ObjectStoragePath, token: str) -> ObjectStoragePath:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    kept = target / f"manifest.{stamp}.json"
    temp = _temp_name(kept, token)
    temp.write_bytes((target / MANIFEST_NAME).read_bytes())
    temp.fs.mv(temp.path, kept.path)
    log.info("Kept the earlier manifest of %s as %s", target, kept.name)
    return kept


def _discard(
    staged: list[tuple[ObjectStoragePath, ObjectStoragePath]], created: list[ObjectStoragePath],
) -> None:
    for temp, _final in staged:
        try:
            if temp.exists():
                temp.unlink()
        except OSError:
            log.warning("Could not remove the temporary file %s", temp, exc_info=True)
    for folder in created:
        try:
            if folder.exists() and not any(folder.iterdir()):
                folder.rmdir()
        except OSError:
            log.warning("Could not remove the folder %s", folder, exc_info=True)
