"""The transport contracts, proven over real HTTP against the sandbox.

At-most-once sending, no retry after an auth failure, Retry-After honoured,
secrets never printed, https by default.
"""

from __future__ import annotations

import logging
import pickle
import socket

import pytest

from airflow_provider_mensatek.clients import MensatekClient, RetrySettings
from airflow_provider_mensatek.clients._http.transport import parse_retry_after, resolve_base_url
from airflow_provider_mensatek.clients.errors import (
    AmbiguousSendError,
    AuthenticationError,
    RateLimitedError,
    TransientError,
    ValidationError,
)
from airflow_provider_mensatek.sandbox import Fault, Sandbox
from tests.conftest import MENSATEK_TOKEN, MENSATEK_USER, SleepRecorder

SENDER = "avisos@example.com"


def send(client: MensatekClient, reference: str = "ref-1"):
    return client.send_certified_email(SENDER, "ana@example.com", "s", "m", reference=reference)


def test_auth_failure_is_one_request_then_none_for_that_connection(sandbox: Sandbox, sleeps: SleepRecorder) -> None:
    bad = MensatekClient(MENSATEK_USER, "wrong-token", base_url=sandbox.mensatek_url, sleep=sleeps)
    with pytest.raises(AuthenticationError) as first:
        bad.get_credits()
    assert first.value.code == -1  # HTTP 200 with Res -1, as the vendor does
    assert len(sandbox.requests) == 1

    # Same credential, new client (another task in the same worker): refused without a request.
    again = MensatekClient(MENSATEK_USER, "wrong-token", base_url=sandbox.mensatek_url, sleep=sleeps)
    for call in (again.get_credits, lambda: send(again), lambda: again.get_certified_email_report(1)):
        with pytest.raises(AuthenticationError, match="already failed"):
            call()
    assert len(sandbox.requests) == 1
    assert sleeps.calls == []

    # Other credentials are not affected.
    good = MensatekClient(MENSATEK_USER, MENSATEK_TOKEN, base_url=sandbox.mensatek_url)
    assert good.get_credits() == 1000.0
    assert len(sandbox.requests) == 2


def test_http_401_is_not_retried_either(mensatek_client: MensatekClient, sandbox: Sandbox, sleeps) -> None:
    sandbox.inject("GetCreditos", Fault("status", status=401))
    with pytest.raises(AuthenticationError):
        mensatek_client.get_credits()
    with pytest.raises(AuthenticationError):
        mensatek_client.get_credits()
    assert len(sandbox.requests) == 1 and sleeps.calls == []


def test_connection_dropped_after_accepting_a_send_is_ambiguous_and_not_resent(
    mensatek_client: MensatekClient, sandbox: Sandbox, sleeps
) -> None:
    sandbox.inject("EnviarEMAILCERTIFICADO", Fault("drop_after_accept"))
    with pytest.raises(AmbiguousSendError) as info:
        send(mensatek_client, reference="expediente-77")
    assert len(sandbox.requests_to("EnviarEMAILCERTIFICADO")) == 1
    assert sleeps.calls == []
    assert info.value.reference == "expediente-77"
    assert "expediente-77" in str(info.value) and "NOT retried" in str(info.value)
    # It really was accepted: that is why resending would have been wrong.
    assert len(sandbox.mensatek.certified) == 1


@pytest.mark.parametrize("status", [500, 502, 504])
def test_5xx_on_a_send_is_ambiguous(mensatek_client: MensatekClient, sandbox: Sandbox, sleeps, status: int) -> None:
    sandbox.inject("EnviarEMAILCERTIFICADO", Fault("status", status=status))
    with pytest.raises(AmbiguousSendError):
        send(mensatek_client)
    assert len(sandbox.requests) == 1 and sleeps.calls == []


def test_503_without_retry_after_on_a_send_is_ambiguous(mensatek_client: MensatekClient, sandbox: Sandbox) -> None:
    sandbox.inject("EnviarEMAILCERTIFICADO", Fault("status", status=503))
    with pytest.raises(AmbiguousSendError):
        send(mensatek_client)
    assert len(sandbox.requests) == 1


