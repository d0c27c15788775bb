"""Helpers shared by the LegallyMail tests (client, sandbox, hook, operators)."""

from __future__ import annotations

from airflow_provider_mensatek.clients import RetrySettings
from airflow_provider_mensatek.clients._http.rate_limit import RateLimiter
from airflow_provider_mensatek.clients.legallymail.client import LegallyMailClient
from airflow_provider_mensatek.sandbox import Sandbox
from airflow_provider_mensatek.sandbox.pdf import make_pdf

PDF = make_pdf(["Contract between ACME and the signers", "Clause 1: be nice."])


class FakeTime:
    """A monotonic clock and a sleep that only move when slept on; sleeping also moves the sandbox clock.

    Waits are measured by what was slept, never by the wall clock.
    """

    def __init__(self, sandbox: Sandbox | None = None) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self.sandbox = sandbox

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if self.sandbox is not None:
            self.sandbox.clock.advance(seconds)


def make_client(sandbox: Sandbox, token: str, fake: FakeTime, *, per_minute: float = 10,
                **kwargs: object) -> LegallyMailClient:
    return LegallyMailClient(
        token,
        base_url=sandbox.legallymail_url,
        retry=RetrySettings(max_attempts=3, backoff_initial=0.5, backoff_max=2.0, max_retry_wait=120.0),
        sleep=fake.sleep,
        rate_limiter=RateLimiter(per_minute, clock=fake, sleep=fake.sleep),
        **kwargs,  # type: ignore[arg-type]
    )


def legallymail_requests(sandbox: Sandbox) -> list:
    return [r for r in sandbox.requests if r.path.startswith("/legallymail/api/")]
