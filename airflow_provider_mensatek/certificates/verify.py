"""Re-read archived certificate sets and check every file against its manifest; find what no manifest covers.

A set that lost its ``manifest.json`` (or was deleted whole) cannot fail its
own check, so a lake is also scanned for folders holding files that no
manifest covers, for writes that were interrupted (their journal,
``manifest.pending.json``, is still there), and, given the ids that should
be archived, for sets that are missing altogether.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from airflow.sdk import ObjectStoragePath

from airflow_provider_mensatek.certificates.bounded_read import read_bounded
from airflow_provider_mensatek.certificates.checks import (
    MANIFEST_NAME,
    Problem,
    compare_file,
    content_digest,
    load_manifest,
    sha256_stream,
)
from airflow_provider_mensatek.certificates.names import is_temporary_name
from airflow_provider_mensatek.certificates.store import PENDING_NAME, PendingWrite, read_pending
from airflow_provider_mensatek.clients.errors import CertificateError


@dataclass
class VerifyReport:
    """The result for one manifest: ``ok`` when every listed file is present and unaltered."""

    manifest_path: str
    checked: int = 0
    problems: list[Problem] = field(default_factory=list)
    #: Files beside the manifest that it does not list (e.g. left by an overwrite). Not an error.
    unlisted: list[str] = field(default_factory=list)
    #: The vendor ids the manifest records (``message_id``, ``tracking_id``, ``uuid``).
    ids: dict[str, Any] = field(default_factory=dict)
    #: Remarks that are not failures (a journal left by a write that did finish).
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class Incomplete:
    """A folder holding files that no ``manifest.json`` covers: always a failure of the lake."""

    folder: str
    kind: str  # "no-manifest" | "interrupted"
    detail: str

    def __str__(self) -> str:
        label = "NO MANIFEST" if self.kind == "no-manifest" else "INTERRUPTED"
        return f"{label} {self.folder}: {self.detail}"


@dataclass
class Scan:
    manifests: list[ObjectStoragePath] = field(default_factory=list)
    incomplete: list[Incomplete] = field(default_factory=list)


def manifest_paths(location: ObjectStoragePath) -> list[ObjectStoragePath]:
    """``location`` itself if it is a manifest, its ``manifest.json``, or every one below it."""
    return scan(location).manifests


def scan(location: ObjectStoragePath) -> Scan:
    """The manifests at or below ``location``, and the folders below it holding files none covers."""
    _forget_cached_listings(location)
    if location.is_file():
        return Scan([location] if location.name.endswith(".json") else [])
    direct = location / MANIFEST_NAME
    if direct.exists():
        return Scan([direct])
    if not location.exists():
        return Scan()
    files = _relative_files(location)
    roots = {_parent(p) for p in files if _name(p) == MANIFEST_NAME}
    journals = {_parent(p) for p in files if _name(p) == PENDING_NAME}

    def covered(folders: list[str]) -> bool:
        return any(folder in roots for folder in folders)

    uncovered = {journal: 0 for journal in journals if not covered([journal, *_ancestors(journal)])}
    for path in files:
        folders = list(_ancestors(path))
        if is_temporary_name(_name(path)) or _name(path) == PENDING_NAME or covered(folders):
            continue
        home = next((folder for folder in folders if folder in journals), folders[0])
        uncovered[home] = uncovered.get(home, 0) + 1
    result = Scan(sorted((location / p for p in files if _name(p) == MANIFEST_NAME), key=str))
    for folder, count in sorted(uncovered.items()):
        where = location / folder if folder else location
        if folder in journals:
            pending = read_pending(where)
            started = pending.started_at if pending is not None else "an unknown time"
            result.incomplete.append(Incomplete(
                str(where), "interrupted", f"a first write started at {started} stopped before its "
                f"{MANIFEST_NAME} ({count} file(s) here); re-run the archive task to finish it"))
        else:
            result.incomplete.append(Incomplete(
                str(where), "no-manifest", f"{count} file(s) but no {MANIFEST_NAME} covers them (deleted, "
                "or never completely written): they cannot be verified"))
    return result


def verify_manifest(manifest_path: ObjectStoragePath) -> VerifyReport:
    """Hash every file the manifest lists (streamed) and compare size and sha256."""
    report = VerifyReport(str(manifest_path))
    _forget_cached_listings(manifest_path)
    try:
        manifest = load_manifest(read_bounded(manifest_path, what="manifest"), where=str(manifest_path))
    except (OSError, CertificateError) as exc:
        report.problems.append(Problem(manifest_path.name, "manifest", str(exc)))
        return report
    if isinstance(manifest.get("ids"), dict):
        report.ids = dict(manifest["ids"])
    folder = manifest_path.parent
    pending = read_pending(folder) if manifest_path.name == MANIFEST_NAME else None
    if pending is not None and pending.content_digest() == content_digest(manifest["files"]):
        report.notes.append(f"{PENDING_NAME} was left by a write that finished; the next archive run removes it")
        pending = None
    observed: _Observed = {}
    problems: list[Problem] = []
    for entry in manifest["files"]:
        report.checked += 1
        problem = _check(folder, entry, observed)
        if problem is not None:
            problems.append(problem)
    if pending is None:
        report.problems = problems
    elif not problems:
        # Stopped before replacing anything: the set manifest.json lists is whole.
        report.notes.append(f"an overwrite started at {pending.started_at} stopped before replacing any file "
                            f"({PENDING_NAME}); the next archive run finishes or discards it")
    else:
        report.problems = _explain_interruption(folder, manifest, pending, problems, observed)
    report.unlisted = sorted(_unlisted(folder, {entry["path"] for entry in manifest["files"]}))
    return report


def _forget_cached_listings(location: ObjectStoragePath) -> None:
    """Verify must see what is stored now. Object-store file systems (s3fs) cache listings and each file's
    size and ETag per process: a file another client replaced since would be read against its old ETag and
    fail (s3fs ``FileExpired``) instead of being reported, and a deleted one would still look present."""
    location.fs.invalidate_cache()


#: What was read of each listed file, by (path, bytes read at most): (size, sha256), None when it is
#: missing, or why it could not be hashed.
_Observed = dict[tuple[str, int], "tuple[int, str] | str | None"]


def _check(folder: ObjectStoragePath, entry: dict[str, Any], cache: _Observed) -> Problem | None:
    """Compare one manifest entry with storage, reading at most one byte more than the recorded size:
    a file listed at 10 kB that became a 5 GB one (or a device, endless) is a size mismatch either way."""
    expected = int(entry["size"])
    key = (str(entry["path"]), expected + 1)
    if key not in cache:
        cache[key] = _observe(folder / key[0], key[1])
    observed = cache[key]
    if isinstance(observed, str):
        return Problem(key[0], "unreadable", observed)
    if observed is not None and observed[0] > expected:
        return Problem(key[0], "size", f"more than {expected} bytes, manifest says {expected}")
    return compare_file(entry, observed)


def _observe(path: ObjectStoragePath, limit: int) -> tuple[int, str] | str | None:
    try:
        if not path.is_file():
            if path.exists():
                # Only regular files are hashed: a FIFO or a device (a symlink to /dev/zero) never ends.
                return "listed in the manifest but not a regular file"
            return None
        with path.open("rb") as handle:
            return sha256_stream(handle, limit=limit)
    except OSError as exc:
        # Changed while being hashed (s3fs FileExpired: replaced since it was opened), deleted between the
        # listing and the read, or unreadable: one finding, and the other files are still checked.
        return f"changed or unreadable while being hashed ({type(exc).__name__}: {exc}); re-run verify"


def _explain_interruption(
    folder: ObjectStoragePath, manifest: dict[str, Any], pending: PendingWrite, problems: list[Problem],
    observed: _Observed,
) -> list[Problem]:
    """One INTERRUPTED finding, plus the files that hold neither the old set's content nor the new one's."""
    if pending.manifest is None:
        return [Problem(PENDING_NAME, "interrupted", f"a write was interrupted and its journal cannot be read "
                        f"({pending.unreadable}); "
                        "re-run the archive task with overwrite=True to rewrite the set"), *problems]
    new = {entry["path"]: entry for entry in pending.manifest["files"]}
    unexplained = [p for p in problems if p.path not in new or _check(folder, new[p.path], observed) is not None]
    replaced = sum(1 for entry in new.values() if _check(folder, entry, observed) is None)
    kept = len(manifest["files"]) - len(problems)
    detail = (f"an overwrite started at {pending.started_at} was interrupted: {replaced} file(s) hold the new set "
              f"it lists, {kept} the set {MANIFEST_NAME} lists; re-run the archive task with overwrite=True "
              "to finish it")
    return [Problem(PENDING_NAME, "interrupted", detail), *unexplained]


def expected_ids(document: Any) -> list[str]:
    """The ids a JSON document says should be archived (the CLI's ``--expect-file``).

    Accepted: an archive task's XCom (``{"archives": [{"id": ...}]}``), a send
    task's (``{"message_ids": [...]}`` for Mensatek, ``{"tracking_id": ...}``
    or ``{"uuid": ...}`` for LegallyMail), a list of any of these, or a list of ids.
    """
    if isinstance(document, list):
        return [ident for item in document for ident in expected_ids(item)]
    if isinstance(document, dict):
        if isinstance(document.get("archives"), list):
            return [str(a["id"]) for a in document["archives"] if isinstance(a, dict) and "id" in a]
        for key in ("message_ids", "tracking_id", "uuid"):
            if key in document:
                return expected_ids(document[key])
        raise ValueError(f"a JSON object without 'archives', 'message_ids', 'tracking_id' or 'uuid': "
                         f"{sorted(document)[:8]}")
    if isinstance(document, (str, int)) and not isinstance(document, bool):
        return [str(document)]
    raise ValueError(f"not an id: {document!r}")


def missing_ids(expected: Iterable[str], reports: Iterable[VerifyReport]) -> list[str]:
    """The expected ids that no manifest records (among the values of its ``ids``)."""
    found = {str(value) for report in reports for value in report.ids.values()}
    return [ident for ident in dict.fromkeys(expected) if ident not in found]


def _relative_files(folder: ObjectStoragePath) -> list[str]:
    root = folder.path.rstrip("/") + "/"
    return [str(found)[len(root):] if str(found).startswith(root) else str(found)
            for found in folder.fs.find(folder.path)]


def _name(relative: str) -> str:
    return relative.rsplit("/", 1)[-1]


def _parent(relative: str) -> str:
    return relative.rsplit("/", 1)[0] if "/" in relative else ""


def _ancestors(relative: str) -> Iterable[str]:
    """The folders holding ``relative``, nearest first, ending with ``""`` (the scanned location)."""
    while relative:
        relative = _parent(relative)
        yield relative


def _unlisted(folder: ObjectStoragePath, listed: set[str]) -> list[str]:
    out = []
    for relative in _relative_files(folder):
        name = _name(relative)
        if relative in listed or (name.startswith("manifest") and name.endswith(".json")):
            continue
        out.append(relative)
    return out