@pytest.mark.parametrize("status", [429, 503])
def test_send_is_retried_after_retry_after_when_the_vendor_said_come_back(
    mensatek_client: MensatekClient, sandbox: Sandbox, sleeps: SleepRecorder, status: int
) -> None:
    sandbox.inject("EnviarEMAILCERTIFICADO", Fault("status", status=status, retry_after=7), times=2)
    result = send(mensatek_client)
    assert result.sent == 1
    assert len(sandbox.requests_to("EnviarEMAILCERTIFICADO")) == 3
    assert sleeps.calls == [7.0, 7.0]  # exactly what the vendor asked, not our backoff
    assert len(sandbox.mensatek.certified) == 1


def test_reads_back_off_exponentially_on_5xx_then_succeed(
    mensatek_client: MensatekClient, sandbox: Sandbox, sleeps: SleepRecorder
) -> None:
    sandbox.inject("GetCreditos", Fault("status", status=500), times=3)
    assert mensatek_client.get_credits() == 1000.0
    assert len(sandbox.requests) == 4
    assert len(sleeps.calls) == 3
    # Jittered exponential backoff: each wait within [b/2, b] for b = 0.5, 1, 2.
    for wait, base in zip(sleeps.calls, (0.5, 1.0, 2.0), strict=True):
        assert base / 2 <= wait <= base


def test_reads_give_up_after_max_attempts(mensatek_client: MensatekClient, sandbox: Sandbox, sleeps) -> None:
    sandbox.inject("GetCreditos", Fault("status", status=502), times=10)
    with pytest.raises(TransientError):
        mensatek_client.get_credits()
    assert len(sandbox.requests) == 4 and len(sleeps.calls) == 3


def test_retry_after_longer_than_the_cap_is_handed_to_airflow(
    mensatek_client: MensatekClient, sandbox: Sandbox, sleeps
) -> None:
    sandbox.inject("GetReportEMAILCERTIFICADO", Fault("status", status=429, retry_after=3600))
    with pytest.raises(RateLimitedError) as info:
        mensatek_client.get_certified_email_report(1)
    assert info.value.retry_after == 3600 and info.value.retryable
    assert len(sandbox.requests) == 1 and sleeps.calls == []


def test_connect_failure_is_retried_even_for_sends(sleeps: SleepRecorder) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = MensatekClient(MENSATEK_USER, MENSATEK_TOKEN, base_url=f"http://127.0.0.1:{port}/v7",
                            retry=RetrySettings(max_attempts=3, backoff_initial=0.1), sleep=sleeps)
    with pytest.raises(TransientError, match="nothing was sent"):
        send(client)
    assert len(sleeps.calls) == 2


def test_read_timeout_on_a_send_is_ambiguous(sandbox: Sandbox, sleeps) -> None:
    from airflow_provider_mensatek.clients import Timeouts

    client = MensatekClient(MENSATEK_USER, MENSATEK_TOKEN, base_url=sandbox.mensatek_url,
                            timeouts=Timeouts(connect=2, read=0.3), sleep=sleeps)
    sandbox.inject("EnviarEMAILCERTIFICADO", Fault("delay", delay=1.0))
    with pytest.raises(AmbiguousSendError):
        send(client)
    assert len(sandbox.requests_to("EnviarEMAILCERTIFICADO")) == 1 and sleeps.calls == []


def test_token_never_in_logs_errors_or_reprs(sandbox: Sandbox, caplog: pytest.LogCaptureFixture, sleeps) -> None:
    caplog.set_level(logging.DEBUG)
    client = MensatekClient(MENSATEK_USER, MENSATEK_TOKEN, base_url=sandbox.mensatek_url, sleep=sleeps)
    texts = [repr(client), repr(client.transport)]
    sandbox.inject("EnviarEMAILCERTIFICADO", Fault("drop_after_accept"))
    sandbox.inject("GetCreditos", Fault("status", status=503), times=1)
    client.get_credits()
    for failing in (lambda: send(client), lambda: client.get_certified_email_report(999)):
        with pytest.raises(Exception) as info:
            failing()
        texts += [str(info.value), repr(info.value), repr(pickle.loads(pickle.dumps(info.value)).__dict__)]
    bad = MensatekClient(MENSATEK_USER, "another-secret-token", base_url=sandbox.mensatek_url)
    with pytest.raises(AuthenticationError) as auth:
        bad.get_credits()
    texts.append(str(auth.value))
    joined = "\n".join(texts) + caplog.text
    assert "GetCreditos" in caplog.text  # the log does say what happened...
    assert MENSATEK_TOKEN not in joined  # ...but never with the token
    assert "another-secret-token" not in joined


