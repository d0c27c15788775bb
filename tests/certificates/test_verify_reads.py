"""verify reads each listed file at most one byte past its recorded size, and reports what it cannot read.

A listed file that became huge, a device or a FIFO must not stall or exhaust a verify run, and a file that
changes or fails while being hashed is one finding, not an exception that hides the other files' results.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from airflow.sdk import ObjectStoragePath

from airflow_provider_mensatek.certificates.verify import verify_manifest

GOOD = b"%PDF-1.4 good"
RECORDED = b"%PDF-1.4 recorded"


def write_set(folder: Path, names: list[str]) -> ObjectStoragePath:
    """A set whose manifest lists ``good.pdf`` and, as RECORDED, each of ``names`` (written as RECORDED)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "good.pdf").write_bytes(GOOD)
    files = [{"path": "good.pdf", "size": len(GOOD), "sha256": hashlib.sha256(GOOD).hexdigest()}]
    for name in names:
        (folder / name).write_bytes(RECORDED)
        files.append({"path": name, "size": len(RECORDED), "sha256": hashlib.sha256(RECORDED).hexdigest()})
    (folder / "manifest.json").write_text(json.dumps({"files": files}))
    return ObjectStoragePath(f"file://{folder}/manifest.json")


def test_a_file_grown_past_its_size_is_read_only_one_byte_further(tmp_path: Path) -> None:
    manifest = write_set(tmp_path, ["big.pdf"])
    with open(tmp_path / "big.pdf", "r+b") as handle:
        handle.truncate(4 << 30)  # sparse: reading it all would take seconds and report 4 GiB
    report = verify_manifest(manifest)
    assert [(p.path, p.kind, p.detail) for p in report.problems] == [
        ("big.pdf", "size", f"more than {len(RECORDED)} bytes, manifest says {len(RECORDED)}")]
    assert report.checked == 2


def test_devices_and_fifos_are_refused_not_read(tmp_path: Path) -> None:
    manifest = write_set(tmp_path, ["zero.pdf", "fifo.pdf"])
    (tmp_path / "zero.pdf").unlink()
    (tmp_path / "zero.pdf").symlink_to("/dev/zero")
    (tmp_path / "fifo.pdf").unlink()
    os.mkfifo(tmp_path / "fifo.pdf")  # opening it for reading would wait for a writer forever
    report = verify_manifest(manifest)
    assert sorted((p.path, p.kind, p.detail) for p in report.problems) == [
        ("fifo.pdf", "unreadable", "listed in the manifest but not a regular file"),
        ("zero.pdf", "unreadable", "listed in the manifest but not a regular file"),
    ]


def test_a_file_failing_while_hashed_is_reported_and_the_others_still_checked(tmp_path: Path) -> None:
    # /proc/self/mem is a regular file whose read fails (EIO at offset 0): a real read error, no mock.
    manifest = write_set(tmp_path, ["failing.pdf", "tampered.pdf"])
    (tmp_path / "failing.pdf").unlink()
    (tmp_path / "failing.pdf").symlink_to("/proc/self/mem")
    (tmp_path / "tampered.pdf").write_bytes(RECORDED.upper())
    report = verify_manifest(manifest)
    found = {p.path: p for p in report.problems}
    assert sorted(found) == ["failing.pdf", "tampered.pdf"]
    assert found["failing.pdf"].kind == "unreadable"
    assert found["failing.pdf"].detail.startswith("changed or unreadable while being hashed (OSError:")
    assert found["tampered.pdf"].kind == "sha256"
