"""``python -m airflow_provider_mensatek.certificates verify``: tampering is caught and named."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from airflow_provider_mensatek.certificates.__main__ import main
from airflow_provider_mensatek.certificates.store import archive_certificate_set, to_storage_path
from airflow_provider_mensatek.clients.certificates import build_manifest, check_zip
from tests import certificate_archives as crafted

PDF = "certificado_108366001.pdf"
CSV = "resultado_108366001.csv"


def archive(folder, text: str = "certificate") -> None:
    cset = check_zip(io.BytesIO(crafted.good_zip(text)))
    manifest = build_manifest(
        vendor="mensatek",
        kind="certified_email",
        ids={"message_id": 1},
        files=cset.files,
        provider_version="0.1.0",
    )
    archive_certificate_set(to_storage_path(str(folder)), cset, manifest)


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
