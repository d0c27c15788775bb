"""LegallyMail certified email (clients/legallymail/email.py) against the sandbox over real HTTP."""

from __future__ import annotations

import base64

import requests

from airflow_provider_mensatek.clients.legallymail.client import LegallyMailClient
from airflow_provider_mensatek.delivery.statuses import vendor_state
from airflow_provider_mensatek.sandbox import Sandbox
from tests.clients.legallymail.support import assert_bearer_only
from tests.conftest import LEGALLYMAIL_TOKEN
from tests.legallymail_support import PDF


def test_send_certified_email_posts_the_documented_body(client: LegallyMailClient, sandbox: Sandbox) -> None:
    result = client.send_certified_email(
        ["ana@example.com", "bob@example.com"], "Contract", "<h1>Hello</h1>",
        reply_to="legal@example.com", reply_to_name="Legal",
        attachments=[{"filename": "terms.pdf", "content": PDF, "mime_type": "application/pdf"},
                     {"name": "notes.txt", "content": b"hi"}],
    )
    [req] = sandbox.requests
    assert (req.method, req.path) == ("POST", "/legallymail/api/send")
    assert req.content_type.startswith("application/json")
    assert_bearer_only(req)
    assert req.params["recipient"] == "ana@example.com, bob@example.com"
    assert req.params["subject"] == "Contract"
    assert req.params["message"] == "<h1>Hello</h1>"
    assert req.params["reply_to"] == "legal@example.com"
    assert req.params["reply_to_name"] == "Legal"
    assert req.params["attachments"] == [
        {"filename": "terms.pdf", "content": base64.b64encode(PDF).decode(), "mime_type": "application/pdf"},
        {"filename": "notes.txt", "content": base64.b64encode(b"hi").decode(), "mime_type": "text/plain"},
    ]
    assert "token" not in req.params
    assert result.success_count == 2 and result.fail_count == 0
    assert result.tracking_id and result.tracking_id.startswith("cm_")
    assert set(result.tracking_ids) == {"ana@example.com", "bob@example.com"}
    assert result.to_dict()["recipients"][0]["status"] == "sent"


def test_partial_failure_is_reported_per_recipient(client: LegallyMailClient) -> None:
    result = client.send_certified_email("ana@example.com, fail@example.com", "S", "<p>m</p>")
    assert (result.success_count, result.fail_count) == (1, 1)
    assert result.tracking_ids == {"ana@example.com": result.recipients[0].tracking_id}
    assert result.recipients[1].status == "failed" and result.recipients[1].error_details


def test_email_status_advances_and_certificates_download(
    client: LegallyMailClient, sandbox: Sandbox
) -> None:
    sent = client.send_certified_email(["ana@example.com", "unread@example.com"], "S", "<p>m</p>")
    assert sent.tracking_id is not None
    assert client.get_email(sent.tracking_id).status == "sent"
    sandbox.clock.advance(sandbox.step_seconds)
    assert [r.status for r in client.get_email(sent.tracking_id).recipients] == ["delivered", "delivered"]
    sandbox.clock.advance(sandbox.step_seconds)
    status = client.get_email(sent.tracking_id)
    assert [r.status for r in status.recipients] == ["read", "delivered"]
    assert status.status == "delivered"  # the send stands where its least advanced recipient is
    assert vendor_state(status.recipients[0]).status.value == "read"
    req = sandbox.requests_to("/api/email")[-1]
    assert req.method == "GET" and req.query == {"tracking_id": sent.tracking_id}
    assert_bearer_only(req)
    [delivered, read] = status.recipients[0].certificates
    assert (delivered.certificate_type, read.certificate_type) == ("delivered", "read")
    assert read.pdf_download_url and read.pdf_download_url.startswith(sandbox.url + "/legallymail/files/")
    pdf = requests.get(read.pdf_download_url, headers={"Authorization": f"Bearer {LEGALLYMAIL_TOKEN}"},
                       timeout=5)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    assert requests.get(read.pdf_download_url, timeout=5).status_code == 401


def test_one_recipient_tracking_id_is_queryable(client: LegallyMailClient) -> None:
    sent = client.send_certified_email(["ana@example.com"], "S", "<p>m</p>")
    one = client.get_email(sent.tracking_ids["ana@example.com"])
    assert one.recipients[0].email == "ana@example.com"


def test_list_emails_passes_limit(client: LegallyMailClient, sandbox: Sandbox) -> None:
    client.send_certified_email(["ana@example.com"], "First", "<p>m</p>")
    client.send_certified_email(["bob@example.com"], "Second", "<p>m</p>")
    emails = client.list_emails(limit=1)
    assert [e.subject for e in emails] == ["Second"]
    req = sandbox.requests_to("/api/emails")[0]
    assert (req.method, req.query) == ("GET", {"limit": "1"})
