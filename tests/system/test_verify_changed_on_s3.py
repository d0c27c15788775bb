"""verify over s3:// when another client replaces a listed object while it is being hashed."""

from __future__ import annotations

import hashlib
import json
from typing import IO, Any

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_mensatek.certificates import verify
from tests.local_services.s3 import LocalS3

pytestmark = pytest.mark.system

PDF = b"%PDF-1.4 archived"


def test_an_object_replaced_while_hashed_is_reported_and_the_others_checked(
    local_s3: LocalS3, s3_bucket: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = local_s3.client()
    files = []
    for name in ("a.pdf", "b.pdf"):
        client.put_object(Bucket=s3_bucket, Key=f"set/{name}", Body=PDF)
        files.append({"path": name, "size": len(PDF), "sha256": hashlib.sha256(PDF).hexdigest()})
    client.put_object(Bucket=s3_bucket, Key="set/manifest.json", Body=json.dumps({"files": files}).encode())
    hash_stream = verify.sha256_stream

    def replaced_once_opened(handle: IO[bytes], **options: Any) -> tuple[int, str]:
        # The object changes on the server after verify opened it (its ETag recorded) and before it is read.
        if "a.pdf" in str(getattr(handle, "path", "")):
            client.put_object(Bucket=s3_bucket, Key="set/a.pdf", Body=b"%PDF-1.4 replaced meanwhile")
        return hash_stream(handle, **options)

    monkeypatch.setattr(verify, "sha256_stream", replaced_once_opened)
    report = verify.verify_manifest(ObjectStoragePath(f"s3://{local_s3.conn_id}@{s3_bucket}/set/manifest.json"))
    assert report.checked == 2
    ((problem),) = report.problems
    assert (problem.path, problem.kind) == ("a.pdf", "unreadable")
    assert problem.detail.startswith("changed or unreadable while being hashed (FileExpired:")
