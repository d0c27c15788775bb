"""Shared fixtures: a real sandbox HTTP server on 127.0.0.1, and clients pointed at it."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from airflow_provider_mensatek.sandbox.dag_runner import airflow_environment
from tests.airflow_versions import AIRFLOW_VERSION_TEXT

REPO = Path(__file__).resolve().parent.parent
# The temp dir is a default allowed root for local files, and the tests that need a
# folder outside it make one under the checkout: a checkout inside the temp dir (a CI
# clone in /tmp) would leave them none. Such a session gets a temp dir of its own, which
# does not hold the checkout (child processes too, through TMPDIR).
if REPO.is_relative_to(Path(tempfile.gettempdir()).resolve()):
    _SESSION_TMP = tempfile.mkdtemp(prefix="mensatek-tests-")
    os.environ["TMPDIR"] = tempfile.tempdir = _SESSION_TMP
    atexit.register(shutil.rmtree, _SESSION_TMP, ignore_errors=True)
# Airflow reads its home at import time: point it at a throwaway, git-ignored
# home before anything imports airflow. The example DAGs and the tests' own DAGs
# are two local bundles so dag.test() parses only DAG files. One home per Airflow version:
# a database migrated by a newer Airflow cannot be used by an older one (make test-floor).
_AIRFLOW_HOME = REPO / ".airflow-home" / f"tests-{AIRFLOW_VERSION_TEXT}"
os.environ.update(airflow_environment(
    _AIRFLOW_HOME,
    {"provider_examples": REPO / "example_dags", "test_dags": REPO / "tests" / "system" / "dags"},
))

import pytest  # noqa: E402

# PostgreSQL and S3 started on loopback when a test asks for them (tests/local_services).
pytest_plugins = ["tests.local_services.fixtures"]

from airflow_provider_mensatek.clients import MensatekClient, RetrySettings, reset_auth_failures  # noqa: E402
from airflow_provider_mensatek.clients._http.rate_limit import reset_limiters  # noqa: E402
from airflow_provider_mensatek.sandbox import (  # noqa: E402
    DEFAULT_LEGALLYMAIL_TOKEN,
    DEFAULT_MENSATEK_TOKEN,
    DEFAULT_MENSATEK_USER,
    Clock,
    Sandbox,
)

# Tests must never reach a real vendor: refuse any proxy the environment might set.
for _var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
    os.environ.pop(_var, None)


class SleepRecorder:
    """Stands in for time.sleep in retry loops: records the waits instead of sleeping."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture(scope="session")
def _sandbox_server() -> Iterator[Sandbox]:
    with Sandbox(clock=Clock(speed=0.0)) as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(_sandbox_server: Sandbox) -> Iterator[Sandbox]:
    """The session's sandbox, reset (state, recorded requests, faults, clock) for each test."""
    _sandbox_server.reset()
    _sandbox_server.clock = Clock(speed=0.0)
    _sandbox_server.step_seconds = 60.0
    yield _sandbox_server
    _sandbox_server.reset()


@pytest.fixture(autouse=True)
def _forget_process_wide_state() -> Iterator[None]:
    """Auth-failure memory and rate limiters are process-wide by design; tests start clean."""
    reset_auth_failures()
    reset_limiters()
    yield
    reset_auth_failures()
    reset_limiters()


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def mensatek_client(sandbox: Sandbox, sleeps: SleepRecorder) -> Iterator[MensatekClient]:
    client = MensatekClient(
        DEFAULT_MENSATEK_USER, DEFAULT_MENSATEK_TOKEN, base_url=sandbox.mensatek_url,
        retry=RetrySettings(max_attempts=4, backoff_initial=0.5, backoff_max=4.0, max_retry_wait=60.0),
        sleep=sleeps,
    )
    yield client
    client.close()


@pytest.fixture
def conn(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    """``mensatek_default`` pointed at the sandbox (one attempt per call, so fault tests stay exact)."""
    monkeypatch.setenv("AIRFLOW_CONN_MENSATEK_DEFAULT", json.dumps({
        "conn_type": "mensatek", "login": DEFAULT_MENSATEK_USER, "password": DEFAULT_MENSATEK_TOKEN,
        "host": sandbox.mensatek_url, "extra": {"max_retries": 1},
    }))
    return sandbox


MENSATEK_TOKEN = DEFAULT_MENSATEK_TOKEN
MENSATEK_USER = DEFAULT_MENSATEK_USER
LEGALLYMAIL_TOKEN = DEFAULT_LEGALLYMAIL_TOKEN
