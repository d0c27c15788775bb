"""Checks of downloaded certificate archives (Airflow-free): every hostile shape is a clear error."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import zipfile
from datetime import datetime, timezone

import pytest

from airflow_provider_mensatek.certificates.checks import (
    ArchiveLimits,
    CheckedFile,
    build_manifest,
    check_pdf,
    check_zip,
    compare_file,
    load_manifest,
    manifest_bytes,
    parse_csv,
    safe_relative_path,
)
from airflow_provider_mensatek.clients.errors import CertificateError
from tests import certificate_archives as crafted


def check(data: bytes, **kwargs):
    return check_zip(io.BytesIO(data), **kwargs)


def test_module_does_not_import_airflow():
    code = (
        "import sys, airflow_provider_mensatek.certificates.checks; "
        "sys.exit(any(m == 'airflow' or m.startswith('airflow.') for m in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


def test_good_archive_lists_files_with_digests_and_csv_rows():
    data = crafted.good_zip()
    result = check(data, source_name="certificado.zip")
    pdf = crafted.pdf("certificate")
    assert [f.path for f in result.files] == ["certificado_108366001.pdf", "resultado_108366001.csv"]
    assert result.files[0] == CheckedFile(
        "certificado_108366001.pdf", len(pdf), hashlib.sha256(pdf).hexdigest(), "application/pdf"
    )
    assert result.files[1].media_type == "text/csv"
    assert result.csv_rows == [
        {
            "idMensaje": "108366001",
            "Destinatario": "ana@example.com",
            "Estado": "14",
            "txtEstado": "Entregado y certificado",
            "Fecha": "2026-11-24 10:00:00",
            "CSV": "SBX000108366001",
        }
    ]
    assert result.source == {
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "media_type": "application/zip",
        "name": "certificado.zip",
    }
    with result.open(result.files[0]) as handle:
        assert handle.read() == pdf


@pytest.mark.parametrize(
    ("archive", "code", "fragment"),
    [
        (crafted.traversal_zip, "unsafe-name", "'../../evil.pdf'"),
        (crafted.absolute_zip, "unsafe-name", "absolute name: '/etc/evil.pdf'"),
        (crafted.drive_letter_zip, "unsafe-name", "absolute name"),
        (crafted.backslash_traversal_zip, "unsafe-name", "'..'"),
        (crafted.symlink_zip, "unsafe-name", "symbolic link"),
        (crafted.bomb_zip, "zip-bomb", "possible ZIP bomb"),
        (crafted.truncated_zip, "corrupt-zip", "Corrupt or truncated ZIP"),
        (crafted.corrupt_crc_zip, "corrupt-zip", "CRC"),
        (crafted.non_pdf_zip, "not-pdf", "named .pdf but is not a PDF"),
        (crafted.json_error_body, "error-body", "success=False, Certificate not found"),
        (lambda: b"Res:-5", "error-body", "Res -5"),
        (lambda: b"", "empty", "empty body"),
        (lambda: b"<html>502 Bad Gateway</html>", "not-zip", "502 Bad Gateway"),
        (crafted.file_and_folder_zip, "name-collision", "'a.pdf' is a file and also the folder of 'a.pdf/b.pdf'"),
        (crafted.nfc_nfd_twins_zip, "duplicate-name", "differ only in case or Unicode normalisation"),
        (crafted.control_character_zip, "unsafe-name", "'a\\nb.pdf' holds control or bidi characters (U+000A)"),
        (crafted.bidi_override_zip, "unsafe-name", "holds control or bidi characters (U+202E)"),
        (crafted.planted_manifest_zip, "unsafe-name", "reserved for the manifest: 'sub/manifest.json'"),
        (crafted.spread_bomb_zip, "zip-bomb", "limit 100x for the whole archive"),
    ],
)
def test_hostile_or_broken_archive_is_a_clear_error(archive, code, fragment):
    with pytest.raises(CertificateError) as caught:
        check(archive())
    assert caught.value.code == code
    assert fragment in str(caught.value)


def test_bomb_is_refused_from_the_directory_before_decompressing(monkeypatch):
    bomb = crafted.bomb_zip()
    opened = []
    monkeypatch.setattr(zipfile.ZipFile, "open", lambda self, *a, **k: opened.append(a) or None)
    with pytest.raises(CertificateError, match="ZIP bomb"):
        check(bomb)
    assert opened == []


def test_many_entries_under_the_ratio_floor_are_refused_before_decompressing(monkeypatch):
    bomb = crafted.spread_bomb_zip()
    assert len(bomb) < 64 * 1024
    opened = []
    monkeypatch.setattr(zipfile.ZipFile, "open", lambda self, *a, **k: opened.append(a) or None)
    with pytest.raises(CertificateError, match=r"expand to \d+ or more \(\d+x, limit 100x") as caught:
        check(bomb)
    assert caught.value.code == "zip-bomb"
    assert opened == []


def test_the_whole_archive_ratio_and_total_are_overridable():
    result = check(crafted.spread_bomb_zip(entries=3), limits=ArchiveLimits(max_total_ratio=5000))
    assert sum(f.size for f in result.files) == 3 * (1024 * 1024 - 1)
    with pytest.raises(CertificateError, match="more than 2000000 bytes"):
        check(crafted.spread_bomb_zip(entries=3),
              limits=ArchiveLimits(max_total_ratio=5000, max_total_bytes=2_000_000))


def test_lying_size_header_is_bounded_while_reading():
    data = bytearray(crafted.build_zip([("big.txt", bytes(3 * 1024 * 1024))]))
    # Declare a tiny uncompressed size in the central directory: zipfile then
    # stops at the declared size, and the CRC of the short read fails.
    cd = data.rindex(b"PK\x01\x02")
    data[cd + 24 : cd + 28] = (100).to_bytes(4, "little")
    with pytest.raises(CertificateError) as caught:
        check(bytes(data))
    assert caught.value.code == "corrupt-zip"


def test_small_compressible_csv_is_not_mistaken_for_a_bomb():
    rows = crafted.CSV_TEXT + "108366001;ana@example.com;14;x;2026-11-24 10:00:00;SBX\n" * 5000
    result = check(crafted.build_zip([("certificado.pdf", crafted.pdf()), ("r.csv", rows.encode())]))
    assert len(result.csv_rows) == 5001


def test_entry_count_and_total_size_limits():
    many = crafted.build_zip([(f"c{i}.pdf", crafted.pdf()) for i in range(6)])
    with pytest.raises(CertificateError, match="6 entries; at most 5") as caught:
        check(many, limits=ArchiveLimits(max_entries=5))
    assert caught.value.code == "too-many-entries"
    with pytest.raises(CertificateError, match="more than 1000 bytes") as caught:
        check(many, limits=ArchiveLimits(max_total_bytes=1000))
    assert caught.value.code == "too-large"
    with pytest.raises(CertificateError, match="the limit is 100"):
        check(many, limits=ArchiveLimits(max_entry_bytes=100))


def test_duplicate_and_reserved_names_are_refused():
    with pytest.warns(UserWarning, match="Duplicate name"):
        twice = crafted.build_zip(
            [("a.pdf", crafted.pdf()), ("A.pdf", crafted.pdf()), ("a.pdf", crafted.pdf())]
        )
    with pytest.raises(CertificateError, match="twice"):
        check(twice)
    with pytest.raises(CertificateError, match="reserved for the manifest"):
        check(crafted.build_zip([("manifest.json", b"{}")]))


def test_empty_archive_is_refused():
    with pytest.raises(CertificateError) as caught:
        check(crafted.build_zip([]))
    assert caught.value.code == "empty-zip"


def test_folders_inside_the_archive_are_kept_as_relative_paths():
    result = check(crafted.build_zip([("certificados/./uno.pdf", crafted.pdf())]))
    assert [f.path for f in result.files] == ["certificados/uno.pdf"]


def test_safe_relative_path_cases():
    assert safe_relative_path("a//b/./c.pdf") == "a/b/c.pdf"
    assert safe_relative_path("recibo_caf\u00e9 (copia).pdf") == "recibo_caf\u00e9 (copia).pdf"
    for bad in (
        "a\tb.pdf",
        "a\u200bb.pdf",  # zero-width space
        "a\u2028b.pdf",  # line separator
        "x\u2066fdp.exe",  # bidi isolate
        "MANIFEST.JSON",
        "sub/manifest.2026.json",
        "manifest.json/x.pdf",
        "",
        "/",
        ".",
        "a/../../b",
        "\\\\server\\share\\x.pdf",
        "D:x.pdf",
        "a\x00.pdf",
        ".x.pdf.partial-abc",
    ):
        with pytest.raises(CertificateError):
            safe_relative_path(bad)


def test_check_pdf_accepts_a_pdf_and_refuses_an_error_body():
    pdf = crafted.pdf()
    checked = check_pdf(io.BytesIO(pdf), "recipients/ana.pdf")
    assert checked == CheckedFile(
        "recipients/ana.pdf", len(pdf), hashlib.sha256(pdf).hexdigest(), "application/pdf"
    )
    with pytest.raises(CertificateError, match="Certificate not found") as caught:
        check_pdf(
            io.BytesIO(crafted.json_error_body()), "ana.pdf", redact=lambda t: t.replace("secret", "***")
        )
    assert caught.value.vendor == "legallymail"


def test_error_body_is_redacted():
    body = b'{"error": "bad token tok-SECRET-123"}'
    with pytest.raises(CertificateError) as caught:
        check(body, redact=lambda t: t.replace("tok-SECRET-123", "***"))
    assert "tok-SECRET-123" not in str(caught.value) and "***" in str(caught.value)


def test_parse_csv_windows_1252_and_comma_files():
    data = "Destinatario,Estado\nnuñez@example.com,14\n\n".encode("cp1252")
    assert parse_csv(data) == [{"Destinatario": "nuñez@example.com", "Estado": "14"}]


def test_manifest_round_trip_and_sanity_checks():
    files = [
        CheckedFile("b.pdf", 3, "b" * 64, "application/pdf"),
        CheckedFile("a.csv", 2, "a" * 64, "text/csv"),
    ]
    manifest = build_manifest(
        vendor="mensatek",
        kind="certified_email",
        ids={"message_id": 1},
        files=files,
        provider_version="9.9",
        downloaded_at=datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc),
        recipients=["ana@example.com"],
        vendor_status={"code": 14},
        csv_rows=[{"Estado": "14"}],
        source={"sha256": "c" * 64},
    )
    assert [f["path"] for f in manifest["files"]] == ["a.csv", "b.pdf"]
    assert manifest["downloaded_at"] == "2026-11-24T12:00:00.000000Z"
    assert manifest["provider"] == {"name": "airflow-provider-mensatek", "version": "9.9"}
    assert load_manifest(manifest_bytes(manifest)) == manifest
    bad = dict(manifest, files=[{"path": "../x.pdf", "size": 1, "sha256": "a" * 64}])
    with pytest.raises(CertificateError, match="escapes"):
        load_manifest(manifest_bytes(bad))
    with pytest.raises(CertificateError, match="not valid JSON"):
        load_manifest(b"{nope")
    with pytest.raises(ValueError, match="timezone-aware"):
        build_manifest(
            vendor="m",
            kind="k",
            ids={},
            files=files,
            provider_version="1",
            downloaded_at=datetime(2026, 1, 1),
        )


def test_compare_file():
    entry = {"path": "a.pdf", "size": 3, "sha256": "a" * 64}
    assert compare_file(entry, (3, "a" * 64)) is None
    assert compare_file(entry, None).kind == "missing"
    assert compare_file(entry, (4, "a" * 64)).kind == "size"
    assert compare_file(entry, (3, "b" * 64)).kind == "sha256"
