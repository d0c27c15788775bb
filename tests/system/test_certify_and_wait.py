"""certify_and_wait end to end with dag.test(): a deferred sensor (trigger run in-process) and a
sensor in reschedule mode, against the sandbox running 3000x faster than real time."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from airflow_provider_mensatek.delivery import waiting
from airflow_provider_mensatek.sandbox import Sandbox
from tests.conftest import LEGALLYMAIL_TOKEN, MENSATEK_TOKEN
from tests.sandbox_clock import FastSandboxClock

SPEED = 3000.0


@pytest.mark.system
def test_certify_and_wait(run_dag, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clock = FastSandboxClock(sandbox, SPEED)
    monkeypatch.setattr(waiting, "CLOCK", clock)

    result = run_dag("example_dags/certify_and_wait.py",
                     run_conf={"documents": (tmp_path / "docs").as_uri()})

    assert result.state == "success", result.task_states
    assert set(result.task_states.values()) == {"success"}

    (mid,) = result.xcoms["send_notice"]["message_ids"]
    certified = result.xcoms["wait_certified"]
    assert certified["reached"] == [str(mid)]
    assert certified["reports"][str(mid)]["code"] == "14"
    reports = sandbox.requests_to("GetReportEMAILCERTIFICADO")
    (send,) = sandbox.requests_to("EnviarEMAILCERTIFICADO")
    # The trigger waited the vendor minimum (simulated time) before its first check.
    assert (reports[0].at - send.at).total_seconds() >= 300
    assert all((b.at - a.at).total_seconds() >= 300 for a, b in itertools.pairwise(reports))

    uuid = result.xcoms["request_signature"]["uuid"]
    signed = result.xcoms["wait_signed"]
    assert signed["reached"] == [uuid]
    assert signed["reports"][uuid]["status"] == "signed"
    reads = [r for r in sandbox.requests if r.path.endswith("/signature") and r.method == "GET"]
    assert reads and all(r.query == {"uuid": uuid} for r in reads)
    (asked,) = [r for r in sandbox.requests if r.path.endswith("/signature/send")]
    # Reschedule mode: the first try only scheduled; the first read came after the initial delay.
    assert (reads[0].at - asked.at).total_seconds() >= 60
    assert all((b.at - a.at).total_seconds() >= 60 for a, b in itertools.pairwise(reads))

    dumped = json.dumps(result.xcoms, default=str)
    assert MENSATEK_TOKEN not in dumped and LEGALLYMAIL_TOKEN not in dumped
