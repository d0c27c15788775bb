"""Archive names end to end (ZIP -> checks -> a real local lake -> verify): long names fit, twins never overwrite."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from airflow_provider_mensatek.certificates.checks import build_manifest, check_zip
from airflow_provider_mensatek.certificates.names import MAX_NAME_BYTES
from airflow_provider_mensatek.certificates.store import UNCHANGED, archive_certificate_set
from airflow_provider_mensatek.certificates.verify import verify_manifest
from airflow_provider_mensatek.clients.errors import CertificateError
from airflow_provider_mensatek.object_storage import to_storage_path
from tests import certificate_archives as crafted

#: Two vendor names of 304 bytes that differ only after the first 250 characters.
LONG = ["certificado_" + "x" * 238 + "_destinatario_uno.pdf", "certificado_" + "x" * 238 + "_destinatario_dos.pdf"]


def archive(zip_bytes: bytes, folder: Path) -> str:
    cset = check_zip(io.BytesIO(zip_bytes))
    manifest = build_manifest(vendor="mensatek", kind="certified_email", ids={"message_id": 1}, files=cset.files,
                              provider_version="0.1.0")
    return archive_certificate_set(to_storage_path(str(folder)), cset, manifest).status


def test_over_long_vendor_names_are_stored_shortened_verifiable_and_the_same_on_every_run(tmp_path: Path) -> None:
    zip_bytes = crafted.build_zip([(LONG[0], crafted.pdf("uno")), (LONG[1], crafted.pdf("dos"))])
    archive(zip_bytes, tmp_path)

    stored = sorted(p.name for p in tmp_path.iterdir() if p.name != "manifest.json")
    assert len(stored) == 2 and all(len(name.encode()) <= MAX_NAME_BYTES and name.endswith(".pdf") for name in stored)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    by_original = {f["original_name"]: f["path"] for f in manifest["files"]}
    assert set(by_original) == set(LONG) and set(by_original.values()) == set(stored)
    assert b"uno" in (tmp_path / by_original[LONG[0]]).read_bytes()
    assert verify_manifest(to_storage_path(str(tmp_path)) / "manifest.json").ok
    assert archive(zip_bytes, tmp_path) == UNCHANGED  # the same names again: nothing to do


@pytest.mark.parametrize(
    "names",
    [
        ["acta.pdf", "acta.pdf."],
        ["acta.pdf", "acta.pdf "],
        ["\ufb01cha.pdf", "ficha.pdf"],
        ["r/ana./acta.pdf", "r/ana/acta.pdf"],
    ],
)
def test_twins_are_refused_before_one_could_overwrite_the_other(tmp_path: Path, names: list[str]) -> None:
    zip_bytes = crafted.build_zip([(names[0], crafted.pdf("first")), (names[1], crafted.pdf("second"))])
    with pytest.raises(CertificateError, match=f"The set names the file {names[0]!r} twice") as caught:
        archive(zip_bytes, tmp_path / "set")
    assert caught.value.code == "duplicate-name"
    assert not (tmp_path / "set").exists()
