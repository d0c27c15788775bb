"""Fixtures for the sandbox's own tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from airflow_provider_mensatek.sandbox import Clock, Sandbox
from tests.sandbox.report_receiver import Receiver, running_receiver


@pytest.fixture
def own_sandbox() -> Iterator[Callable[..., Sandbox]]:
    """Sandboxes with limits of their own (a small idle timeout, cap or log), stopped after the test."""
    started: list[Sandbox] = []

    def make(**limits: Any) -> Sandbox:
        sandbox = Sandbox(clock=Clock(speed=0.0), **limits).start()
        started.append(sandbox)
        return sandbox

    yield make
    for sandbox in started:
        sandbox.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A loopback receiver for report pushes, stopped after the test."""
    with running_receiver() as started:
        yield started
