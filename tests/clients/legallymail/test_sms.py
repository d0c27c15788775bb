"""LegallyMail certified SMS (clients/legallymail/sms.py) against the sandbox over real HTTP."""

from __future__ import annotations

from airflow_provider_mensatek.clients.legallymail.client import LegallyMailClient
from airflow_provider_mensatek.delivery.statuses import vendor_state
from airflow_provider_mensatek.sandbox import Sandbox
from tests.clients.legallymail.support import assert_bearer_only


def test_certified_sms(client: LegallyMailClient, sandbox: Sandbox) -> None:
    sent = client.send_certified_sms("+34 600 000 000", "Your code is 1234")
    [req] = sandbox.requests
    assert (req.method, req.path) == ("POST", "/legallymail/api/sms/send")
    assert_bearer_only(req)
    assert req.params == {"phone": "+34600000000", "message": "Your code is 1234"}
    assert sent.status == "sent" and sent.credits_deducted == 1
    sandbox.clock.advance(2 * sandbox.step_seconds)
    status = client.get_sms(sent.uuid)
    assert sandbox.requests[-1].query == {"uuid": sent.uuid}
    assert status.status == "delivered" and status.ts_confirmed_at and status.download_certificate_url
    assert vendor_state(status).has_reached(vendor_state(status).status.CERTIFIED)
