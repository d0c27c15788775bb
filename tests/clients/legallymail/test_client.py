"""LegallyMailClient against the sandbox over real HTTP: what the vendor received, and what came back."""

from __future__ import annotations

import base64
import io
import logging
import threading
from collections.abc import Iterator

import pytest
import requests

from airflow_provider_mensatek.clients._http.credentials import BearerAuth
from airflow_provider_mensatek.clients._http.rate_limit import RateLimiter, limiter_for, reset_limiters
from airflow_provider_mensatek.clients.errors import (
    AmbiguousSendError,
    AuthenticationError,
    ForbiddenError,
    InsufficientCreditsError,
    InvalidRequestError,
    NotFoundError,
    RateLimitedError,
    ValidationError,
)
from airflow_provider_mensatek.clients.legallymail.checks import Signer
from airflow_provider_mensatek.clients.legallymail.client import LegallyMailClient
from airflow_provider_mensatek.delivery.statuses import vendor_state
from airflow_provider_mensatek.sandbox import Fault, Sandbox
from tests.conftest import LEGALLYMAIL_TOKEN
from tests.legallymail_support import PDF, FakeTime, make_client


@pytest.fixture(autouse=True)
def _fresh_limiters() -> Iterator[None]:
    reset_limiters()
    yield
    reset_limiters()


@pytest.fixture
def fake(sandbox: Sandbox) -> FakeTime:
    return FakeTime(sandbox)


@pytest.fixture
def client(sandbox: Sandbox, fake: FakeTime) -> Iterator[LegallyMailClient]:
    with make_client(sandbox, LEGALLYMAIL_TOKEN, fake) as c:
        yield c


def assert_bearer_only(request: object) -> None:
    """The token travels in the Authorization header and nowhere else."""
    assert request.headers["authorization"] == f"Bearer {LEGALLYMAIL_TOKEN}"  # type: ignore[attr-defined]
    assert LEGALLYMAIL_TOKEN not in request.body.decode("utf-8", "replace")  # type: ignore[attr-defined]
    assert all(LEGALLYMAIL_TOKEN not in str(v) for v in request.query.values())  # type: ignore[attr-defined]


# -- certified email -------------------------------------------------------------


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


def test_info(client: LegallyMailClient, sandbox: Sandbox) -> None:
    info = client.get_info()
    assert info.remaining_emails == 100 and info.plan == "professional"
    [req] = sandbox.requests
    assert (req.method, req.path) == ("GET", "/legallymail/api/info")
    assert_bearer_only(req)


# -- e-signature ------------------------------------------------------------------


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


# -- certified SMS -------------------------------------------------------------------


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


# -- local validation: nothing reaches the vendor ------------------------------------------

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


# -- errors -----------------------------------------------------------------------------


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


# -- rate limits -----------------------------------------------------------------------------


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


def test_limiter_is_shared_per_token_and_strictest_wins() -> None:
    a = limiter_for("legallymail:abc", 10)
    assert limiter_for("legallymail:abc", 30) is a and a.per_minute == 10
    assert limiter_for("legallymail:abc", 5) is a and a.per_minute == 5
    assert limiter_for("legallymail:other", 10) is not a


def test_clients_with_the_same_token_share_one_limiter(sandbox: Sandbox) -> None:
    one = LegallyMailClient(LEGALLYMAIL_TOKEN, base_url=sandbox.legallymail_url)
    two = LegallyMailClient(LEGALLYMAIL_TOKEN, base_url=sandbox.legallymail_url, requests_per_minute=4)
    other = LegallyMailClient("another-token", base_url=sandbox.legallymail_url)
    assert one.rate_limiter is two.rate_limiter and one.rate_limiter.per_minute == 4
    assert other.rate_limiter is not one.rate_limiter


def test_limiter_is_thread_safe() -> None:
    fake = FakeTime()
    limiter = RateLimiter(10, clock=fake, sleep=fake.sleep)
    threads = [threading.Thread(target=limiter.acquire) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert fake.sleeps == []
    assert limiter.acquire() == 60.0  # the 11th request of the minute waits for the window to slide


def test_rate_limiter_refuses_nonsense() -> None:
    with pytest.raises(ValidationError):
        RateLimiter(0)


# -- secrets -----------------------------------------------------------------------------------------


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


# -- downloads ------------------------------------------------------------------------------------------


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
