"""The ``deadline`` bounds a whole call: every attempt, the waits between them and the answer.

Over real HTTP: a loopback server that drips (``tests/hostile_http.py``) and the
sandbox's faults. Waits between attempts go to a recorder, so the tests see
which waits were planned without sitting through them.
"""

from __future__ import annotations

import pytest

from airflow_provider_mensatek.clients import LegallyMailClient, MensatekClient, RetrySettings, Timeouts
from airflow_provider_mensatek.clients._http.rate_limit import RateLimiter
from airflow_provider_mensatek.clients.errors import AmbiguousSendError, RateLimitedError, TransientError
from airflow_provider_mensatek.sandbox import Fault, Sandbox
from tests.conftest import LEGALLYMAIL_TOKEN, MENSATEK_TOKEN, MENSATEK_USER, SleepRecorder
from tests.hostile_http import Answer, HostileServer, drip

#: 300 KB at about 100 KB/s: each piece well within any read timeout, the whole far beyond the deadlines here.
DRIPPING = Answer([("Content-Type", "application/json"), ("Content-Length", str(300 * 1024))],
                  drip(300 * 1024, 1024), pause=0.01)


def client(url: str, sleeps: SleepRecorder, *, deadline: float, **retry: float) -> MensatekClient:
    settings = {"max_attempts": 4, "backoff_initial": 0.01, "backoff_max": 0.01, **retry}
    return MensatekClient(MENSATEK_USER, MENSATEK_TOKEN, base_url=url,
                          timeouts=Timeouts(connect=2, read=5, deadline=deadline),
                          retry=RetrySettings(**settings), sleep=sleeps)  # type: ignore[arg-type]


def test_a_read_that_drips_past_the_deadline_is_not_tried_again_within_the_call(sleeps: SleepRecorder) -> None:
    """Before: 4 attempts of a full deadline each, plus backoffs (deadline=2 took 14.3 s)."""
    with HostileServer(DRIPPING) as server:
        with pytest.raises(TransientError) as info:
            client(server.url, sleeps, deadline=0.5).get_credits()
        assert server.state.finished.wait(30)
    assert server.state.requests == 1 and sleeps.calls == []
    assert info.value.code == "deadline" and "the call passed its 0.5s deadline" in str(info.value)


def test_a_retry_whose_backoff_would_end_past_the_deadline_is_not_started(sandbox: Sandbox,
                                                                          sleeps: SleepRecorder) -> None:
    sandbox.inject("GetCreditos", Fault("status", status=502), times=4)
    with pytest.raises(TransientError, match="502"):
        client(sandbox.mensatek_url, sleeps, deadline=10, backoff_initial=20, backoff_max=20).get_credits()
    assert len(sandbox.requests) == 1 and sleeps.calls == []


def test_a_retry_needs_a_tenth_of_the_deadline_left_after_its_wait(sandbox: Sandbox, sleeps: SleepRecorder) -> None:
    sandbox.inject("GetCreditos", Fault("status", status=429, retry_after=9))
    with pytest.raises(RateLimitedError) as info:
        client(sandbox.mensatek_url, sleeps, deadline=9.5).get_credits()  # 0.5 s would be left: too little
    assert info.value.retry_after == 9 and len(sandbox.requests) == 1 and sleeps.calls == []


def test_a_retry_after_that_ends_past_the_deadline_is_handed_back_with_its_delay(sandbox: Sandbox,
                                                                                 sleeps: SleepRecorder) -> None:
    sandbox.inject("EnviarEMAILCERTIFICADO", Fault("status", status=503, retry_after=30))
    with pytest.raises(TransientError) as info:  # 503 + Retry-After: certainly not sent, so not ambiguous
        client(sandbox.mensatek_url, sleeps, deadline=20).send_certified_email(
            "avisos@example.com", "ana@example.com", "s", "m", reference="ref-1")
    assert not isinstance(info.value, AmbiguousSendError) and info.value.retry_after == 30
    assert len(sandbox.requests) == 1 and sleeps.calls == [] and not sandbox.mensatek.certified


def test_retries_that_fit_in_the_deadline_are_made(sandbox: Sandbox, sleeps: SleepRecorder) -> None:
    sandbox.inject("GetCreditos", Fault("status", status=429, retry_after=4), times=2)
    assert client(sandbox.mensatek_url, sleeps, deadline=10).get_credits() == 1000.0
    assert len(sandbox.requests) == 3 and sleeps.calls == [4.0, 4.0]


def test_a_rate_limit_wait_that_uses_up_the_deadline_sends_nothing(sandbox: Sandbox) -> None:
    """The limiter's wait is part of the call: past the deadline, the request is not made at all."""
    legallymail = LegallyMailClient(LEGALLYMAIL_TOKEN, base_url=sandbox.legallymail_url,
                                    timeouts=Timeouts(connect=2, read=5, deadline=1.0),
                                    rate_limiter=RateLimiter(1, window=2.0))  # the next slot in ~2 s
    legallymail.get_info()
    with pytest.raises(TransientError) as info:
        legallymail.get_info()
    assert info.value.code == "deadline" and "nothing was sent" in str(info.value)
    assert len(sandbox.requests) == 1
