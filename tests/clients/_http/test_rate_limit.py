"""The per-token rate limiter (clients/_http/rate_limit.py)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from airflow_provider_mensatek.clients._http.rate_limit import RateLimiter, limiter_for, reset_limiters
from airflow_provider_mensatek.clients.errors import ValidationError
from tests.legallymail_support import FakeTime


@pytest.fixture(autouse=True)
def _fresh_limiters() -> Iterator[None]:
    reset_limiters()
    yield
    reset_limiters()


def test_limiter_is_shared_per_token_and_strictest_wins() -> None:
    a = limiter_for("legallymail:abc", 10)
    assert limiter_for("legallymail:abc", 30) is a and a.per_minute == 10
    assert limiter_for("legallymail:abc", 5) is a and a.per_minute == 5
    assert limiter_for("legallymail:other", 10) is not a


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
