"""LegallyMail input checks (clients/legallymail/checks.py): nothing invalid reaches the vendor."""

from __future__ import annotations

import pytest

from airflow_provider_mensatek.clients.errors import (
    InvalidRequestError,
    ValidationError,
)
from airflow_provider_mensatek.clients.legallymail.client import LegallyMailClient
from airflow_provider_mensatek.sandbox import Sandbox
from tests.conftest import LEGALLYMAIL_TOKEN
from tests.legallymail_support import PDF, FakeTime, make_client

TOO_BIG_PDF = b"%PDF-1.4\n" + b"0" * (10 * 1024 * 1024)


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.send_certified_email(["not-an-email"], "S", "m"),
        lambda c: c.send_certified_email([f"u{i}@example.com" for i in range(11)], "S", "m"),
        lambda c: c.send_certified_email(["a@example.com", "A@example.com"], "S", "m"),
        lambda c: c.send_certified_email([], "S", "m"),
        lambda c: c.send_certified_email(["a@example.com"], "", "m"),
        lambda c: c.send_certified_email(["a@example.com"], "S", "m", reply_to="nope"),
        lambda c: c.send_certified_email(["a@example.com"], "S", "m", attachments=[{"name": "e.txt", "content": b""}]),
        lambda c: c.send_certified_email(["a@example.com"], "S", "m",
                                         attachments=[{"name": "a.txt", "content": b"x", "mime_type": "bad"}]),
        lambda c: c.request_signature(PDF, [{"name": f"S{i}", "email": f"s{i}@example.com"} for i in range(6)],
                                      document_name="c.pdf"),
        lambda c: c.request_signature(b"PK\x03\x04 not a pdf", [{"name": "A", "email": "a@example.com"}],
                                      document_name="c.pdf"),
        lambda c: c.request_signature(TOO_BIG_PDF, [{"name": "A", "email": "a@example.com"}], document_name="c.pdf"),
        lambda c: c.request_signature(PDF, [{"name": "A", "email": "a@example.com"}], document_name="c.pdf",
                                      language="de"),
        lambda c: c.request_signature(PDF, [{"email": "a@example.com"}], document_name="c.pdf"),
        lambda c: c.request_signature(PDF, [{"name": "A", "email": "a@example.com", "phone": "600000000"}],
                                      document_name="c.pdf"),
        lambda c: c.request_signature(PDF, [{"name": "A", "email": "a@example.com"}]),
        lambda c: c.send_certified_sms("600000000", "hi"),
        lambda c: c.send_certified_sms("+34600000000", "x" * 301),
        lambda c: c.send_certified_sms("+34600000000", ""),
        lambda c: c.list_emails(limit=0),
        lambda c: c.list_signatures(limit=26),
        lambda c: c.get_email("cm 1; drop"),
        lambda c: c.get_signature(""),
        lambda c: c.get_sms(None),
    ],
)
def test_invalid_input_makes_no_request(client: LegallyMailClient, sandbox: Sandbox, call: object) -> None:
    with pytest.raises(ValidationError) as info:
        call(client)  # type: ignore[operator]
    assert info.value.vendor == "legallymail"
    assert len(sandbox.requests) == 0


def test_max_recipients_is_configurable_and_the_vendor_400_message_surfaces(
    sandbox: Sandbox, fake: FakeTime
) -> None:
    client = make_client(sandbox, LEGALLYMAIL_TOKEN, fake, max_recipients=12)
    with pytest.raises(InvalidRequestError) as info:
        client.send_certified_email([f"u{i}@example.com" for i in range(12)], "S", "m")
    assert info.value.code == 400 and "máximo 10" in str(info.value)
    assert len(sandbox.requests) == 1
