"""The LegallyMail call (clients/legallymail/_core.py): errors, rate limits, secrets, downloads."""

from __future__ import annotations

import io
import logging

import pytest

from airflow_provider_mensatek.clients._http.credentials import BearerAuth
from airflow_provider_mensatek.clients.errors import (
    AmbiguousSendError,
    AuthenticationError,
    ForbiddenError,
    InsufficientCreditsError,
    NotFoundError,
    RateLimitedError,
    ValidationError,
)
from airflow_provider_mensatek.clients.legallymail.client import LegallyMailClient
from airflow_provider_mensatek.sandbox import Fault, Sandbox
from tests.clients.legallymail.support import assert_bearer_only
from tests.conftest import LEGALLYMAIL_TOKEN
from tests.legallymail_support import PDF, FakeTime, make_client


def test_auth_failure_is_one_request_then_none(sandbox: Sandbox, fake: FakeTime) -> None:
    bad = make_client(sandbox, "wrong-token-123", fake)
    with pytest.raises(AuthenticationError):
        bad.get_info()
    with pytest.raises(AuthenticationError):
        bad.send_certified_email(["a@example.com"], "S", "m")
    with pytest.raises(AuthenticationError):
        make_client(sandbox, "wrong-token-123", fake).get_info()
    assert len(sandbox.requests) == 1
    assert fake.sleeps == []


def test_no_credits_is_insufficient_credits(client: LegallyMailClient, sandbox: Sandbox) -> None:
    sandbox.app("/legallymail/api").remaining_emails = 0
    with pytest.raises(InsufficientCreditsError) as info:
        client.send_certified_email(["a@example.com"], "S", "m")
    assert info.value.code == 403
    assert len(sandbox.requests) == 1


def test_plain_403_is_forbidden(client: LegallyMailClient, sandbox: Sandbox) -> None:
    sandbox.inject("/api/info", Fault(kind="status", status=403, body='{"success": false, "message": "API disabled"}'))
    with pytest.raises(ForbiddenError, match="API disabled"):
        client.get_info()


def test_unknown_tracking_id_is_not_found(client: LegallyMailClient) -> None:
    with pytest.raises(NotFoundError):
        client.get_email("cm_nope")


def test_drop_after_accept_on_send_is_ambiguous_and_not_retried(client: LegallyMailClient, sandbox: Sandbox) -> None:
    sandbox.inject("/api/send", Fault(kind="drop_after_accept"))
    with pytest.raises(AmbiguousSendError) as info:
        client.send_certified_email(["ana@example.com"], "Quarterly notice", "<p>m</p>")
    assert len(sandbox.requests_to("/api/send")) == 1
    assert len(sandbox.app("/legallymail/api").emails) == 1  # it did arrive
    assert "Quarterly notice" in str(info.value) and "NOT retried" in str(info.value)


@pytest.mark.parametrize("body", [
    '{"success": true, "data": {"tracking_id": "T1", "recipients": 2}}',
    '{"success": true, "data": ["x"]}',
    '{"success": true}',
    "<html>gateway</html>",
])
def test_an_accepted_send_with_an_unreadable_answer_is_ambiguous(
    client: LegallyMailClient, sandbox: Sandbox, body: str
) -> None:
    sandbox.inject("/api/send", Fault(kind="garble_after_accept", status=200, body=body))
    with pytest.raises(AmbiguousSendError) as info:
        client.send_certified_email(["ana@example.com"], "Aviso trimestral", "<p>m</p>")
    assert len(sandbox.requests_to("/api/send")) == 1
    assert len(sandbox.app("/legallymail/api").emails) == 1  # it did arrive
    assert "Aviso trimestral" in str(info.value)


@pytest.mark.parametrize("path", ["/api/signature/send", "/api/sms/send"])
def test_5xx_on_other_sends_is_ambiguous(client: LegallyMailClient, sandbox: Sandbox, path: str) -> None:
    sandbox.inject(path, Fault(kind="status", status=500))
    with pytest.raises(AmbiguousSendError):
        if "sms" in path:
            client.send_certified_sms("+34600000000", "hi")
        else:
            client.request_signature(PDF, [{"name": "A", "email": "a@example.com"}], document_name="c.pdf")
    assert len(sandbox.requests) == 1


def test_503_with_retry_after_on_send_is_retried(client: LegallyMailClient, sandbox: Sandbox,
                                                 fake: FakeTime) -> None:
    sandbox.inject("/api/send", Fault(kind="status", status=503, retry_after=7))
    client.send_certified_email(["ana@example.com"], "S", "m")
    assert len(sandbox.requests_to("/api/send")) == 2
    assert fake.sleeps == [7.0]


def test_5xx_on_a_read_is_retried(client: LegallyMailClient, sandbox: Sandbox) -> None:
    sandbox.inject("/api/info", Fault(kind="status", status=500))
    assert client.get_info().plan == "professional"
    assert len(sandbox.requests) == 2


def test_vendor_429_is_honoured_with_retry_after(sandbox: Sandbox, fake: FakeTime) -> None:
    sandbox.app("/legallymail/api").requests_per_minute = 2
    client = make_client(sandbox, LEGALLYMAIL_TOKEN, fake, per_minute=100)
    client.get_info()
    sandbox.clock.advance(15)
    client.get_info()
    client.get_info()  # 429 with Retry-After: 45 (the first request leaves the window then), then OK
    statuses = [r.path for r in sandbox.requests]
    assert len(statuses) == 4
    assert fake.sleeps == [45.0]


def test_long_retry_after_fails_instead_of_blocking(sandbox: Sandbox, fake: FakeTime) -> None:
    sandbox.inject("/api/info", Fault(kind="status", status=429, retry_after=600))
    client = make_client(sandbox, LEGALLYMAIL_TOKEN, fake)
    with pytest.raises(RateLimitedError) as info:
        client.get_info()
    assert info.value.retry_after == 600
    assert len(sandbox.requests) == 1


