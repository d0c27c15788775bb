"""The LegallyMail emulator itself, spoken to with raw HTTP: the documented behaviours a client never triggers."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import requests

from airflow_provider_mensatek.sandbox import Sandbox
from tests.conftest import LEGALLYMAIL_TOKEN
from tests.legallymail_support import PDF

BEARER = {"Authorization": f"Bearer {LEGALLYMAIL_TOKEN}"}


def call(sandbox: Sandbox, method: str, path: str, **kwargs: Any) -> requests.Response:
    kwargs.setdefault("headers", BEARER)
    return requests.request(method, f"{sandbox.legallymail_url}/{path}", timeout=5, **kwargs)


@pytest.mark.parametrize("auth", [{"headers": {"Authorization": LEGALLYMAIL_TOKEN}},
                                  {"headers": {}, "json": {"token": LEGALLYMAIL_TOKEN}}])
def test_the_other_documented_token_forms_are_accepted(sandbox: Sandbox, auth: dict[str, Any]) -> None:
    assert call(sandbox, "GET", "info", **auth).status_code == 200


def test_bad_or_missing_token_is_401_with_success_false(sandbox: Sandbox) -> None:
    for headers in ({"Authorization": "Bearer nope"}, {}):
        answer = call(sandbox, "GET", "info", headers=headers)
        assert answer.status_code == 401 and answer.json()["success"] is False


def test_wrong_method_is_405_and_unknown_path_404(sandbox: Sandbox) -> None:
    assert call(sandbox, "GET", "send").status_code == 405
    assert call(sandbox, "GET", "nowhere").status_code == 404


def test_limit_is_mandatory_and_bounded(sandbox: Sandbox) -> None:
    for query in ("", "?limit=0", "?limit=26", "?limit=x"):
        answer = call(sandbox, "GET", f"emails{query}")
        assert answer.status_code == 400 and answer.json()["success"] is False
    assert call(sandbox, "GET", "signatures?limit=25").json() == {"success": True, "data": []}


def test_vendor_side_validation(sandbox: Sandbox) -> None:
    doc = base64.b64encode(PDF).decode()
    six = [{"name": f"S{i}", "email": f"s{i}@example.com"} for i in range(6)]
    bad = [
        ("send", {"recipient": "a@example.com", "subject": "S"}),
        ("send", {"recipient": ", ".join(f"u{i}@example.com" for i in range(11)), "subject": "S", "message": "m"}),
        ("signature/send", {"signers": six, "document": doc, "document_name": "c.pdf"}),
        ("signature/send", {"signer_name": "A", "signer_email": "a@example.com",
                            "document": base64.b64encode(b"text").decode(), "document_name": "c.pdf"}),
        ("signature/send", {"signer_name": "A", "signer_email": "a@example.com", "document": doc,
                            "document_name": "c.pdf", "language": "de"}),
        ("sms/send", {"phone": "+34600000000", "message": "x" * 301}),
        ("sms/send", {"phone": "600", "message": "x"}),
    ]
    for path, body in bad:
        answer = call(sandbox, "POST", path, json=body)
        assert answer.status_code == 400, (path, body)
        assert answer.json()["success"] is False and answer.json()["message"]
    assert sandbox.app("/legallymail/api").emails == {}


def test_aliases_to_body_and_text_are_accepted(sandbox: Sandbox) -> None:
    sent = call(sandbox, "POST", "send", json={"to": "a@example.com", "subject": "S", "body": "<p>m</p>"})
    assert sent.json()["data"]["success_count"] == 1
    sms = call(sandbox, "POST", "sms/send", json={"recipient": "+34600000000", "text": "hi"}).json()
    assert call(sandbox, "GET", f"sms?id={sms['uuid']}").json()["data"]["status"] == "sent"


def test_ten_requests_a_minute_per_token_then_429_with_retry_after(sandbox: Sandbox) -> None:
    for _ in range(10):
        assert call(sandbox, "GET", "info").status_code == 200
    sandbox.clock.advance(20)
    limited = call(sandbox, "GET", "info")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "40"
    assert limited.json()["success"] is False
    sandbox.clock.advance(40)
    assert call(sandbox, "GET", "info").status_code == 200


def test_the_limit_can_be_raised_or_switched_off_for_other_tests(sandbox: Sandbox) -> None:
    sandbox.app("/legallymail/api").requests_per_minute = None
    assert all(call(sandbox, "GET", "info").status_code == 200 for _ in range(15))


def test_no_credits_is_403_that_names_credits(sandbox: Sandbox) -> None:
    app = sandbox.app("/legallymail/api")
    app.remaining_emails, app.sms_credits = 0, 0
    for path, body in (("send", {"recipient": "a@example.com", "subject": "S", "message": "m"}),
                       ("sms/send", {"phone": "+34600000000", "message": "hi"})):
        answer = call(sandbox, "POST", path, json=body)
        assert answer.status_code == 403 and "créditos" in answer.json()["message"]


def test_sms_timeline_and_failure_trigger(sandbox: Sandbox) -> None:
    ok = call(sandbox, "POST", "sms/send", json={"phone": "+34600000000", "message": "hi"}).json()["uuid"]
    bad = call(sandbox, "POST", "sms/send", json={"phone": "+34600000999", "message": "hi"}).json()["uuid"]
    sandbox.clock.advance(sandbox.step_seconds)
    assert call(sandbox, "GET", f"sms?uuid={ok}").json()["data"]["status"] == "delivered"
    failed = call(sandbox, "GET", f"sms?uuid={bad}").json()["data"]
    assert failed["status"] == "failed" and failed["failed_at"] and failed["download_certificate_url"] is None


def test_files_need_the_token(sandbox: Sandbox) -> None:
    doc = base64.b64encode(PDF).decode()
    sig = call(sandbox, "POST", "signature/send", json={"signer_name": "A", "signer_email": "a@example.com",
                                                         "document": doc, "document_name": "c.pdf"}).json()
    url = call(sandbox, "GET", f"signature?uuid={sig['data']['uuid']}").json()["data"]["download_original_url"]
    assert requests.get(url, timeout=5).status_code == 401
    assert requests.get(url, headers=BEARER, timeout=5).content == PDF


def test_the_sandbox_url_is_valid_on_ipv6_loopback() -> None:
    from airflow_provider_mensatek.sandbox import Sandbox as _Sandbox

    assert _Sandbox(host="::1", port=8765).url == "http://[::1]:8765"
