"""The certify-and-archive example DAG with its lake on S3 (the local S3 server), and ``verify`` over s3://."""

from __future__ import annotations

import json
from typing import Any

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_mensatek.certificates.__main__ import main as verify_cli
from airflow_provider_mensatek.delivery import waiting
from airflow_provider_mensatek.sandbox import Sandbox
from tests.conftest import MENSATEK_TOKEN
from tests.local_services.s3 import LocalS3
from tests.sandbox_clock import SandboxClock

pytestmark = pytest.mark.system


def test_certificates_archived_to_s3_verify_there_and_tampering_is_caught(
    run_dag: Any, sandbox: Sandbox, local_s3: LocalS3, s3_bucket: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(waiting, "CLOCK", SandboxClock(sandbox))
    lake = f"s3://{s3_bucket}/lake"
    result = run_dag("example_dags/certify_and_archive.py",
                     run_conf={"lake": lake, "storage_conn_id": local_s3.conn_id})

    assert result.state == "success", result.task_states
    (message_id,) = result.xcoms["send_notice"]["message_ids"]
    assert len(sandbox.requests_to("EnviarEMAILCERTIFICADO")) == 1
    assert len(sandbox.requests_to("GetCertificadoEMAILCERTIFICADO")) == 1

    client = local_s3.client()
    prefix = f"lake/mensatek/certified_email/{message_id}/"
    listed = client.list_objects_v2(Bucket=s3_bucket, Prefix="lake/").get("Contents", [])
    # Only the final names: no temporaries, no journal left behind.
    assert sorted(item["Key"] for item in listed) == sorted(
        prefix + name for name in (f"certificado_{message_id}.pdf", f"resultado_{message_id}.csv", "manifest.json"))
    manifest = json.loads(client.get_object(Bucket=s3_bucket, Key=prefix + "manifest.json")["Body"].read())
    assert manifest["recipients"] == ["ana.garcia@example.com"]
    (archived,) = result.xcoms["archive_certificates"]["archives"]
    assert archived["status"] == "written" and archived["manifest"] == manifest
    # The manifest path handed to the next task keeps the storage connection.
    assert ObjectStoragePath(archived["manifest_path"]).conn_id == local_s3.conn_id
    assert result.xcoms["verify_archive"]["files"] == 2
    assert MENSATEK_TOKEN not in json.dumps(result.xcoms)

    # Verified from the command line over s3://, with the connection given either way.
    assert verify_cli(["verify", lake, "--conn-id", local_s3.conn_id, "--expect", str(message_id)]) == 0
    assert verify_cli(["verify", f"s3://{local_s3.conn_id}@{s3_bucket}/lake"]) == 0
    capsys.readouterr()
    # Another client replaces the PDF: verify reports it.
    client.put_object(Bucket=s3_bucket, Key=f"{prefix}certificado_{message_id}.pdf", Body=b"%PDF-1.4 forged")
    assert verify_cli(["verify", lake, "--conn-id", local_s3.conn_id]) == 1
    assert f"certificado_{message_id}.pdf" in capsys.readouterr().out