def test_limiter_waits_instead_of_collecting_429s(sandbox: Sandbox, fake: FakeTime) -> None:
    # The sandbox enforces the vendor's 10/min; the client must never trip it.
    client = make_client(sandbox, LEGALLYMAIL_TOKEN, fake, per_minute=10)
    for _ in range(25):
        client.get_info()
    assert len(sandbox.requests) == 25  # no 429 came back: every call went through once
    assert fake.sleeps == [60.0, 60.0]  # the limiter's waits, no Retry-After waits
    assert client.rate_limiter.waited == 120.0
    times = [r.at.timestamp() for r in sandbox.requests]
    assert all(sum(1 for t in times if start <= t < start + 60) <= 10 for start in times)


def test_clients_with_the_same_token_share_one_limiter(sandbox: Sandbox) -> None:
    one = LegallyMailClient(LEGALLYMAIL_TOKEN, base_url=sandbox.legallymail_url)
    two = LegallyMailClient(LEGALLYMAIL_TOKEN, base_url=sandbox.legallymail_url, requests_per_minute=4)
    other = LegallyMailClient("another-token", base_url=sandbox.legallymail_url)
    assert one.rate_limiter is two.rate_limiter and one.rate_limiter.per_minute == 4
    assert other.rate_limiter is not one.rate_limiter


def test_token_never_in_logs_reprs_or_errors(sandbox: Sandbox, fake: FakeTime,
                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client = make_client(sandbox, LEGALLYMAIL_TOKEN, fake)
    texts = [repr(client), repr(client.transport), repr(BearerAuth(LEGALLYMAIL_TOKEN)),
             str(client.transport.session.auth)]
    texts.append(repr(client.send_certified_email(["a@example.com"], "S", "m").to_dict()))
    sandbox.inject("/api/send", Fault(kind="drop_after_accept"))
    for exc_type, call in [
        (AmbiguousSendError, lambda: client.send_certified_email(["a@example.com"], "S", "m")),
        (NotFoundError, lambda: client.get_sms("nope")),
        (ValidationError, lambda: client.send_certified_sms("12", "x")),
    ]:
        with pytest.raises(exc_type) as info:
            call()
        texts += [str(info.value), repr(info.value)]
    bad = make_client(sandbox, LEGALLYMAIL_TOKEN + "x", fake)
    with pytest.raises(AuthenticationError) as auth:
        bad.get_info()
    texts.append(str(auth.value))
    assert caplog.records, "the transport should have logged the calls"
    for text in [*texts, caplog.text]:
        assert LEGALLYMAIL_TOKEN not in text


def test_plain_http_is_refused_for_a_remote_host() -> None:
    with pytest.raises(ValidationError):
        LegallyMailClient(LEGALLYMAIL_TOKEN, base_url="http://legallymail.com/api")
    assert LegallyMailClient(LEGALLYMAIL_TOKEN).base_url == "https://legallymail.com/api"


def test_download_streams_certificates_and_actas_with_the_bearer_token(
    client: LegallyMailClient, sandbox: Sandbox
) -> None:
    uuid = client.request_signature(PDF, [{"name": "Ana", "email": "ana@example.com"}], document_name="c.pdf").uuid
    sms = client.send_certified_sms("+34600000000", "hi").uuid
    sandbox.clock.advance(2 * sandbox.step_seconds)
    signature = client.get_signature(uuid)
    sandbox.clear_requests()
    for url in (signature.download_acta_url, signature.download_original_url,
                client.get_sms(sms).download_certificate_url):
        buffer = io.BytesIO()
        result = client.download(url or "", buffer)
        assert buffer.getvalue().startswith(b"%PDF-") and result.bytes_written == len(buffer.getvalue())
        assert result.content_type == "application/pdf"
    original = io.BytesIO()
    client.download(signature.download_original_url or "", original)
    assert original.getvalue() == PDF
    files = [r for r in sandbox.requests if r.path.startswith("/legallymail/files/")]
    assert len(files) == 4
    for req in files:
        assert_bearer_only(req)


def test_download_of_a_certificate_not_there_yet_is_not_found(client: LegallyMailClient, sandbox: Sandbox) -> None:
    uuid = client.request_signature(PDF, [{"name": "Ana", "email": "ana@example.com"}], document_name="c.pdf").uuid
    url = client.get_signature(uuid).download_acta_url
    buffer = io.BytesIO()
    with pytest.raises(NotFoundError):
        client.download(url or "", buffer)
    assert buffer.getvalue() == b""


def test_email_certificate_url_with_query_downloads(client: LegallyMailClient, sandbox: Sandbox) -> None:
    sent = client.send_certified_email(["ana@example.com"], "S", "m")
    sandbox.clock.advance(sandbox.step_seconds)
    [cert] = client.get_email(sent.tracking_id or "").recipients[0].certificates
    buffer = io.BytesIO()
    client.download(cert.pdf_download_url or "", buffer)
    req = sandbox.requests[-1]
    assert req.path == "/legallymail/files/emails/download-certificate"
    assert req.query == {"id": sent.tracking_ids["ana@example.com"], "status": "delivered"}
    assert buffer.getvalue().startswith(b"%PDF-")


@pytest.mark.parametrize("url", ["https://evil.example.com/legallymail/files/x.pdf", "ftp://127.0.0.1/x", ""])
def test_download_never_sends_the_token_to_another_host(client: LegallyMailClient, sandbox: Sandbox,
                                                        url: str) -> None:
    with pytest.raises(ValidationError):
        client.download(url, io.BytesIO())
    assert len(sandbox.requests) == 0
