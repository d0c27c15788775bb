"""The certify-and-archive example DAG, end to end with dag.test() against the sandbox."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_mensatek.certificates.__main__ import main as verify_cli
from airflow_provider_mensatek.delivery import waiting
from airflow_provider_mensatek.sandbox import Sandbox
from tests.conftest import MENSATEK_TOKEN, MENSATEK_USER
from tests.sandbox_clock import SandboxClock

pytestmark = pytest.mark.system


def test_send_wait_archive_verify(
    run_dag: Any, sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The trigger "sleeps" by moving the sandbox clock: simulated minutes pass instantly.
    monkeypatch.setattr(waiting, "CLOCK", SandboxClock(sandbox))
    lake = tmp_path / "lake"
    result = run_dag("example_dags/certify_and_archive.py", run_conf={"lake": f"file://{lake}"})

    assert result.state == "success", result.task_states
    assert set(result.task_states.values()) == {"success"}
    (message_id,) = result.xcoms["send_notice"]["message_ids"]

    # Polite: one send, report checks only after the policy's first delay, one download.
    assert len(sandbox.requests_to("EnviarEMAILCERTIFICADO")) == 1
    reports = sandbox.requests_to("GetReportEMAILCERTIFICADO")
    assert len(reports) == 1  # first check after the policy delay: already certified
    (download,) = sandbox.requests_to("GetCertificadoEMAILCERTIFICADO")
    assert download.basic_auth == (MENSATEK_USER, MENSATEK_TOKEN)
    assert download.params == {"Idmensaje": message_id, "Resp": "JSON"}

    folder = lake / "mensatek" / "certified_email" / str(message_id)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["recipients"] == ["ana.garcia@example.com"]
    assert {f["path"] for f in manifest["files"]} == {f"certificado_{message_id}.pdf", f"resultado_{message_id}.csv"}
    (archived,) = result.xcoms["archive_certificates"]["archives"]
    assert archived["status"] == "written" and archived["manifest"] == manifest
    assert result.xcoms["verify_archive"] == {"verified": [f"file://{folder}/manifest.json"], "files": 2}
    assert MENSATEK_TOKEN not in json.dumps(result.xcoms)

    # The archive stays verifiable from the command line, and tampering is caught.
    assert verify_cli(["verify", str(lake)]) == 0
    (folder / f"certificado_{message_id}.pdf").write_bytes(b"%PDF-1.4 forged")
    assert verify_cli(["verify", str(lake)]) == 1
