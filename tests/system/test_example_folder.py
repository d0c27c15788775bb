"""The examples' default per-user folder under the temp dir, planted by another local user first.

Each example that writes there (contracts, invoices, the lake) runs with its defaults in a temp dir
of its own where ``mensatek-examples-<user>`` already exists: as a symlink to a folder the other
user reads, or as a folder anyone can write to. The task that would write fails before writing, and
nothing reaches that folder.
"""

from __future__ import annotations

import getpass
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_mensatek.delivery import waiting
from airflow_provider_mensatek.sandbox import Sandbox
from tests.sandbox_clock import SandboxClock

pytestmark = pytest.mark.system

#: example -> the task that writes into the folder first
WRITERS = {
    "certify_and_archive": "check_lake",
    "certify_and_wait": "prepare_contract",
    "legallymail_signature": "prepare_contract",
    "scheduled_campaign": "write_demo_csv",
    "sms_and_email": "make_invoice",
}


@pytest.fixture
def temp_dir(run_dag: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temp dir of this test's own (after ``run_dag`` set the session's), read when the DAG file loads."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def planted(temp_dir: Path) -> Path:
    return temp_dir / f"mensatek-examples-{getpass.getuser()}"


@pytest.mark.parametrize("example", sorted(WRITERS))
def test_a_symlink_planted_as_the_folder_is_refused_before_writing(
    example: str, run_dag: Any, temp_dir: Path, tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(waiting, "CLOCK", SandboxClock(sandbox))  # sensors, should a send get through
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    planted(temp_dir).symlink_to(theirs)

    result = run_dag(f"example_dags/{example}.py")

    assert result.state == "failed" and result.task_states[WRITERS[example]] == "failed", result.task_states
    assert list(theirs.iterdir()) == []
    assert planted(temp_dir).is_symlink()


def test_a_folder_others_can_write_to_is_refused_and_nothing_is_requested(
    run_dag: Any, temp_dir: Path, sandbox: Sandbox
) -> None:
    planted(temp_dir).mkdir()
    planted(temp_dir).chmod(0o777)

    result = run_dag("example_dags/legallymail_signature.py")

    assert result.task_states["prepare_contract"] == "failed", result.task_states
    assert list(planted(temp_dir).iterdir()) == [] and sandbox.requests == []
    assert stat.S_IMODE(planted(temp_dir).stat().st_mode) == 0o777  # left for a person to look at


def test_a_missing_folder_is_made_private(run_dag: Any, temp_dir: Path, sandbox: Sandbox) -> None:
    old = os.umask(0o022)
    try:
        result = run_dag("example_dags/legallymail_signature.py")
    finally:
        os.umask(old)

    assert result.state == "success", result.task_states
    assert stat.S_IMODE(os.lstat(planted(temp_dir)).st_mode) == 0o700
    assert [p.name for p in (planted(temp_dir) / "legallymail").iterdir()] == [
        Path(result.xcoms["prepare_contract"]).name]
