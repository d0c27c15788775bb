"""The campaign send ledger (campaigns/ledger.py): exclusive claims on local and object storage, fsynced records."""

from __future__ import annotations

import io
import uuid
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_mensatek.campaigns.exclusive_create import ExclusiveCreateUnsupportedError
from airflow_provider_mensatek.campaigns.input import rows_from_csv
from airflow_provider_mensatek.campaigns.ledger import Ledger
from airflow_provider_mensatek.campaigns.plan import plan_campaign
from airflow_provider_mensatek.campaigns.send import BatchSender
from airflow_provider_mensatek.clients import MensatekClient
from airflow_provider_mensatek.sandbox import Sandbox
from tests.campaigns.support import CSV_TEXT, MESSAGE
from tests.conftest import MENSATEK_TOKEN, MENSATEK_USER


def test_the_claim_is_exclusive_on_object_storage_too(caplog: pytest.LogCaptureFixture) -> None:
    from upath import UPath  # what ObjectStoragePath builds on; fsspec's memory store stands in for S3

    ledger = Ledger(UPath(f"memory://campaign-claims-{uuid.uuid4().hex}/ledger"))

    assert ledger.claim("00001", 1, reference="r-00001") is not None
    assert ledger.claim("00001", 1, reference="r-00001") is None
    assert [r["event"] for r in ledger.records("00001")] == ["in_flight"]
    assert "cannot create a file exclusively" not in caplog.text


def test_storage_without_exclusive_create_refuses_to_claim_and_writes_nothing(
    monkeypatch: pytest.MonkeyPatch, sandbox: Sandbox
) -> None:
    from upath import UPath
    from upath.implementations.memory import MemoryPath

    real_open = MemoryPath.open

    def no_exclusive_mode(self: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if "x" in mode:
            raise ValueError(f"unsupported mode {mode!r}")
        return real_open(self, mode, *args, **kwargs)

    monkeypatch.setattr(MemoryPath, "open", no_exclusive_mode)
    campaign = UPath(f"memory://campaign-{uuid.uuid4().hex}/campaign")
    ledger = Ledger(campaign / "ledger")

    with pytest.raises(ExclusiveCreateUnsupportedError, match="no exclusive create mode") as refused:
        ledger.claim("00001", 1, reference="r-00001")
    assert "campaign sends are refused on this storage; nothing was sent" in str(refused.value)
    assert ledger.batch_ids() == [] and not list((campaign / "ledger").iterdir())

    # A whole campaign there: refused once, before any batch is read or any request made.
    plan = plan_campaign(rows_from_csv(io.StringIO(CSV_TEXT)), campaign, channel="certified_email",
                         campaign_reference="nov-avisos", columns={"variables": {"Variable_1": "importe"}},
                         max_invalid=5)
    client = MensatekClient(MENSATEK_USER, MENSATEK_TOKEN, base_url=sandbox.mensatek_url)
    with pytest.raises(ExclusiveCreateUnsupportedError):
        BatchSender(campaign, client, "certified_email", MESSAGE).send_all(plan["batches"])
    assert sandbox.requests_to("EnviarEMAILCERTIFICADO") == []
    assert ledger.batch_ids() == []


@pytest.fixture
def synced(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What each os.fsync call synced, in order: "file" or "dir" (the real fsync still runs)."""
    import os
    import stat

    kinds: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        kinds.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return kinds


def test_local_ledger_records_are_fsynced_file_and_folder(tmp_path: Path, synced: list[str]) -> None:
    ledger = Ledger(tmp_path / "ledger")
    ledger.claim("00001", 1, reference="r-00001")
    ledger.append("00001", "accepted", seq=2, reference="r-00001")

    # The first record also syncs the ledger folder, where the batch folder is new; later ones only theirs.
    assert synced == ["file", "dir", "dir", "file", "dir"]


def test_a_folder_made_ahead_costs_the_claim_one_folder_sync_and_is_not_a_started_batch(
    tmp_path: Path, synced: list[str]
) -> None:
    ledger = Ledger(tmp_path / "ledger")
    (tmp_path / "ledger").mkdir()
    ledger.make_folder("00001")
    assert synced == ["dir"] and ledger.batch_ids() == []  # made ahead, nothing recorded: not started
    ledger.claim("00001", 1, reference="r-00001")
    assert synced == ["dir", "file", "dir"]
    assert ledger.batch_ids() == ["00001"] and [r["event"] for r in ledger.records("00001")] == ["in_flight"]
