"""Fixtures of the LegallyMail client tests: a client on a fake clock, fresh rate limiters per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_provider_mensatek.clients._http.rate_limit import reset_limiters
from airflow_provider_mensatek.clients.legallymail.client import LegallyMailClient
from airflow_provider_mensatek.sandbox import Sandbox
from tests.conftest import LEGALLYMAIL_TOKEN
from tests.legallymail_support import FakeTime, make_client


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
