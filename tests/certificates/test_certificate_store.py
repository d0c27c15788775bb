"""Atomic, idempotent archiving of checked certificate sets to ObjectStoragePath (file://)."""

from __future__ import annotations

import io
import json
from contextlib import contextmanager
from dataclasses import replace

import pytest
from fsspec.implementations.local import LocalFileSystem

from airflow_provider_mensatek.certificates.checks import CertificateSet, build_manifest, check_zip
from airflow_provider_mensatek.certificates.store import (
    OVERWRITTEN,
    PENDING_NAME,
    UNCHANGED,
    WRITTEN,
    archive_certificate_set,
    read_manifest,
)
from airflow_provider_mensatek.certificates.verify import verify_manifest
from airflow_provider_mensatek.clients.errors import CertificateError
from airflow_provider_mensatek.object_storage import to_storage_path
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
    # The journal first (verify recognises an interrupted write by it), the manifest last.
    assert moves == ["manifest.pending.json", "certificado_108366001.pdf", "resultado_108366001.csv", "manifest.json"]
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


def moves_fail_after(monkeypatch, k: int) -> list[str]:
    """The storage move raises on its (k+1)-th call, as a store going away mid-write would."""
    real_mv = LocalFileSystem.mv
    done: list[str] = []

    def mv(self, source, destination, **kwargs):
        if len(done) == k:
            raise OSError("storage went away")
        real_mv(self, source, destination, **kwargs)
        done.append(destination.rsplit("/", 1)[1])

    monkeypatch.setattr(LocalFileSystem, "mv", mv)
    return done


# An overwrite moves: the kept earlier manifest, the journal, the two files, the new manifest.
OVERWRITE_MOVES = 5


@pytest.mark.parametrize("k", range(OVERWRITE_MOVES))
def test_an_overwrite_interrupted_after_k_moves_keeps_a_manifest_and_verify_explains_it(tmp_path, monkeypatch, k):
    target = to_storage_path(str(tmp_path))
    archive_certificate_set(target, *checked())
    done = moves_fail_after(monkeypatch, k)
    with pytest.raises(OSError, match="storage went away") as caught:
        archive_certificate_set(target, *checked("another certificate"), overwrite=True)
    monkeypatch.undo()
    assert len(done) == k
    notes = getattr(caught.value, "__notes__", [])
    assert (k >= 2) == any("verify reports it" in note for note in notes)
    assert (tmp_path / "manifest.json").exists()  # never a set without its manifest
    assert not list(tmp_path.glob(".*partial*"))
    report = verify_manifest(target / "manifest.json")
    if k <= 2:  # nothing replaced yet: the earlier set is whole
        assert report.ok, report.problems
        assert (k == 2) == any("stopped before replacing any file" in note for note in report.notes)
    else:
        assert not report.ok
        assert report.problems[0].kind == "interrupted"
        # The PDF differs between the two sets, the CSV is the same in both.
        assert "2 file(s) hold the new set it lists, 1 the set manifest.json lists" in str(report.problems[0])
        assert report.problems[1:] == []  # every file holds one set or the other

    outcome = archive_certificate_set(target, *checked("another certificate"), overwrite=True)
    assert outcome.status == OVERWRITTEN
    assert verify_manifest(target / "manifest.json").ok
    assert read_manifest(target) == outcome.manifest
    assert (tmp_path / "certificado_108366001.pdf").read_bytes() == crafted.pdf("another certificate")
    assert not (tmp_path / PENDING_NAME).exists()
    assert len(list(tmp_path.glob("manifest.*.json"))) == 1  # the earlier manifest, kept once


def test_at_every_instant_of_an_overwrite_verify_sees_a_whole_set_or_an_explained_swap(tmp_path, monkeypatch):
    target = to_storage_path(str(tmp_path))
    archive_certificate_set(target, *checked())
    real_mv = LocalFileSystem.mv
    seen: list[tuple[bool, str]] = []

    def mv(self, source, destination, **kwargs):
        real_mv(self, source, destination, **kwargs)
        report = verify_manifest(target / "manifest.json")
        seen.append((report.ok, report.problems[0].kind if report.problems else ""))

    monkeypatch.setattr(LocalFileSystem, "mv", mv)
    archive_certificate_set(target, *checked("another certificate"), overwrite=True)
    assert seen == [(True, ""), (True, ""), (False, "interrupted"), (False, "interrupted"), (True, "")]


def test_an_interrupted_overwrite_finishes_with_its_own_content_and_refuses_other_content(tmp_path, monkeypatch):
    target = to_storage_path(str(tmp_path))
    archive_certificate_set(target, *checked())
    moves_fail_after(monkeypatch, 3)
    with pytest.raises(OSError):
        archive_certificate_set(target, *checked("another certificate"), overwrite=True)
    monkeypatch.undo()
    with pytest.raises(CertificateError, match=r"was interrupted.*Pass overwrite=True") as caught:
        archive_certificate_set(target, *checked("a third certificate"))
    assert caught.value.code == "interrupted"
    # The content the interrupted overwrite was writing needs no flag: it was asked for already.
    assert archive_certificate_set(target, *checked("another certificate")).status == OVERWRITTEN
    assert verify_manifest(target / "manifest.json").ok
    assert archive_certificate_set(target, *checked("another certificate")).status == UNCHANGED


def test_an_interrupted_overwrite_is_never_taken_for_unchanged(tmp_path, monkeypatch):
    target = to_storage_path(str(tmp_path))
    first = archive_certificate_set(target, *checked())
    moves_fail_after(monkeypatch, 3)
    with pytest.raises(OSError):
        archive_certificate_set(target, *checked("another certificate"), overwrite=True)
    monkeypatch.undo()
    # The vendor now serves the first content again: the files are repaired, the first manifest kept.
    outcome = archive_certificate_set(target, *checked())
    assert outcome.status == OVERWRITTEN and outcome.manifest == first.manifest
    assert verify_manifest(target / "manifest.json").ok
    assert not (tmp_path / PENDING_NAME).exists()


def test_a_first_write_interrupted_mid_move_is_finished_by_the_next_run(tmp_path, monkeypatch):
    target = to_storage_path(str(tmp_path))
    moves_fail_after(monkeypatch, 2)  # the journal and one file moved
    with pytest.raises(OSError):
        archive_certificate_set(target, *checked())
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["certificado_108366001.pdf", PENDING_NAME]
    assert archive_certificate_set(target, *checked()).status == WRITTEN
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "certificado_108366001.pdf", "manifest.json", "resultado_108366001.csv"]


def test_a_set_whose_names_collide_is_refused_before_writing(tmp_path):
    cset, manifest = checked()
    cset.files = [cset.files[0], replace(cset.files[0], path=cset.files[0].path.upper())]
    with pytest.raises(CertificateError, match="differ only in case") as caught:
        archive_certificate_set(to_storage_path(str(tmp_path)), cset, manifest)
    assert caught.value.code == "duplicate-name"
    assert list(tmp_path.iterdir()) == []
