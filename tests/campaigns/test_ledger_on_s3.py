"""The campaign ledger on S3 (the local S3 server): two workers racing one batch, fresh listings, and the
refusal on a store that cannot create exclusively. What the sandbox received is counted per recipient."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_mensatek.campaigns.exclusive_create import ExclusiveCreateUnsupportedError
from airflow_provider_mensatek.campaigns.input import rows_from_csv
from airflow_provider_mensatek.campaigns.ledger import Ledger, LedgerBlockedError
from airflow_provider_mensatek.campaigns.plan import plan_campaign
from airflow_provider_mensatek.campaigns.send import BatchSender
from airflow_provider_mensatek.clients import MensatekClient
from airflow_provider_mensatek.sandbox import Sandbox
from tests.campaigns.support import CSV_TEXT, MESSAGE, sent_emails
from tests.conftest import MENSATEK_TOKEN, MENSATEK_USER
from tests.local_services.s3 import LocalS3


def s3_campaign(local_s3: LocalS3, bucket: str) -> ObjectStoragePath:
    return ObjectStoragePath(f"s3://{bucket}/campaigns/nov-avisos", conn_id=local_s3.conn_id)


def s3_plan(campaign: ObjectStoragePath) -> dict[str, Any]:
    return plan_campaign(rows_from_csv(io.StringIO(CSV_TEXT)), campaign, channel="certified_email",
                         campaign_reference="nov-avisos", columns={"variables": {"Variable_1": "importe"}},
                         max_invalid=5, batch_size=2)


def keys(local_s3: LocalS3, bucket: str, prefix: str) -> list[str]:
    listed = local_s3.client().list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return sorted(item["Key"].removeprefix(prefix) for item in listed)


def race(campaign: ObjectStoragePath, entry: dict[str, Any], sandbox: Sandbox,
         monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Two workers that both read the batch's (empty) ledger before either claims it, then both try to send."""
    both_have_read = threading.Barrier(2)
    real_records = Ledger.records

    def records_then_wait(self: Ledger, batch_id: str) -> list[dict[str, Any]]:
        out = real_records(self, batch_id)
        both_have_read.wait(timeout=30)
        return out

    monkeypatch.setattr(Ledger, "records", records_then_wait)
    outcomes: list[str] = []

    def worker() -> None:
        client = MensatekClient(MENSATEK_USER, MENSATEK_TOKEN, base_url=sandbox.mensatek_url)
        try:
            outcomes.append(BatchSender(campaign, client, "certified_email", MESSAGE).send(entry)["state"])
        except (LedgerBlockedError, ExclusiveCreateUnsupportedError) as exc:
            outcomes.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    monkeypatch.undo()
    return sorted(outcomes)


