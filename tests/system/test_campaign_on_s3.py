"""The scheduled-campaign example DAG with its lake on S3 (the local S3 server), with dag.test().

The same DAG as ``test_scheduled_campaign.py`` (plan, mapped sends, reschedule, summary); only the
``lake`` param changes, to ``s3://<connection>@<bucket>/lake``. What the sandbox received is counted
per recipient; what the campaign wrote is read back from the bucket with boto3.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from typing import Any

from airflow.sdk import ObjectStoragePath

from airflow_provider_mensatek.sandbox import Sandbox
from tests.conftest import MENSATEK_TOKEN
from tests.local_services.s3 import LocalS3
from tests.system.test_scheduled_campaign import DAG_FILE, EXPECTED, per_address


def objects(local_s3: LocalS3, bucket: str, prefix: str) -> dict[str, bytes]:
    client = local_s3.client()
    listed = client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return {item["Key"].removeprefix(prefix): client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            for item in listed}


def test_the_example_campaign_plans_sends_mapped_reschedules_and_summarizes_on_s3(
    run_dag: Any, sandbox: Sandbox, local_s3: LocalS3, s3_bucket: str
) -> None:
    lake = f"s3://{local_s3.conn_id}@{s3_bucket}/lake"
    result = run_dag(DAG_FILE, run_conf={"lake": lake, "campaign": "renovaciones-s3"})

    assert result.state == "success", result.task_states
    assert set(result.task_states.values()) == {"success"}
    assert {k for k in result.task_states if k.startswith("send_batch[")} == {
        "send_batch[0]", "send_batch[1]", "send_batch[2]"}
    # One send per batch, one certified email per valid recipient.
    sends = sandbox.requests_to("EnviarEMAILCERTIFICADO")
    assert sorted(s.param("Referenciausuario") for s in sends) == [f"renovaciones-s3-0000{n}" for n in (1, 2, 3)]
    assert per_address(sandbox) == Counter(dict.fromkeys(EXPECTED, 1))
    assert len(sandbox.requests_to("ReprogramarEMAILCERTIFICADO")) == 5

    # The mapped tasks found the campaign through the plan entries: the connection must travel with them.
    for entry in result.xcoms["plan"]:
        assert ObjectStoragePath(entry["campaign"]).conn_id == local_s3.conn_id

    written = objects(local_s3, s3_bucket, "lake/campaigns/renovaciones-s3/")
    plan = json.loads(written["plan.json"])
    assert result.xcoms["plan"] == plan["batches"]
    assert {f"batches/0000{n}.json" for n in (1, 2, 3)} <= written.keys()
    ledger = {name: json.loads(data) for name, data in written.items() if name.startswith("ledger/")}
    claims = sorted(name for name in ledger if name.endswith("-in_flight.json"))
    assert claims == [f"ledger/0000{n}/000001-in_flight.json" for n in (1, 2, 3)]
    events = Counter(record["event"] for record in ledger.values())
    assert events == {"in_flight": 3, "accepted": 3, "rescheduled": 3}
    assert not [name for name in written if ".exclusive-create-probe-" in name]  # the probe cleans up

    summary = json.loads(written["summary.json"])
    assert result.xcoms["summary"] == summary
    assert (summary["recipients"], summary["sent"], summary["not_sent"], summary["duplicates"]) == (7, 5, 1, 1)
    rows = list(csv.DictReader(io.StringIO(written["not_sent.csv"].decode("utf-8"))))
    assert [(r["line"], r["correo"]) for r in rows] == [("4", "marta.ruiz@example")]
    exported = written["ledger.jsonl"].decode("utf-8")
    assert len(exported.splitlines()) == 9
    assert MENSATEK_TOKEN not in exported


def test_rerunning_the_campaign_on_s3_sends_nothing_twice(
    run_dag: Any, sandbox: Sandbox, local_s3: LocalS3, s3_bucket: str
) -> None:
    conf = {"lake": f"s3://{local_s3.conn_id}@{s3_bucket}/lake", "campaign": "renovaciones-s3"}
    first = run_dag(DAG_FILE, run_conf=conf)
    second = run_dag(DAG_FILE, run_conf=conf)

    assert first.state == second.state == "success", second.task_states
    assert len(sandbox.requests_to("EnviarEMAILCERTIFICADO")) == 3
    assert per_address(sandbox) == Counter(dict.fromkeys(EXPECTED, 1))
    assert all(second.xcoms[f"send_batch[{i}]"]["replayed"] for i in range(3))
