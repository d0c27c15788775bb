"""LegallyMail e-signature (clients/legallymail/signature.py) against the sandbox over real HTTP."""

from __future__ import annotations

import base64

import pytest
import requests

from airflow_provider_mensatek.clients.legallymail.checks import Signer
from airflow_provider_mensatek.clients.legallymail.client import LegallyMailClient
from airflow_provider_mensatek.delivery.statuses import vendor_state
from airflow_provider_mensatek.sandbox import Sandbox
from tests.clients.legallymail.support import assert_bearer_only
from tests.conftest import LEGALLYMAIL_TOKEN
from tests.legallymail_support import PDF


def test_request_signature_from_two_signers(client: LegallyMailClient, sandbox: Sandbox) -> None:
    result = client.request_signature(
        PDF, [{"name": "Ana", "email": "ana@example.com"},
              Signer("Bob", "bob@example.com", "0034 600-000-000")],
        document_name="Contract.pdf", language="en",
    )
    [req] = sandbox.requests
    assert (req.method, req.path) == ("POST", "/legallymail/api/signature/send")
    assert_bearer_only(req)
    assert req.params["signers"] == [{"name": "Ana", "email": "ana@example.com"},
                                     {"name": "Bob", "email": "bob@example.com", "phone": "+34600000000"}]
    assert base64.b64decode(req.params["document"]) == PDF
    assert (req.params["document_name"], req.params["language"]) == ("Contract.pdf", "en")
    assert result.status == "pending" and result.uuid
    status = client.get_signature(result.uuid)
    assert sandbox.requests[-1].query == {"uuid": result.uuid}
    assert [s.status for s in status.signers] == ["pending", "pending"]
    sandbox.clock.advance(sandbox.step_seconds)
    assert [s.status for s in client.get_signature(result.uuid).signers] == ["signed", "pending"]
    sandbox.clock.advance(sandbox.step_seconds)
    signed = client.get_signature(result.uuid)
    assert signed.status == "signed" and signed.signed_at and signed.signed_document_hash
    assert vendor_state(signed).status.value == "signed"
    acta = requests.get(signed.download_acta_url or "", timeout=5,
                        headers={"Authorization": f"Bearer {LEGALLYMAIL_TOKEN}"})
    assert acta.content.startswith(b"%PDF-")


def test_single_signer_uses_the_flat_fields_and_a_path(client: LegallyMailClient, sandbox: Sandbox,
                                                       tmp_path: object) -> None:
    path = tmp_path / "nda.pdf"  # type: ignore[operator]
    path.write_bytes(PDF)
    client.allowed_roots = [tmp_path]  # type: ignore[list-item]
    result = client.request_signature(str(path), {"name": "Ana", "email": "ana@example.com", "phone": "+34611111111"})
    params = sandbox.requests[0].params
    assert {k: params[k] for k in ("signer_name", "signer_email", "signer_phone", "document_name", "language")} == {
        "signer_name": "Ana", "signer_email": "ana@example.com", "signer_phone": "+34611111111",
        "document_name": "nda.pdf", "language": "es"}
    assert "signers" not in params
    assert result.document_name == "nda.pdf"


@pytest.mark.parametrize(("local", "final"), [("reject.me", "rejected"), ("expire.me", "expired")])
def test_signature_rejected_and_expired_triggers(client: LegallyMailClient, sandbox: Sandbox, local: str,
                                                 final: str) -> None:
    uuid = client.request_signature(PDF, [{"name": "X", "email": f"{local}@example.com"}],
                                    document_name="c.pdf").uuid
    sandbox.clock.advance(10 * sandbox.step_seconds)
    assert client.get_signature(uuid).status == final
    assert client.list_signatures(limit=5)[0].status == final
    assert sandbox.requests_to("/api/signatures")[0].query == {"limit": "5"}
