"""LegallyMailDownloadCertificatesOperator against the sandbox: emails, signatures, SMS into a file:// lake."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_mensatek.certificates.verify import verify_manifest
from airflow_provider_mensatek.clients.errors import CertificateNotReadyError
from airflow_provider_mensatek.hooks.legallymail import LegallyMailHook
from airflow_provider_mensatek.object_storage import to_storage_path
from airflow_provider_mensatek.operators.certificates import LegallyMailDownloadCertificatesOperator
from airflow_provider_mensatek.sandbox import Fault, Sandbox
from airflow_provider_mensatek.sandbox.pdf import make_pdf
from tests.conftest import LEGALLYMAIL_TOKEN
from tests.sandbox_clock import legallymail_conn, sandbox_clock  # noqa: F401  (fixtures)

pytestmark = pytest.mark.usefixtures("legallymail_conn")


@pytest.fixture
def client():
    with LegallyMailHook().get_conn() as c:
        yield c


def archive(lake: Path, kind: str, ids, **kwargs):
    op = LegallyMailDownloadCertificatesOperator(
        task_id="archive", kind=kind, ids=ids, destination=f"file://{lake}", **kwargs
    )
    return op.execute({})


def files_under(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def assert_bearer_only(sandbox: Sandbox) -> None:
    for request in sandbox.requests:
        assert request.headers["authorization"] == f"Bearer {LEGALLYMAIL_TOKEN}"
        assert LEGALLYMAIL_TOKEN not in json.dumps(request.query)


def test_certified_email_certificates_per_recipient(tmp_path, sandbox, client):
    sent = client.send_certified_email(["ana@example.com", "unread.luis@example.com"], "Aviso", "<p>Texto</p>")
    sandbox.clock.advance(3 * sandbox.step_seconds)
    sandbox.clear_requests()

    result = archive(tmp_path, "certified_email", sent.tracking_id)

    folder = tmp_path / "legallymail" / "certified_email" / sent.tracking_id
    assert files_under(folder) == [
        "manifest.json",
        "recipients",
        "recipients/ana@example.com",
        "recipients/ana@example.com/delivered.pdf",
        "recipients/ana@example.com/read.pdf",
        "recipients/unread.luis@example.com",
        "recipients/unread.luis@example.com/delivered.pdf",
    ]
    (status_call,) = sandbox.requests_to("/legallymail/api/email")
    assert (status_call.method, status_call.query) == ("GET", {"tracking_id": sent.tracking_id})
    downloads = sandbox.requests_to("/emails/download-certificate")
    assert sorted(r.query["status"] for r in downloads) == ["delivered", "delivered", "read"]
    assert_bearer_only(sandbox)

    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["vendor"] == "legallymail" and manifest["kind"] == "certified_email"
    assert manifest["ids"] == {"tracking_id": sent.tracking_id}
    assert manifest["recipients"] == ["ana@example.com", "unread.luis@example.com"]
    assert manifest["vendor_status"]["recipients"][0]["status"] == "read"
    read_pdf = (folder / "recipients/ana@example.com/read.pdf").read_bytes()
    assert read_pdf.startswith(b"%PDF-")
    assert manifest["vendor_hashes"]["recipients/ana@example.com/read.pdf"] == {
        "published": hashlib.sha256(read_pdf).hexdigest(), "sha256_matches": True}
    assert result["archives"][0]["status"] == "written"
    assert verify_manifest(to_storage_path(str(folder / "manifest.json"))).ok
    assert LEGALLYMAIL_TOKEN not in json.dumps(result)

    again = archive(tmp_path, "certified_email", [sent.tracking_id])
    assert again["archives"][0]["status"] == "unchanged"


def test_signature_document_acta_and_record(tmp_path, sandbox, client):
    document = make_pdf(["Contrato de servicios"])
    requested = client.request_signature(
        document, [{"name": "Ana", "email": "ana@example.com"}], document_name="Contrato.pdf"
    )
    sandbox.clock.advance(2 * sandbox.step_seconds)

    result = archive(tmp_path, "signature", requested.uuid)

    folder = tmp_path / "legallymail" / "signature" / requested.uuid
    assert sorted(p.name for p in folder.rglob("*") if p.is_file()) == [
        "Contrato.pdf",
        "acta.pdf",
        "manifest.json",
        "signature.json",
    ]
    assert (folder / "document/Contrato.pdf").read_bytes() == document
    record = json.loads((folder / "signature.json").read_text())
    assert record["uuid"] == requested.uuid and record["status"] == "signed"
    manifest = result["archives"][0]["manifest"]
    assert manifest["ids"] == {"uuid": requested.uuid} and manifest["recipients"] == ["ana@example.com"]
    assert manifest["vendor_hashes"] == {
        "document/Contrato.pdf": {"published": hashlib.sha256(document).hexdigest(), "sha256_matches": True},
        "acta.pdf": {"published": hashlib.sha256((folder / "acta.pdf").read_bytes()).hexdigest(),
                     "sha256_matches": True},
    }
    assert_bearer_only(sandbox)


def test_certified_sms_certificate(tmp_path, sandbox, client):
    sms = client.send_certified_sms("+34600000001", "Aviso certificado")
    sandbox.clock.advance(3 * sandbox.step_seconds)
    result = archive(tmp_path, "certified_sms", sms.uuid)
    folder = tmp_path / "legallymail" / "certified_sms" / sms.uuid
    assert sorted(p.name for p in folder.iterdir()) == ["certificate.pdf", "manifest.json"]
    assert result["archives"][0]["manifest"]["recipients"] == ["+34600000001"]


def test_not_signed_yet_is_retryable_and_writes_nothing(tmp_path, sandbox, client):
    requested = client.request_signature(
        make_pdf(["x"]), [{"name": "Ana", "email": "ana@example.com"}], document_name="Contrato.pdf"
    )
    sms = client.send_certified_sms("+34600000002", "Aviso")
    with pytest.raises(CertificateNotReadyError, match="not generated yet") as caught:
        archive(tmp_path, "signature", requested.uuid)
    assert caught.value.retryable
    with pytest.raises(CertificateNotReadyError):
        archive(tmp_path, "certified_sms", sms.uuid)
    assert files_under(tmp_path) == []


@pytest.mark.parametrize(
    ("kind", "make"),
    [
        (
            "signature",
            lambda c: (
                c.request_signature(
                    make_pdf(["x"]), [{"name": "R", "email": "reject.r@example.com"}], document_name="C.pdf"
                ).uuid
            ),
        ),
        ("certified_sms", lambda c: c.send_certified_sms("+34600000999", "Aviso").uuid),
        ("certified_email", lambda c: c.send_certified_email(["bounce.b@example.com"], "A", "<p>B</p>").tracking_id),
    ],
)
def test_final_failures_fail_the_task(tmp_path, sandbox, client, kind, make):
    ident = make(client)
    sandbox.clock.advance(3 * sandbox.step_seconds)
    with pytest.raises(AirflowFailException, match="there is no certificate to archive"):
        archive(tmp_path, kind, ident)
    assert files_under(tmp_path) == []


def test_error_body_instead_of_a_pdf_leaves_nothing(tmp_path, sandbox, client):
    sent = client.send_certified_email(["ana@example.com"], "Aviso", "<p>Texto</p>")
    sandbox.clock.advance(3 * sandbox.step_seconds)
    sandbox.inject(
        "/emails/download-certificate",
        Fault(kind="status", status=200, body='{"success": false, "message": "Certificado no disponible"}'),
    )
    with pytest.raises(AirflowFailException, match="Certificado no disponible"):
        archive(tmp_path, "certified_email", sent.tracking_id)
    assert files_under(tmp_path) == []


def test_a_pdf_that_does_not_match_the_published_hash_is_refused(tmp_path, sandbox, client, monkeypatch):
    sent = client.send_certified_email(["ana@example.com"], "Aviso", "<p>Texto</p>")
    sandbox.clock.advance(3 * sandbox.step_seconds)
    files_app = sandbox.app("/legallymail/files")
    real_find = type(files_app)._find
    # The sandbox always serves what it hashed; swapping the bytes in transit needs this hook.
    monkeypatch.setattr(type(files_app), "_find", lambda self, *a: (real_find(self, *a)[0], make_pdf(["forged"])))
    with pytest.raises(AirflowFailException, match=r"differs from the .* the API published") as caught:
        archive(tmp_path, "certified_email", sent.tracking_id)
    assert caught.value.__cause__.code == "hash-mismatch"
    assert files_under(tmp_path) == []


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"kind": "fax", "ids": "x"}, "kind must be one of"),
        ({"kind": "signature", "ids": []}, "empty"),
        ({"kind": "signature", "ids": "bad id/../x"}, "id"),
        ({"kind": "signature", "ids": "abc", "layout": "/{id}"}, "unsafe folder"),
    ],
)
def test_bad_input_makes_no_request(tmp_path, sandbox, kwargs, fragment):
    op = LegallyMailDownloadCertificatesOperator(task_id="archive", destination=f"file://{tmp_path}", **kwargs)
    with pytest.raises(AirflowFailException, match=fragment):
        op.execute({})
    assert len(sandbox.requests) == 0


def test_outlet_and_token_never_logged(tmp_path, sandbox, client, caplog):
    caplog.set_level(logging.DEBUG)
    op = LegallyMailDownloadCertificatesOperator(task_id="a", kind="signature", ids="x", destination=str(tmp_path))
    assert [o.uri for o in op.outlets] == [f"file://{tmp_path}/legallymail/signature"]
    sms = client.send_certified_sms("+34600000003", "Aviso")
    sandbox.clock.advance(3 * sandbox.step_seconds)
    archive(tmp_path, "certified_sms", sms.uuid)
    assert LEGALLYMAIL_TOKEN not in caplog.text


def test_the_acta_hash_is_recorded_but_not_enforced(tmp_path, sandbox, client, monkeypatch):
    # What signed_document_hash covers is undocumented: a different acta is archived, and the manifest says so.
    sent = client.request_signature(make_pdf(["contrato"]), [{"name": "Ana", "email": "ana@example.com"}],
                                    document_name="Contrato.pdf")
    sandbox.clock.advance(5 * sandbox.step_seconds)
    files_app = sandbox.app("/legallymail/files")
    real_find = type(files_app)._find

    def forged_acta(self, *args):
        found, data = real_find(self, *args)
        return (found, make_pdf(["acta distinta"])) if "acta" in str(args) else (found, data)

    monkeypatch.setattr(type(files_app), "_find", forged_acta)
    result = archive(tmp_path, "signature", sent.uuid)
    manifest = result["archives"][0]["manifest"]
    assert manifest["vendor_hashes"]["acta.pdf"]["sha256_matches"] is False
    assert manifest["vendor_hashes"]["document/Contrato.pdf"]["sha256_matches"] is True


def test_a_multi_recipient_email_is_archived_only_when_every_recipient_has_its_certificate(
    tmp_path, sandbox, client
):
    sent = client.send_certified_email(["ana@example.com", "slow.luis@example.com"], "Aviso", "<p>Texto</p>")
    sandbox.clock.advance(1.5 * sandbox.step_seconds)  # Ana has her delivery certificate, Luis nothing yet
    with pytest.raises(CertificateNotReadyError, match="not generated yet"):
        archive(tmp_path, "certified_email", sent.tracking_id)
    assert files_under(tmp_path) == []
    sandbox.clock.advance(2 * sandbox.step_seconds)
    result = archive(tmp_path, "certified_email", sent.tracking_id)
    paths = {f["path"] for f in result["archives"][0]["manifest"]["files"]}
    assert any("ana@example.com" in p for p in paths) and any("slow.luis@example.com" in p for p in paths)


def sha10(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:10]


def test_recipients_whose_addresses_give_one_folder_each_get_their_own(tmp_path, sandbox, client):
    # "/" and "=" both become "_": without a suffix both recipients would write recipients/a_b@example.com/.
    sent = client.send_certified_email(["a/b@example.com", "a=b@example.com"], "Aviso", "<p>Texto</p>")
    sandbox.clock.advance(3 * sandbox.step_seconds)

    result = archive(tmp_path, "certified_email", sent.tracking_id)

    folder = tmp_path / "legallymail" / "certified_email" / sent.tracking_id
    slash = "a_b@example.com~" + hashlib.sha256(b"a/b@example.com").hexdigest()[:8]
    equals = "a_b@example.com~" + hashlib.sha256(b"a=b@example.com").hexdigest()[:8]
    assert sorted(p.name for p in (folder / "recipients").iterdir()) == sorted([slash, equals])
    assert len(sandbox.requests_to("/emails/download-certificate")) == 4
    assert b"a/b@example.com" in (folder / "recipients" / slash / "delivered.pdf").read_bytes()
    assert b"a=b@example.com" in (folder / "recipients" / equals / "delivered.pdf").read_bytes()
    assert len(result["archives"][0]["manifest"]["files"]) == 4
    assert verify_manifest(to_storage_path(str(folder / "manifest.json"))).ok
    assert archive(tmp_path, "certified_email", sent.tracking_id)["archives"][0]["status"] == "unchanged"


def edit_email_answers(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, edit) -> None:
    """``GET /email`` answers what ``edit(recipient view)`` makes of each recipient; downloads are unchanged."""
    api = sandbox.app("/legallymail/api")
    real_view = type(api).email_view

    def view(self, email):
        out = real_view(self, email)
        out["recipients"] = [edit(rec) for rec in out["recipients"]]
        return out

    monkeypatch.setattr(type(api), "email_view", view)


def reissued(tracking_id: str) -> bytes:
    return make_pdf([f"Certificado de entrega reemitido {tracking_id}"])


def reissue_delivery_certificates(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    """The API lists a second, re-issued delivery certificate per recipient (the sandbox never does)."""

    def add_copy(rec):
        again = [{**c, "pdf_download_url": c["pdf_download_url"] + "&copy=2",
                  "file_hash": hashlib.sha256(reissued(rec["tracking_id"])).hexdigest()}
                 for c in rec["certificates"] if c["certificate_type"] == "delivered"]
        return {**rec, "certificates": rec["certificates"] + again}

    edit_email_answers(sandbox, monkeypatch, add_copy)
    files_app = sandbox.app("/legallymail/files")
    real_find = type(files_app)._find

    def find(self, app, path, request):
        found = real_find(self, app, path, request)
        if found is None or request.param("copy") != "2":
            return found
        return found[0], reissued(str(request.param("id")))

    monkeypatch.setattr(type(files_app), "_find", find)


def test_two_certificates_of_one_type_for_one_recipient_are_both_archived(tmp_path, sandbox, client, monkeypatch):
    sent = client.send_certified_email(["ana@example.com"], "Aviso", "<p>Texto</p>")
    sandbox.clock.advance(3 * sandbox.step_seconds)
    reissue_delivery_certificates(sandbox, monkeypatch)
    status = client.get_email(sent.tracking_id)
    original, again = (c for c in status.recipients[0].certificates if c.certificate_type == "delivered")
    sandbox.clear_requests()

    result = archive(tmp_path, "certified_email", sent.tracking_id)

    folder = tmp_path / "legallymail" / "certified_email" / sent.tracking_id / "recipients" / "ana@example.com"
    names = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert sorted(names) == sorted([f"delivered~{original.file_hash[:10]}.pdf", f"delivered~{again.file_hash[:10]}.pdf",
                                    "read.pdf"])
    assert {sha10(data) for name, data in names.items() if name.startswith("delivered~")} == {
        original.file_hash[:10], again.file_hash[:10]}
    # A one-recipient email also lists its certificates at send level (delivered.pdf, read.pdf at the top).
    downloads = sandbox.requests_to("/emails/download-certificate")
    assert sorted(r.query.get("copy", "-") for r in downloads) == ["-", "-", "-", "-", "2"]
    manifest = result["archives"][0]["manifest"]
    assert all(v["sha256_matches"] for v in manifest["vendor_hashes"].values())
    assert verify_manifest(to_storage_path(str(folder.parent.parent / "manifest.json"))).ok
    assert archive(tmp_path, "certified_email", sent.tracking_id)["archives"][0]["status"] == "unchanged"


def test_certificates_without_a_type_are_each_archived(tmp_path, sandbox, client, monkeypatch):
    sent = client.send_certified_email(["ana@example.com"], "Aviso", "<p>Texto</p>")
    sandbox.clock.advance(3 * sandbox.step_seconds)
    edit_email_answers(sandbox, monkeypatch, lambda rec: {
        **rec, "certificates": [{**c, "certificate_type": None} for c in rec["certificates"]]})
    hashes = [c.file_hash for c in client.get_email(sent.tracking_id).recipients[0].certificates]

    archive(tmp_path, "certified_email", sent.tracking_id)

    folder = tmp_path / "legallymail" / "certified_email" / sent.tracking_id
    assert sorted(p.name for p in (folder / "recipients" / "ana@example.com").iterdir()) == sorted(
        f"certificate~{h[:10]}.pdf" for h in hashes)
    assert verify_manifest(to_storage_path(str(folder / "manifest.json"))).ok