def test_errors_survive_pickling_with_their_fields() -> None:
    error = AmbiguousSendError("may have been sent", reference="r-1", function="EnviarSMS", code="network")
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), copy.reference, copy.function, copy.code) == (AmbiguousSendError, "r-1", "EnviarSMS",
                                                                      "network")
    limited = pickle.loads(pickle.dumps(RateLimitedError("slow", retry_after=12.0)))
    assert limited.retry_after == 12.0


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        (None, "https://api.mensatek.com/v7"),
        ("", "https://api.mensatek.com/v7"),
        ("api.mensatek.com", "https://api.mensatek.com/v7"),
        ("https://eu.example.com/api/v7/", "https://eu.example.com/api/v7"),
        ("http://127.0.0.1:8765/mensatek/v7", "http://127.0.0.1:8765/mensatek/v7"),
        ("http://localhost:1/x", "http://localhost:1/x"),
        ("http://[::1]:80/v7", "http://[::1]:80/v7"),
    ],
)
def test_base_url_resolution(host, expected) -> None:
    assert resolve_base_url(host, default="https://api.mensatek.com/v7") == expected


@pytest.mark.parametrize("host", ["http://api.mensatek.com/v7", "http://10.0.0.5/v7", "ftp://x/y"])
def test_plain_http_is_refused_outside_loopback(host) -> None:
    with pytest.raises(ValidationError):
        MensatekClient(MENSATEK_USER, MENSATEK_TOKEN, base_url=host)


def test_retry_after_parsing() -> None:
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a past date: no wait


@pytest.mark.parametrize(
    ("status", "body"),
    [(200, "<html>Service temporarily unavailable</html>"), (200, '[{"Cred": "12"}]'), (303, "")],
)
def test_a_send_answered_with_something_unreadable_is_ambiguous(
    mensatek_client: MensatekClient, sandbox: Sandbox, sleeps, status: int, body: str
) -> None:
    sandbox.inject("EnviarEMAILCERTIFICADO", Fault("garble_after_accept", status=status, body=body))
    with pytest.raises(AmbiguousSendError) as info:
        send(mensatek_client, reference="exp-303")
    assert "exp-303" in str(info.value)
    assert len(sandbox.requests) == 1 and sleeps.calls == []
    assert len(sandbox.mensatek.certified) == 1  # it had been accepted


def test_an_unreadable_answer_to_a_read_is_a_plain_error(mensatek_client: MensatekClient, sandbox: Sandbox) -> None:
    from airflow_provider_mensatek.clients.errors import MensatekError

    sandbox.inject("GetCreditos", Fault("garble_after_accept", status=200, body="<html>"))
    with pytest.raises(MensatekError) as info:
        mensatek_client.get_credits()
    assert not isinstance(info.value, AmbiguousSendError) and info.value.code == "parse"


def test_a_bare_host_with_a_path_keeps_its_path() -> None:
    assert resolve_base_url("api.mensatek.com/v7", default="https://api.mensatek.com/v7") == \
        "https://api.mensatek.com/v7"
    assert resolve_base_url("eu.example.com/api", default="https://legallymail.com/api") == \
        "https://eu.example.com/api"


def test_calls_leave_no_cyclic_garbage(mensatek_client: MensatekClient) -> None:
    """A triggerer holds thousands of waits: garbage only a full collection frees stalls its event loop."""
    import gc

    mensatek_client.get_credits()
    gc.collect()
    gc.disable()
    try:
        for _ in range(50):
            mensatek_client.get_credits()
        assert gc.collect() == 0
    finally:
        gc.enable()
