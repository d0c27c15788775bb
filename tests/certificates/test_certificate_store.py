"""Atomic, idempotent archiving of checked certificate sets to ObjectStoragePath (file://)."""

from __future__ import annotations

import io
import json
from contextlib import contextmanager

import pytest
from fsspec.implementations.local import LocalFileSystem

from airflow_provider_mensatek.certificates.store import (
    OVERWRITTEN,
    UNCHANGED,
    WRITTEN,
    archive_certificate_set,
    read_manifest,
    to_storage_path,
)
from airflow_provider_mensatek.clients.certificates import CertificateSet, build_manifest, check_zip
from airflow_provider_mensatek.clients.errors import CertificateError
from tests import certificate_archives as crafted


def checked(text: str = "certificate") -> tuple[CertificateSet, dict]:
    cset = check_zip(io.BytesIO(crafted.good_zip(text)))
    manifest = build_manifest(
        vendor="mensatek",
        kind="certified_email",
        ids={"message_id": 108366001},
        files=cset.files,
        provider_version="0.1.0",
        csv_rows=cset.csv_rows,
        source=cset.source,
    )
    return cset, manifest


def tree(root) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_writes_every_file_then_the_manifest_last(tmp_path, monkeypatch):
    moves: list[str] = []
    real_mv = LocalFileSystem.mv
    monkeypatch.setattr(
        LocalFileSystem,
        "mv",
        lambda self, a, b, **k: moves.append(b.rsplit("/", 1)[1]) or real_mv(self, a, b, **k),
    )
    cset, manifest = checked()
    target = to_storage_path(str(tmp_path)) / "mensatek/certified_email/108366001"
    outcome = archive_certificate_set(target, cset, manifest)
    assert outcome.status == WRITTEN
    assert moves == ["certificado_108366001.pdf", "resultado_108366001.csv", "manifest.json"]
    folder = tmp_path / "mensatek/certified_email/108366001"
    assert sorted(tree(folder)) == ["certificado_108366001.pdf", "manifest.json", "resultado_108366001.csv"]
    assert (folder / "certificado_108366001.pdf").read_bytes() == crafted.pdf()
    assert json.loads((folder / "manifest.json").read_text()) == manifest
    assert outcome.to_dict()["manifest_path"] == f"file://{folder}/manifest.json"
    json.dumps(outcome.to_dict())


def test_rerun_with_identical_content_changes_nothing(tmp_path):
    cset, manifest = checked()
    target = to_storage_path(str(tmp_path))
    archive_certificate_set(target, cset, manifest)
    before = tree(tmp_path)
    stamps = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
    again, later_manifest = checked()
    later_manifest["downloaded_at"] = "2030-01-01T00:00:00.000000Z"
    outcome = archive_certificate_set(target, again, later_manifest)
    assert outcome.status == UNCHANGED
    assert outcome.manifest == manifest  # the first download time is the evidence
    assert tree(tmp_path) == before
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")} == stamps


def test_different_content_is_refused_without_overwrite(tmp_path):
    target = to_storage_path(str(tmp_path))
    archive_certificate_set(target, *checked())
    before = tree(tmp_path)
    with pytest.raises(
        CertificateError, match=r"changed: certificado_108366001\.pdf.*overwrite=True"
    ) as caught:
        archive_certificate_set(target, *checked("another certificate"))
    assert caught.value.code == "conflict"
    assert tree(tmp_path) == before


def test_overwrite_keeps_the_earlier_manifest(tmp_path):
    target = to_storage_path(str(tmp_path))
    first = archive_certificate_set(target, *checked())
    outcome = archive_certificate_set(target, *checked("another certificate"), overwrite=True)
    assert outcome.status == OVERWRITTEN
    kept = [p.name for p in tmp_path.glob("manifest.*.json")]
    assert len(kept) == 1 and outcome.previous_manifest_path.endswith(kept[0])
    assert json.loads((tmp_path / kept[0]).read_text()) == first.manifest
    assert (tmp_path / "certificado_108366001.pdf").read_bytes() == crafted.pdf("another certificate")
    assert read_manifest(target) == outcome.manifest
    assert not list(tmp_path.glob(".*partial*"))


def test_failure_while_copying_leaves_nothing_behind(tmp_path):
    cset, manifest = checked()
    real_opener = cset.opener
    calls = []

    @contextmanager
    def flaky(file):
        calls.append(file.path)
        if len(calls) == 2:
            yield io.BytesIO(b"%PDF- bytes that changed after the check")
            return
        with real_opener(file) as handle:
            yield handle

    cset.opener = flaky
    (tmp_path / "lake").mkdir()
    target = to_storage_path(str(tmp_path / "lake")) / "mensatek/certified_email/108366001"
    with pytest.raises(CertificateError, match="changed between its check and its copy") as caught:
        archive_certificate_set(target, cset, manifest)
    assert caught.value.code == "changed-while-writing"
    assert list((tmp_path / "lake").iterdir()) == []


def test_to_storage_path_forms():
    assert str(to_storage_path("/data/lake")) == "file:///data/lake"
    assert str(to_storage_path("file:///data/lake")) == "file:///data/lake"
    with_conn = to_storage_path("s3://bucket/lake", conn_id="aws_lake")
    assert (with_conn.protocol, with_conn.conn_id, with_conn.path) == ("s3", "aws_lake", "bucket/lake")
    assert to_storage_path("s3://aws_lake@bucket/lake").conn_id == "aws_lake"
    for bad in ("", "relative/lake"):
        with pytest.raises(CertificateError):
            to_storage_path(bad)
