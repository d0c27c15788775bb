"""Atomic, idempotent writes of a checked certificate set to object storage.

The destination is an ``airflow.sdk.ObjectStoragePath`` (``file://``,
``s3://`` with the ``s3`` extra, ``gs://`` with ``gcs``; a storage
``conn_id`` in the path or given separately). The protocol:

1. if ``manifest.json`` exists, compare content (paths + sha256): identical
   means nothing to do; different is refused unless ``overwrite=True``;
2. every file is copied to a hidden temporary name beside its final one,
   re-hashed on the way and compared with what the checks recorded;
3. on overwrite the earlier manifest is kept as ``manifest.<UTC time>.json``;
4. ``manifest.pending.json`` (the journal: the new manifest and when the
   write started) is written, then the temporaries are moved into place;
5. ``manifest.json`` is replaced (through a temporary name) by the new
   manifest, and only then the journal is removed.

Any failure before step 4 removes the temporaries (and a folder this call
created), so nothing changed at the destination. From step 4 to step 5 the
folder holds, at every instant, the old set's ``manifest.json`` (or none, on
a first write) and the journal: a write interrupted there is recognised by
``verify``, which names it and says how many files hold which set, and the
next run finishes it (the same content, or any content with
``overwrite=True``). The old manifest is never removed before the new one
replaces it, so a set never goes without its manifest. On ``file://`` a move
is an atomic rename; on object stores it is a server-side copy + delete of
an already complete object, so no reader ever sees a partial file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from airflow.sdk import ObjectStoragePath
from fsspec.implementations.local import LocalFileSystem

from airflow_provider_mensatek.certificates.bounded_read import check_writable_size, read_bounded
from airflow_provider_mensatek.certificates.checks import (
    CHUNK_SIZE,
    MANIFEST_NAME,
    CertificateSet,
    CheckedFile,
    content_digest,
    load_manifest,
    manifest_bytes,
)
from airflow_provider_mensatek.certificates.names import check_distinct_names
from airflow_provider_mensatek.clients.errors import CertificateError

# Re-exported: to_storage_path lived here before it moved beside the other object-storage code.
from airflow_provider_mensatek.object_storage import to_storage_path as to_storage_path

log = logging.getLogger(__name__)

UNCHANGED = "unchanged"
WRITTEN = "written"
OVERWRITTEN = "overwritten"
#: The journal of a write in progress (step 4 of the module doc). Its name is reserved,
#: so no archive can plant one.
PENDING_NAME = "manifest.pending.json"
_TOKEN_RE = re.compile(r"^[0-9a-f]{12}$")


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


def _is_local(path: ObjectStoragePath) -> bool:
    return isinstance(path.fs, LocalFileSystem)


def _temp_name(final: ObjectStoragePath, token: str) -> ObjectStoragePath:
    return final.parent / f".{final.name}.partial-{token}"


def read_manifest(target: ObjectStoragePath) -> dict[str, Any] | None:
    path = target / MANIFEST_NAME
    if not path.exists():
        return None
    return load_manifest(read_bounded(path, what=MANIFEST_NAME), where=str(path))


@dataclass(frozen=True)
class PendingWrite:
    """The journal of a write that has not finished (or finished but was not cleaned up)."""

    started_at: str
    token: str
    #: The manifest being written; None when the journal cannot be read (then nothing is trusted).
    manifest: dict[str, Any] | None
    #: Why the journal cannot be read, when it cannot.
    unreadable: str = ""

    def content_digest(self) -> list[tuple[str, str]] | None:
        return content_digest(self.manifest["files"]) if self.manifest is not None else None


def read_pending(target: ObjectStoragePath) -> PendingWrite | None:
    path = target / PENDING_NAME
    if not path.exists():
        return None
    try:
        data = json.loads(read_bounded(path, what=PENDING_NAME).decode("utf-8"))
        manifest = load_manifest(manifest_bytes(data["manifest"]), where=str(path))
        return PendingWrite(str(data.get("started_at", "an unknown time")), str(data.get("token", "")), manifest)
    except CertificateError as exc:
        return PendingWrite("an unknown time", "", None, exc.message)
    except (UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError):
        return PendingWrite("an unknown time", "", None, f"{PENDING_NAME} is not a journal this provider wrote")


def _journal_bytes(token: str, manifest: dict[str, Any]) -> bytes:
    started = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return manifest_bytes({"journal_version": 1, "token": token, "started_at": started, "manifest": manifest})


def archive_certificate_set(
    target: ObjectStoragePath,
    certificate_set: CertificateSet,
    manifest: dict[str, Any],
    *,
    overwrite: bool = False,
) -> ArchiveOutcome:
    """Write ``certificate_set`` and its ``manifest`` under the folder ``target`` (see module doc)."""
    vendor = str(manifest.get("vendor", "provider"))
    check_distinct_names((f.path for f in certificate_set.files), vendor=vendor)
    manifest_path = target / MANIFEST_NAME
    existing = read_manifest(target)
    pending = read_pending(target)
    digest = certificate_set.content_digest()
    if pending is not None and existing is not None and pending.content_digest() == content_digest(existing["files"]):
        # The last write replaced manifest.json and stopped before removing its journal: it is complete.
        _remove_quietly(target / PENDING_NAME)
        pending = None
    if existing is not None and pending is None:
        if content_digest(existing["files"]) == digest:
            log.info("%s already holds this exact certificate set; nothing to do", target)
            return ArchiveOutcome(UNCHANGED, str(target), str(manifest_path), existing)
        if not overwrite:
            raise CertificateError(
                f"{target} already holds a different certificate set "
                f"({_describe_change(existing, manifest)}); refusing to replace evidence. "
                "Pass overwrite=True to replace it (the earlier manifest is kept as manifest.<time>.json)",
                vendor=vendor, code="conflict",
            )
    elif existing is not None and pending is not None:
        # An overwrite stopped part-way: the files are in doubt, so "unchanged" is never the answer.
        # Restoring the set manifest.json describes, or finishing the overwrite that was asked for,
        # needs no flag; anything else replaces evidence and needs overwrite=True.
        restoring = content_digest(existing["files"]) == digest
        if not (overwrite or restoring or pending.content_digest() == digest):
            raise CertificateError(
                f"{target}: an overwrite started at {pending.started_at} was interrupted, so its files are partly "
                f"the set {MANIFEST_NAME} lists and partly the one {PENDING_NAME} lists; what was downloaded now "
                f"is neither ({_describe_change(existing, manifest)}). Pass overwrite=True to replace the set with it",
                vendor=vendor, code="interrupted",
            )
        if restoring:
            manifest = existing  # its download time stays the evidence
    if pending is not None:
        _discard_stale_temporaries(target, pending)
    # An interrupted overwrite kept the earlier manifest before writing its journal: not twice.
    keep_previous = existing is not None and manifest is not existing and pending is None
    previous = _write_set(target, certificate_set, manifest, keep_previous=keep_previous)
    status = OVERWRITTEN if existing is not None else WRITTEN
    log.info("Archived %d certificate file(s) to %s (%s)", len(certificate_set.files), target, status)
    return ArchiveOutcome(status, str(target), str(manifest_path), manifest,
                          str(previous) if previous is not None else None)


def _write_set(
    target: ObjectStoragePath, certificate_set: CertificateSet, manifest: dict[str, Any], *, keep_previous: bool,
) -> ObjectStoragePath | None:
    """Steps 2-5 of the module doc; returns where the earlier manifest was kept, if it was."""
    token = uuid.uuid4().hex[:12]
    manifest_path = target / MANIFEST_NAME
    # Sized before anything is written: a set whose manifest verify could not read is not archived.
    manifest_data = check_writable_size(manifest_bytes(manifest), what=f"{target}'s {MANIFEST_NAME}")
    journal = check_writable_size(_journal_bytes(token, manifest), what=f"{target}'s {PENDING_NAME}")
    created_dirs = _make_dirs(target, certificate_set.files)
    staged: list[tuple[ObjectStoragePath, ObjectStoragePath]] = []
    previous: ObjectStoragePath | None = None
    try:
        for checked in certificate_set.files:
            final = target / checked.path
            temp = _temp_name(final, token)
            staged.append((temp, final))
            _copy_checked(certificate_set, checked, temp)
        if keep_previous:
            previous = _keep_previous_manifest(target, token)
        _write_through_temp(target / PENDING_NAME, journal, token)
    except BaseException:
        if previous is not None:
            _remove_quietly(previous)
        _discard(staged, created_dirs)
        raise
    remaining = list(staged)
    try:
        for temp, final in staged:
            temp.fs.mv(temp.path, final.path)
            remaining.remove((temp, final))
        _write_through_temp(manifest_path, manifest_data, token)
    except BaseException as exc:
        _discard(remaining, [])
        exc.add_note(f"{target}: the write stopped part-way; {PENDING_NAME} records it, verify reports it, "
                     "and the next run finishes it (with overwrite=True if the content differs)")
        raise
    _remove_quietly(target / PENDING_NAME)
    return previous


def _write_through_temp(final: ObjectStoragePath, data: bytes, token: str) -> None:
    temp = _temp_name(final, token)
    try:
        temp.write_bytes(data)
        temp.fs.mv(temp.path, final.path)
    except BaseException:
        _discard([(temp, final)], [])
        raise


def _remove_quietly(path: ObjectStoragePath) -> None:
    # The set is complete whether or not this succeeds; the next run removes a leftover journal.
    try:
        if path.exists():
            path.unlink()
    except OSError:
        log.warning("Could not remove %s", path, exc_info=True)


def _discard_stale_temporaries(target: ObjectStoragePath, pending: PendingWrite) -> None:
    """Remove what a crashed write left under temporary names (the journal says which)."""
    if pending.manifest is None or not _TOKEN_RE.match(pending.token):
        return
    finals = [target / f["path"] for f in pending.manifest["files"]] + [target / MANIFEST_NAME]
    _discard([(_temp_name(final, pending.token), final) for final in finals], [])


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
    _write_through_temp(kept, read_bounded(target / MANIFEST_NAME, what=MANIFEST_NAME), token)
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
