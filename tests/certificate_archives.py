"""Crafted certificate archives, good and hostile, shared by the certificate tests."""

from __future__ import annotations

import io
import json
import stat
import zipfile

from airflow_provider_mensatek.sandbox.pdf import make_pdf

CSV_TEXT = (
    "idMensaje;Destinatario;Estado;txtEstado;Fecha;CSV\n"
    "108366001;ana@example.com;14;Entregado y certificado;2026-11-24 10:00:00;SBX000108366001\n"
)


def pdf(text: str = "certificate") -> bytes:
    return make_pdf([text])


def build_zip(
    entries: list[tuple[str | zipfile.ZipInfo, bytes]], compression: int = zipfile.ZIP_DEFLATED
) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()


def good_zip(text: str = "certificate") -> bytes:
    return build_zip(
        [("certificado_108366001.pdf", pdf(text)), ("resultado_108366001.csv", CSV_TEXT.encode())]
    )


def traversal_zip() -> bytes:
    return build_zip([("certificado.pdf", pdf()), ("../../evil.pdf", pdf("evil"))])


def absolute_zip() -> bytes:
    return build_zip([("/etc/evil.pdf", pdf("evil"))])


def drive_letter_zip() -> bytes:
    return build_zip([("C:\\Windows\\evil.pdf", pdf("evil"))])


def backslash_traversal_zip() -> bytes:
    return build_zip([("certificados\\..\\..\\evil.pdf", pdf("evil"))])


def symlink_zip() -> bytes:
    info = zipfile.ZipInfo("certificado.pdf")
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return build_zip([(info, b"/etc/passwd")])


def bomb_zip(megabytes: int = 20) -> bytes:
    # Zeros deflate ~1000x: 20 MB of them is a ~20 KB archive.
    return build_zip([("certificado.pdf", b"%PDF-" + bytes(megabytes * 1024 * 1024))])


def truncated_zip() -> bytes:
    data = good_zip()
    return data[: len(data) // 2]


def corrupt_crc_zip() -> bytes:
    """Central directory intact, one byte of stored data flipped: only the CRC can tell."""
    data = bytearray(build_zip([("certificado.pdf", pdf())], compression=zipfile.ZIP_STORED))
    offset = data.index(b"%PDF-") + 20
    data[offset] ^= 0xFF
    return bytes(data)


def non_pdf_zip() -> bytes:
    return build_zip(
        [("certificado.pdf", b"<html>Not a certificate</html>"), ("resultado.csv", CSV_TEXT.encode())]
    )


def json_error_body() -> bytes:
    return json.dumps({"success": False, "error": "Certificate not found"}).encode()


def file_and_folder_zip() -> bytes:
    """``a.pdf`` is a file and the folder of ``a.pdf/b.pdf``: storage can keep only one."""
    return build_zip([("a.pdf", pdf("a")), ("a.pdf/b.pdf", pdf("b"))])


def nfc_nfd_twins_zip() -> bytes:
    """``é`` composed and decomposed: two names in the ZIP, one file on macOS, identical on screen."""
    return build_zip([("recibo_caf\u00e9.pdf", pdf("composed")), ("recibo_cafe\u0301.pdf", pdf("decomposed"))])


def control_character_zip() -> bytes:
    return build_zip([("certificado.pdf", pdf()), ("a\nb.pdf", pdf("line break"))])


def bidi_override_zip() -> bytes:
    """U+202E makes ``x\u202efdp.exe`` display as ``xexe.pdf``."""
    return build_zip([("certificado.pdf", pdf()), ("x\u202efdp.exe", b"MZ not a certificate")])


def planted_manifest_zip() -> bytes:
    """A ``manifest.json`` one level down would read as a set of its own to ``verify``."""
    planted = json.dumps({"manifest_version": 1, "files": []}).encode()
    return build_zip([("certificado.pdf", pdf()), ("sub/manifest.json", planted)])


def spread_bomb_zip(entries: int = 40) -> bytes:
    """Many entries each just under the per-entry ratio floor (1 MiB): ~40 MiB from ~40 KB."""
    return build_zip([(f"parte_{i:03}.txt", bytes(1024 * 1024 - 1)) for i in range(entries)])