def test_two_workers_racing_one_batch_on_s3_send_it_once(
    local_s3: LocalS3, s3_bucket: str, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaign = s3_campaign(local_s3, s3_bucket)
    plan = s3_plan(campaign)

    outcomes = race(campaign, plan["batches"][0], sandbox, monkeypatch)

    # The server's If-None-Match decided: one claim created, the other refused, before any request.
    assert [o.split(":")[0] for o in outcomes] == ["LedgerBlockedError", "accepted"]
    assert "being sent by another worker" in outcomes[0]
    assert len(sandbox.requests_to("EnviarEMAILCERTIFICADO")) == 1
    assert sent_emails(sandbox) == {"ana@example.com": 1, "carlos@example.com": 1}
    ledger = keys(local_s3, s3_bucket, "campaigns/nov-avisos/ledger/")
    assert ledger[0] == "00001/000001-in_flight.json" and ledger[1].startswith("00001/000002-accepted-")
    assert len(ledger) == 2  # the loser wrote nothing; the probe left nothing
    assert [r["event"] for r in Ledger(campaign / "ledger").records("00001")] == ["in_flight", "accepted"]


@pytest.fixture
def store_ignoring_if_none_match(local_s3: LocalS3, s3_bucket: str) -> Iterator[None]:
    """The local S3 behaving like an S3-compatible server that ignores conditional writes.

    The ``If-None-Match`` header is dropped from every PUT before it is signed and sent, which is
    what such a server does with it; the session's shared S3 client is restored afterwards.
    """
    events = ObjectStoragePath(f"s3://{s3_bucket}/", conn_id=local_s3.conn_id).fs.s3.meta.events

    def drop_condition(request: Any, **_: Any) -> None:
        if "If-None-Match" in request.headers:
            del request.headers["If-None-Match"]

    events.register("before-sign.s3.PutObject", drop_condition)
    try:
        yield
    finally:
        events.unregister("before-sign.s3.PutObject", drop_condition)


def test_a_store_ignoring_conditional_writes_refuses_racing_workers_before_any_send(
    local_s3: LocalS3, s3_bucket: str, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch,
    store_ignoring_if_none_match: None,
) -> None:
    # Here both workers' exclusive creates would succeed and both would send: the probe must catch it first.
    campaign = s3_campaign(local_s3, s3_bucket)
    plan = s3_plan(campaign)

    outcomes = race(campaign, plan["batches"][0], sandbox, monkeypatch)

    assert [o.split(":")[0] for o in outcomes] == ["ExclusiveCreateUnsupportedError"] * 2
    assert "the store ignores If-None-Match" in outcomes[0] and "nothing was sent" in outcomes[0]
    assert sandbox.requests_to("EnviarEMAILCERTIFICADO") == []
    assert keys(local_s3, s3_bucket, "campaigns/nov-avisos/ledger/") == []


def test_the_ledger_reads_what_another_worker_wrote_after_it_listed(local_s3: LocalS3, s3_bucket: str) -> None:
    ledger = Ledger(s3_campaign(local_s3, s3_bucket) / "ledger")
    assert ledger.claim("00001", 1, reference="nov-avisos-00001") is not None
    assert [r["event"] for r in ledger.records("00001")] == ["in_flight"]
    assert ledger.batch_ids() == ["00001"]

    # Another worker (another process, another S3 client) records the outcome and claims another batch.
    client = local_s3.client()
    client.put_object(Bucket=s3_bucket, Key="campaigns/nov-avisos/ledger/00001/000002-accepted-0a1b2c3d.json",
                      Body=b'{"seq": 2, "batch_id": "00001", "event": "accepted", "at": "x"}\n')
    client.put_object(Bucket=s3_bucket, Key="campaigns/nov-avisos/ledger/00002/000001-in_flight.json",
                      Body=b'{"seq": 1, "batch_id": "00002", "event": "in_flight", "at": "x"}\n')

    assert [r["event"] for r in ledger.records("00001")] == ["in_flight", "accepted"]
    assert ledger.batch_ids() == ["00001", "00002"]


def test_the_batch_operator_on_such_a_store_fails_without_retry_and_leaves_nothing_in_doubt(
    conn: Sandbox, local_s3: LocalS3, s3_bucket: str, store_ignoring_if_none_match: None, tmp_path: Path,
) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    from airflow_provider_mensatek.operators._base import SEND_STATE_KEY
    from airflow_provider_mensatek.operators.campaigns import MensatekSendCampaignBatchOperator
    from tests.operator_support import FakeTaskStateStore
    from tests.operators.test_campaign_operators import ctx, plan

    batches = plan(tmp_path, campaign_path=f"s3://{local_s3.conn_id}@{s3_bucket}/campaigns/camp")
    store = FakeTaskStateStore()
    operator = MensatekSendCampaignBatchOperator(task_id="send", batch=batches[0], sender="avisos@example.com",
                                                 subject="Aviso {{Nombre}}", message="Texto")

    with pytest.raises(AirflowFailException, match="cannot create a file exclusively") as refused:
        operator.execute(ctx(store))
    assert "nothing was sent" in str(refused.value)
    assert conn.requests_to("EnviarEMAILCERTIFICADO") == []
    assert store.get(SEND_STATE_KEY) is None  # nothing in doubt: a later try may send
    assert keys(local_s3, s3_bucket, "campaigns/camp/ledger/") == []
