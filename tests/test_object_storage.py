"""to_storage_path: what DAG authors write (URL, absolute path, ObjectStoragePath) as an ObjectStoragePath."""

from __future__ import annotations

import pytest

from airflow_provider_mensatek.clients.errors import CertificateError
from airflow_provider_mensatek.object_storage import to_storage_path


def test_to_storage_path_forms() -> None:
    assert str(to_storage_path("/data/lake")) == "file:///data/lake"
    assert str(to_storage_path("file:///data/lake")) == "file:///data/lake"
    with_conn = to_storage_path("s3://bucket/lake", conn_id="aws_lake")
    assert (with_conn.protocol, with_conn.conn_id, with_conn.path) == ("s3", "aws_lake", "bucket/lake")
    assert to_storage_path("s3://aws_lake@bucket/lake").conn_id == "aws_lake"
    for bad in ("", "relative/lake"):
        with pytest.raises(CertificateError):
            to_storage_path(bad)


def test_the_path_it_had_before_release_still_imports() -> None:
    from airflow_provider_mensatek.certificates.store import to_storage_path as old

    assert old is to_storage_path
