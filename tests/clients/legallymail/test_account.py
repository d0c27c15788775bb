"""LegallyMail account (clients/legallymail/account.py) against the sandbox over real HTTP."""

from __future__ import annotations

from airflow_provider_mensatek.clients.legallymail.client import LegallyMailClient
from airflow_provider_mensatek.sandbox import Sandbox
from tests.clients.legallymail.support import assert_bearer_only


def test_info(client: LegallyMailClient, sandbox: Sandbox) -> None:
    info = client.get_info()
    assert info.remaining_emails == 100 and info.plan == "professional"
    [req] = sandbox.requests
    assert (req.method, req.path) == ("GET", "/legallymail/api/info")
    assert_bearer_only(req)
