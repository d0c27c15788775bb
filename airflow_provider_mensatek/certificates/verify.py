"""Re-read archived certificate sets and check every file against its manifest."""

from __future__ import annotations

from dataclasses import dataclass, field

from airflow.sdk import ObjectStoragePath

from airflow_provider_mensatek.clients.certificates import (
    MANIFEST_NAME,
    Problem,
    compare_file,
    load_manifest,
    sha256_stream,
)
from airflow_provider_mensatek.clients.errors import CertificateError


@dataclass
class VerifyReport:
    """The result for one manifest: ``ok`` when every listed file is present and unaltered."""

    manifest_path: str
    checked: int = 0
    problems: list[Problem] = field(default_factory=list)
    #: Files beside the manifest that it does not list (e.g. left by an overwrite). Not an error.
    unlisted: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def manifest_paths(location: ObjectStoragePath) -> list[ObjectStoragePath]:
    """``location`` itself if it is a manifest, its ``manifest.json``, or every one below it."""
    if location.name.endswith(".json") and location.is_file():
        return [location]
    direct = location / MANIFEST_NAME
    if direct.exists():
        return [direct]
    if not location.exists():
        return []
    return sorted(location.rglob(MANIFEST_NAME), key=str)


def verify_manifest(manifest_path: ObjectStoragePath) -> VerifyReport:
    """Hash every file the manifest lists (streamed) and compare size and sha256."""
    report = VerifyReport(str(manifest_path))
    try:
        manifest = load_manifest(manifest_path.read_bytes(), where=str(manifest_path))
    except (OSError, CertificateError) as exc:
        report.problems.append(Problem(manifest_path.name, "manifest", str(exc)))
        return report
    folder = manifest_path.parent
    listed = set()
    for entry in manifest["files"]:
        path = folder / entry["path"]
        listed.add(entry["path"])
        observed: tuple[int, str] | None = None
        if path.is_file():
            with path.open("rb") as handle:
                observed = sha256_stream(handle)
        problem = compare_file(entry, observed)
        report.checked += 1
        if problem is not None:
            report.problems.append(problem)
    report.unlisted = sorted(_unlisted(folder, listed))
    return report


def _unlisted(folder: ObjectStoragePath, listed: set[str]) -> list[str]:
    out = []
    root = folder.path.rstrip("/") + "/"
    for found in folder.fs.find(folder.path):
        relative = str(found)[len(root):] if str(found).startswith(root) else str(found)
        name = relative.rsplit("/", 1)[-1]
        if relative in listed or (name.startswith("manifest") and name.endswith(".json")):
            continue
        out.append(relative)
    return out
