"""The deployment launcher itself: the REST API needs a token, and stop() leaves nothing running."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import requests

from airflow_provider_mensatek.sandbox.deployment import (
    AirflowDeployment,
    DeploymentError,
    _descendants,
    _start_time,
)
from tests.conftest import REPO

pytestmark = pytest.mark.deployment


def test_an_api_server_alone_guards_its_api_and_stops_without_leftovers(tmp_path: Path) -> None:
    deployment = AirflowDeployment(tmp_path / "home", REPO / "example_dags", components=["api-server"],
                                   api_workers=2)
    with deployment:
        assert deployment.running == ["api-server"]
        anonymous = requests.get(f"{deployment.url}/api/v2/dags", timeout=10)
        assert anonymous.status_code == 401
        assert deployment.api("GET", "dags", params={"limit": 1})["total_entries"] >= 0
        with pytest.raises(DeploymentError, match="404"):
            deployment.api("GET", "dags/no_such_dag")
        server = deployment._processes["api-server"].pid
        started = {server: _start_time(server), **_descendants(server)}
        assert len(started) >= 3  # the server and its two workers
        assert (deployment.home / "api-server.log").stat().st_size > 0
    assert [pid for pid, at in started.items() if _start_time(pid) == at] == []
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", deployment.port)) != 0
    assert deployment._password not in repr(deployment)


def test_components_must_include_the_api_server(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="api-server"):
        AirflowDeployment(tmp_path, REPO / "example_dags", components=["scheduler"])
