"""``python -m airflow_provider_mensatek.certificates verify``: tampering is caught and named."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys

import pytest
from fsspec.implementations.local import LocalFileSystem

from airflow_provider_mensatek.certificates.__main__ import main
from airflow_provider_mensatek.certificates.checks import build_manifest, check_zip
from airflow_provider_mensatek.certificates.store import archive_certificate_set
from airflow_provider_mensatek.certificates.verify import expected_ids
from airflow_provider_mensatek.object_storage import to_storage_path
from airflow_provider_mensatek.operators.certificates import MensatekDownloadCertificatesOperator
from airflow_provider_mensatek.sandbox.server import SandboxResponse
from tests import certificate_archives as crafted
from tests.conftest import MENSATEK_TOKEN, MENSATEK_USER

PDF = "certificado_108366001.pdf"
CSV = "resultado_108366001.csv"


def archive(folder, text: str = "certificate", overwrite: bool = False) -> None:
    cset = check_zip(io.BytesIO(crafted.good_zip(text)))
    manifest = build_manifest(
        vendor="mensatek",
        kind="certified_email",
        ids={"message_id": int(folder.name) if folder.name.isdigit() else 1},
        files=cset.files,
        provider_version="0.1.0",
    )
    archive_certificate_set(to_storage_path(str(folder)), cset, manifest, overwrite=overwrite)


def test_cli_passes_an_intact_set_and_fails_a_tampered_one(tmp_path):
    archive(tmp_path)
    command = [sys.executable, "-m", "airflow_provider_mensatek.certificates", "verify", f"file://{tmp_path}"]
    ok = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert "OK" in ok.stdout and "2 file(s) verified" in ok.stdout
    pdf = tmp_path / PDF
    pdf.write_bytes(pdf.read_bytes().replace(b"certificate", b"certificatE"))
    bad = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1
    assert f"SHA256   {PDF}" in bad.stdout
    assert "0/1 manifest(s) verified" in bad.stdout


def test_missing_and_resized_files_are_named(tmp_path, capsys):
    archive(tmp_path)
    (tmp_path / PDF).unlink()
    (tmp_path / CSV).write_bytes(b"x")
    assert main(["verify", str(tmp_path / "manifest.json")]) == 1
    out = capsys.readouterr().out
    assert f"MISSING  {PDF}: listed in the manifest but not found" in out
    assert f"SIZE     {CSV}: 1 bytes" in out


def test_a_whole_lake_is_searched_and_one_bad_set_fails_it(tmp_path, capsys):
    archive(tmp_path / "mensatek/certified_email/1")
    archive(tmp_path / "mensatek/certified_email/2", "other")
    (tmp_path / "mensatek/certified_email/2" / PDF).write_bytes(b"%PDF-forged")
    (tmp_path / "mensatek/certified_email/1/notes.txt").write_text("added later")
    assert main(["verify", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "OK       file://" + str(tmp_path / "mensatek/certified_email/1/manifest.json") in out
    assert f"SIZE     {PDF}" in out and "certified_email/2/manifest.json" in out
    assert "NOTE     notes.txt: present but not listed" in out
    assert "1/2 manifest(s) verified" in out


def test_no_manifest_is_exit_code_2(tmp_path, capsys):
    assert main(["verify", str(tmp_path)]) == 2
    assert main(["verify", str(tmp_path / "nope")]) == 2
    (tmp_path / "x.pdf").write_bytes(b"%PDF-")
    assert main(["verify", str(tmp_path / "x.pdf")]) == 2  # a file that is not a manifest: nothing to check
    assert "no manifest.json found" in capsys.readouterr().err


def test_a_broken_manifest_fails(tmp_path, capsys):
    archive(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["files"][0]["path"] = "../../etc/passwd"
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    assert main(["verify", str(tmp_path)]) == 1
    assert "escapes its folder" in capsys.readouterr().out


def test_usage_error_exits_2():
    with pytest.raises(SystemExit) as caught:
        main([])
    assert caught.value.code == 2


def test_a_location_without_manifest_does_not_stop_the_others_being_checked(tmp_path, capsys):
    good, empty, tampered = tmp_path / "good", tmp_path / "empty", tmp_path / "tampered"
    empty.mkdir()
    archive(good)
    archive(tampered)
    (tampered / PDF).write_bytes(b"%PDF-1.4 forged")
    assert main(["verify", str(empty), str(good), str(tampered)]) == 1
    out, err = capsys.readouterr()
    assert "no manifest.json" in err
    assert out.count("OK ") == 1  # the good set passed...
    assert PDF in out  # ...and the tampered one was still checked and named


def test_a_set_whose_manifest_was_deleted_fails_the_lake(tmp_path, capsys):
    archive(tmp_path / "mensatek/certified_email/1")
    archive(tmp_path / "mensatek/certified_email/2", "other")
    (tmp_path / "mensatek/certified_email/2/manifest.json").unlink()
    assert main(["verify", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert (f"NO MANIFEST file://{tmp_path}/mensatek/certified_email/2: 2 file(s) but no manifest.json covers them"
            in out)
    assert "1/1 manifest(s) verified; 1 folder(s) with files but no manifest.json" in out
    # The set folder itself, given directly, fails the same way (it used to be "nothing found", exit 2).
    assert main(["verify", str(tmp_path / "mensatek/certified_email/2")]) == 1


def test_nested_files_without_a_manifest_are_named_by_folder(tmp_path, capsys):
    archive(tmp_path / "legallymail/certified_email/cm_1")
    (tmp_path / "legallymail/certified_email/cm_1/manifest.json").unlink()
    (tmp_path / "legallymail/certified_email/cm_1/recipients/ana@example.com").mkdir(parents=True)
    (tmp_path / "legallymail/certified_email/cm_1/recipients/ana@example.com/read.pdf").write_bytes(b"%PDF-")
    (tmp_path / "legallymail/certified_email/cm_1/.x.pdf.partial-0123456789ab").write_bytes(b"temporary")
    assert main(["verify", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    folder = f"file://{tmp_path}/legallymail/certified_email/cm_1"
    assert f"NO MANIFEST {folder}: 2 file(s)" in out  # the temporary is not evidence
    assert f"NO MANIFEST {folder}/recipients/ana@example.com: 1 file(s)" in out
    assert "0/0 manifest(s) verified; 2 folder(s) with files but no manifest.json" in out


def test_expected_ids_whose_set_is_gone_are_reported(tmp_path, capsys):
    archive(tmp_path / "mensatek/certified_email/1")
    assert main(["verify", str(tmp_path), "--expect", "1", "2", "--expect", "3"]) == 1
    out = capsys.readouterr().out
    assert "MISSING  set 2: no manifest.json below" in out and "MISSING  set 3" in out
    assert "MISSING  set 1" not in out
    assert "1/1 manifest(s) verified; 1/3 expected set(s) found" in out
    assert main(["verify", str(tmp_path), "--expect", "1"]) == 0


@pytest.fixture
def mensatek_connection(sandbox, monkeypatch):
    conn = {"conn_type": "mensatek", "login": MENSATEK_USER, "password": MENSATEK_TOKEN, "host": sandbox.mensatek_url}
    monkeypatch.setenv("AIRFLOW_CONN_MENSATEK_DEFAULT", json.dumps(conn))


def test_expect_file_takes_the_archive_tasks_xcom(tmp_path, sandbox, mensatek_connection):
    sandbox.mensatek.stores["certificate_responses"] = {
        str(mid): SandboxResponse(200, crafted.good_zip(f"certificate {mid}"), "application/zip") for mid in (71, 72)
    }
    lake = tmp_path / "lake"
    xcom = MensatekDownloadCertificatesOperator(
        task_id="archive", message_ids=[71, 72], destination=f"file://{lake}"
    ).execute({})
    (tmp_path / "xcom.json").write_text(json.dumps(xcom))
    command = [sys.executable, "-m", "airflow_provider_mensatek.certificates", "verify", f"file://{lake}",
               "--expect-file", str(tmp_path / "xcom.json")]
    ok = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "2/2 manifest(s) verified; 2/2 expected set(s) found" in ok.stdout

    shutil.rmtree(lake / "mensatek/certified_email/72")  # the whole folder: nothing left to find
    gone = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert gone.returncode == 1
    assert "MISSING  set 72" in gone.stdout
    assert "1/1 manifest(s) verified; 1/2 expected set(s) found" in gone.stdout


@pytest.mark.parametrize(
    ("document", "ids"),
    [
        ({"message_ids": [5, 6]}, ["5", "6"]),
        ({"tracking_id": "cm_1", "tracking_ids": {"ana@example.com": "cm_1_r1"}}, ["cm_1"]),
        ([{"uuid": "u-1"}, {"archives": [{"id": 7, "status": "written"}]}], ["u-1", "7"]),
        (["a", 8], ["a", "8"]),
    ],
)
def test_expected_ids_from_xcom_documents(document, ids):
    assert expected_ids(document) == ids


def test_an_unusable_expect_file_is_a_usage_error(tmp_path, capsys):
    (tmp_path / "x.json").write_text('{"something": 1}')
    with pytest.raises(SystemExit) as caught:
        main(["verify", str(tmp_path), "--expect-file", str(tmp_path / "x.json")])
    assert caught.value.code == 2
    assert "without 'archives'" in capsys.readouterr().err


def test_interrupted_writes_are_named(tmp_path, capsys, monkeypatch):
    first, second = tmp_path / "mensatek/certified_email/1", tmp_path / "mensatek/certified_email/2"
    archive(first)
    real_mv = LocalFileSystem.mv
    done: list[str] = []

    def mv(self, source, destination, **kwargs):
        if len(done) == 3:
            raise OSError("storage went away")
        real_mv(self, source, destination, **kwargs)
        done.append(destination)

    monkeypatch.setattr(LocalFileSystem, "mv", mv)
    with pytest.raises(OSError):
        archive(first, "replacement", overwrite=True)  # kept manifest, journal, one file moved
    done.clear()
    done.append("")  # a first write: journal and one file moved
    with pytest.raises(OSError):
        archive(second)
    monkeypatch.undo()
    assert main(["verify", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "INTERRUPTED manifest.pending.json: an overwrite started at" in out
    assert "re-run the archive task with overwrite=True to finish it" in out
    assert f"INTERRUPTED file://{second}: a first write started at" in out
    assert "0/1 manifest(s) verified; 1 folder(s) with files but no manifest.json" in out
