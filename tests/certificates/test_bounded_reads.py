"""Manifests, journals and ids files are read with a bound: a huge, endless or blocking one is refused, not read."""

from __future__ import annotations

import io
import json
import os
import tracemalloc
from pathlib import Path

import pytest

from airflow_provider_mensatek.certificates.__main__ import main
from airflow_provider_mensatek.certificates.bounded_read import MAX_MANIFEST_BYTES
from airflow_provider_mensatek.certificates.checks import build_manifest, check_zip
from airflow_provider_mensatek.certificates.store import (
    PENDING_NAME,
    archive_certificate_set,
    read_pending,
)
from airflow_provider_mensatek.clients.errors import CertificateError
from airflow_provider_mensatek.object_storage import to_storage_path
from tests import certificate_archives as crafted


def archive(folder: Path, **extra: object) -> None:
    cset = check_zip(io.BytesIO(crafted.good_zip("certificate")))
    manifest = build_manifest(vendor="mensatek", kind="certified_email", ids={"message_id": 1}, files=cset.files,
                              provider_version="0.1.0", extra=extra)
    archive_certificate_set(to_storage_path(str(folder)), cset, manifest)


def huge(path: Path) -> Path:
    """A sparse file one byte over the bound (it takes no disk)."""
    with path.open("wb") as handle:
        handle.truncate(MAX_MANIFEST_BYTES + 1)
    return path


def test_verify_refuses_a_manifest_over_the_bound_reading_at_most_the_bound(tmp_path: Path, capsys) -> None:
    archive(tmp_path / "1")
    huge(tmp_path / "1" / "manifest.json")
    tracemalloc.start()
    try:
        assert main(["verify", str(tmp_path)]) == 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    out = capsys.readouterr().out
    assert out.startswith("MANIFEST manifest.json: ") and "0/1 manifest(s) verified" in out
    assert f"manifest file://{tmp_path}/1/manifest.json holds more than {MAX_MANIFEST_BYTES} bytes" in out
    assert peak < 2 * MAX_MANIFEST_BYTES


@pytest.mark.parametrize("kind", ["endless", "fifo"])
def test_verify_refuses_an_endless_or_blocking_manifest_unread(tmp_path: Path, capsys, kind: str) -> None:
    archive(tmp_path / "1")
    manifest = tmp_path / "1" / "manifest.json"
    manifest.unlink()
    if kind == "endless":
        manifest.symlink_to("/dev/zero")
    else:
        os.mkfifo(manifest)  # opening it to read would block until someone writes
    assert main(["verify", str(tmp_path / "1")]) == 1
    assert "is not a regular file (a folder, device, FIFO or socket, or a symlink to one): refused unread" \
        in capsys.readouterr().out


def test_archiving_over_a_manifest_beyond_the_bound_is_refused(tmp_path: Path) -> None:
    archive(tmp_path)
    huge(tmp_path / "manifest.json")
    with pytest.raises(CertificateError, match=f"holds more than {MAX_MANIFEST_BYTES} bytes") as info:
        archive(tmp_path)
    assert info.value.code == "manifest-too-large"
    assert (tmp_path / "manifest.json").stat().st_size == MAX_MANIFEST_BYTES + 1


def test_a_journal_beyond_the_bound_is_not_read_and_says_why(tmp_path: Path) -> None:
    huge(tmp_path / PENDING_NAME)
    pending = read_pending(to_storage_path(str(tmp_path)))
    assert pending is not None and pending.manifest is None
    assert f"holds more than {MAX_MANIFEST_BYTES} bytes" in pending.unreadable


def test_a_manifest_that_verify_could_not_read_is_never_written(tmp_path: Path) -> None:
    with pytest.raises(CertificateError, match=r"manifest.json would be \d+ bytes, more than") as info:
        archive(tmp_path / "set", note="x" * MAX_MANIFEST_BYTES)
    assert info.value.code == "manifest-too-large"
    assert not (tmp_path / "set").exists()


@pytest.mark.parametrize("kind", ["huge", "endless"])
def test_an_expect_file_is_read_with_the_same_bound(tmp_path: Path, capsys, kind: str) -> None:
    archive(tmp_path / "lake")
    ids = tmp_path / "ids.json"
    if kind == "huge":
        huge(ids)
    else:
        ids.symlink_to("/dev/zero")
    with pytest.raises(SystemExit) as caught:
        main(["verify", str(tmp_path / "lake"), "--expect-file", str(ids)])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert f"--expect-file {ids}: ids file {ids} " in err
    assert ("holds more than" if kind == "huge" else "not a regular file") in err
    ids.unlink()
    ids.write_text(json.dumps({"message_ids": [1]}))
    assert main(["verify", str(tmp_path / "lake"), "--expect-file", str(ids)]) == 0
