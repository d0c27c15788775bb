"""A provider clock (``waiting.CLOCK``) that reads and moves the sandbox clock, so sensors and
triggers "sleep" through simulated hours instantly and request timestamps are simulated times."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_mensatek.clients import waiting
from airflow_provider_mensatek.sandbox import Sandbox


class SandboxClock(waiting.WallClock):
    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.sandbox.clock.now().timestamp()

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.sandbox.clock.advance(max(seconds, 0.0))

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)
        await asyncio.sleep(0)


class DictStateStore:
    """Stands in for Airflow's task state store (JSON values, like the real one)."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return json.loads(self.data[key]) if key in self.data else default

    def set(self, key: str, value: Any) -> None:
        self.data[key] = json.dumps(value)

    def delete(self, key: str) -> None:
        self.data.pop(key, None)


@pytest.fixture
def sandbox_clock(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[SandboxClock]:
    clock = SandboxClock(sandbox)
    monkeypatch.setattr(waiting, "CLOCK", clock)
    yield clock


@pytest.fixture
def mensatek_conn(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> str:
    """The default Mensatek connection pointed at the sandbox (an Airflow env-var connection)."""
    monkeypatch.setenv("AIRFLOW_CONN_MENSATEK_DEFAULT", json.dumps({
        "conn_type": "mensatek", "login": sandbox.mensatek_user, "password": sandbox.mensatek_token,
        "host": sandbox.mensatek_url,
    }))
    return "mensatek_default"
