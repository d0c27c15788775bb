"""MensatekDownloadCertificatesOperator against the sandbox, archiving into a file:// data lake."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest
from airflow.sdk import DAG, Asset, ObjectStoragePath
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_mensatek import __version__
from airflow_provider_mensatek.clients.errors import CertificateNotReadyError
from airflow_provider_mensatek.operators.certificates import MensatekDownloadCertificatesOperator
from airflow_provider_mensatek.sandbox.server import SandboxResponse
from tests import certificate_archives as crafted
from tests.conftest import MENSATEK_TOKEN, MENSATEK_USER

CERT_FUNCTION = "GetCertificadoEMAILCERTIFICADO"


@pytest.fixture(autouse=True)
def mensatek_connection(sandbox, monkeypatch):
    conn = {"conn_type": "mensatek", "login": MENSATEK_USER, "password": MENSATEK_TOKEN, "host": sandbox.mensatek_url}
    monkeypatch.setenv("AIRFLOW_CONN_MENSATEK_DEFAULT", json.dumps(conn))


def certified_message(client, sandbox, *, ready: bool = True, email: str = "ana@example.com") -> int:
    sent = client.send_certified_email("avisos@example.com", [email], "Aviso", "Texto del aviso")
    if ready:
        sandbox.clock.advance(4 * sandbox.step_seconds)
    sandbox.clear_requests()
    return sent.message_ids[0]


def operator(lake, message_ids, **kwargs) -> MensatekDownloadCertificatesOperator:
    return MensatekDownloadCertificatesOperator(
        task_id="archive", message_ids=message_ids, destination=f"file://{lake}", **kwargs
    )


def files_under(path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def test_archives_the_certificate_zip_with_a_manifest(tmp_path, sandbox, mensatek_client):
    mid = certified_message(mensatek_client, sandbox)
    result = operator(tmp_path, mid).execute({})

    [request] = sandbox.requests
    assert (request.method, request.path) == ("POST", f"/mensatek/v7/{CERT_FUNCTION}")
    assert request.basic_auth == (MENSATEK_USER, MENSATEK_TOKEN)
    assert request.params == {"Idmensaje": mid, "Resp": "JSON"}

    folder = tmp_path / "mensatek" / "certified_email" / str(mid)
    assert sorted(p.name for p in folder.iterdir()) == [
        f"certificado_{mid}.pdf",
        "manifest.json",
        f"resultado_{mid}.csv",
    ]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert result["archives"] == [
        {
            "id": mid,
            "status": "written",
            "location": f"file://{folder}",
            "manifest_path": f"file://{folder}/manifest.json",
            "previous_manifest_path": None,
            "manifest": manifest,
        }
    ]
    assert manifest["vendor"] == "mensatek" and manifest["kind"] == "certified_email"
    assert manifest["ids"] == {"message_id": mid}
    assert manifest["recipients"] == ["ana@example.com"]
    assert manifest["vendor_status"] == [
        {"recipient": "ana@example.com", "code": "14", "text": "Entregado y certificado", "csv": f"SBX{mid:012d}"}
    ]
    assert manifest["csv_rows"][0]["idMensaje"] == str(mid)
    assert manifest["provider"] == {"name": "airflow-provider-mensatek", "version": __version__}
    assert manifest["source"]["function"] == CERT_FUNCTION
    assert manifest["source"]["content_type"] == "application/zip"
    assert manifest["downloaded_at"].endswith("Z")
    pdf = next(f for f in manifest["files"] if f["path"].endswith(".pdf"))
    assert (folder / pdf["path"]).read_bytes().startswith(b"%PDF-")
    assert pdf["size"] == (folder / pdf["path"]).stat().st_size
    json.dumps(result)
    assert MENSATEK_TOKEN not in json.dumps(result)


def test_rerun_is_a_no_op(tmp_path, sandbox, mensatek_client):
    mid = certified_message(mensatek_client, sandbox)
    first = operator(tmp_path, [mid]).execute({})
    snapshot = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in tmp_path.rglob("*") if p.is_file()}
    again = operator(tmp_path, [mid]).execute({})
    assert again["archives"][0]["status"] == "unchanged"
    assert again["archives"][0]["manifest"] == first["archives"][0]["manifest"]
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in tmp_path.rglob("*") if p.is_file()} == snapshot


def test_not_ready_is_retryable_and_writes_nothing(tmp_path, sandbox, mensatek_client):
    mid = certified_message(mensatek_client, sandbox, ready=False)
    with pytest.raises(CertificateNotReadyError, match=rf"\[{mid}\].*will be retried") as caught:
        operator(tmp_path, mid).execute({})
    assert caught.value.retryable
    assert not isinstance(caught.value, AirflowFailException)
    assert len(sandbox.requests_to(CERT_FUNCTION)) == 1
    assert files_under(tmp_path) == []


def test_ready_ids_are_archived_before_a_not_ready_one_triggers_the_retry(tmp_path, sandbox, mensatek_client):
    ready = certified_message(mensatek_client, sandbox)
    late = certified_message(mensatek_client, sandbox, ready=False, email="luis@example.com")
    with pytest.raises(CertificateNotReadyError, match=rf"\[{late}\] \(1 other\(s\) archived\)"):
        operator(tmp_path, [ready, late]).execute({})
    assert (tmp_path / f"mensatek/certified_email/{ready}/manifest.json").exists()
    assert not (tmp_path / f"mensatek/certified_email/{late}").exists()
    sandbox.clock.advance(4 * sandbox.step_seconds)
    result = operator(tmp_path, [ready, late]).execute({})
    assert [a["status"] for a in result["archives"]] == ["unchanged", "written"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (crafted.traversal_zip(), "escapes its folder"),
        (crafted.absolute_zip(), "absolute name"),
        (crafted.symlink_zip(), "symbolic link"),
        (crafted.bomb_zip(), "ZIP bomb"),
        (crafted.truncated_zip(), "Corrupt or truncated ZIP"),
        (crafted.corrupt_crc_zip(), "CRC"),
        (crafted.non_pdf_zip(), "not a PDF"),
        (crafted.json_error_body(), "JSON error body"),
        (crafted.file_and_folder_zip(), "is a file and also the folder of"),
        (crafted.nfc_nfd_twins_zip(), "differ only in case or Unicode normalisation"),
        (crafted.control_character_zip(), "control or bidi characters"),
        (crafted.bidi_override_zip(), r"control or bidi characters \(U\+202E\)"),
        (crafted.planted_manifest_zip(), "reserved for the manifest"),
        (crafted.spread_bomb_zip(), "for the whole archive"),
    ],
    ids=["traversal", "absolute", "symlink", "bomb", "truncated", "crc", "non-pdf", "json-error-body",
         "file-and-folder", "nfc-nfd-twins", "control-character", "bidi-override", "planted-manifest",
         "spread-bomb"],
)
def test_hostile_archive_fails_clearly_and_leaves_nothing(tmp_path, sandbox, body, fragment):
    content_type = "application/json" if body.startswith(b"{") else "application/zip"
    sandbox.mensatek.stores["certificate_responses"] = {"4242": SandboxResponse(200, body, content_type)}
    lake = tmp_path / "lake"
    lake.mkdir()
    with pytest.raises(AirflowFailException, match=fragment):
        operator(lake, 4242).execute({})
    assert len(sandbox.requests_to(CERT_FUNCTION)) == 1
    assert files_under(lake) == []


def test_vendor_refusal_fails_without_retry(tmp_path, sandbox):
    with pytest.raises(AirflowFailException, match=r"\(code -2\)"):
        operator(tmp_path, 99999).execute({})
    assert files_under(tmp_path) == []


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"message_ids": "abc"}, "message id"),
        ({"message_ids": []}, "empty"),
        ({"message_ids": 0}, "message id"),
        ({"message_ids": 5, "layout": "../{id}"}, "unsafe folder"),
        ({"message_ids": 5, "layout": "{vendor}/{nope}"}, "not valid"),
        ({"message_ids": 5, "destination": "relative/lake"}, "absolute path"),
    ],
)
def test_bad_input_makes_no_request(tmp_path, sandbox, kwargs, fragment):
    kwargs = {"destination": f"file://{tmp_path}", **kwargs}
    op = MensatekDownloadCertificatesOperator(task_id="archive", **kwargs)
    with pytest.raises(AirflowFailException, match=fragment):
        op.execute({})
    assert len(sandbox.requests) == 0


def test_rendered_xcom_list_text_is_accepted(tmp_path, sandbox, mensatek_client):
    mid = certified_message(mensatek_client, sandbox)
    result = operator(tmp_path, f"[{mid}, {mid}]").execute({})
    assert [a["id"] for a in result["archives"]] == [mid]


def test_different_content_is_refused_then_overwritten_on_request(tmp_path, sandbox):
    responses = sandbox.mensatek.stores["certificate_responses"] = {}
    responses["77"] = SandboxResponse(200, crafted.good_zip("first"), "application/zip")
    operator(tmp_path, 77).execute({})
    responses["77"] = SandboxResponse(200, crafted.good_zip("second"), "application/zip")
    with pytest.raises(AirflowFailException, match="already holds a different certificate set"):
        operator(tmp_path, 77).execute({})
    result = operator(tmp_path, 77, overwrite=True).execute({})
    archived = result["archives"][0]
    assert archived["status"] == "overwritten"
    assert archived["previous_manifest_path"].startswith(f"file://{tmp_path}/mensatek/certified_email/77/manifest.")


def test_custom_layout_and_object_storage_path_destination(tmp_path, sandbox):
    sandbox.mensatek.stores["certificate_responses"] = {
        "88": SandboxResponse(200, crafted.good_zip(), "application/zip")
    }
    op = MensatekDownloadCertificatesOperator(
        task_id="archive",
        message_ids=[88],
        destination=ObjectStoragePath(f"file://{tmp_path}"),
        layout="evidence/{vendor}-{id}",
    )
    assert [o.uri for o in op.outlets] == [f"file://{tmp_path}/evidence/mensatek-"]
    op.execute({})
    assert (tmp_path / "evidence/mensatek-88/manifest.json").exists()


def test_outlets_and_retry_defaults(tmp_path):
    op = operator(tmp_path, 1)
    assert op.outlets == [Asset(uri=f"file://{tmp_path}/mensatek/certified_email")]
    assert (op.retries, op.retry_delay) == (6, timedelta(minutes=10))
    templated = MensatekDownloadCertificatesOperator(
        task_id="t", message_ids=1, destination="{{ var.value.lake }}", retries=1
    )
    assert templated.outlets == [] and templated.retries == 1
    with DAG("d", default_args={"retries": 2}, schedule=None):
        from_dag = operator(tmp_path, 1)
    assert from_dag.retries == 2


def test_token_never_logged(tmp_path, sandbox, mensatek_client, caplog):
    caplog.set_level(logging.DEBUG)
    mid = certified_message(mensatek_client, sandbox)
    operator(tmp_path, mid).execute({})
    assert MENSATEK_TOKEN not in caplog.text
