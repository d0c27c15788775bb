"""The local S3 through Airflow's ObjectStoragePath, and the facts the ledger and the store rely on.

The exclusive-create, rename and listing tests assert what s3fs and the local server do today
(a version change that alters it fails here first): an exclusive create (``"xb"``, sent as
``If-None-Match: *``) of a key that exists fails with ``FileExistsError`` unless the object
written is empty; rename copies then deletes and overwrites its target; a listing that
s3fs has cached does not show what another client wrote until the cache is invalidated.
"""

from __future__ import annotations

import pytest
from airflow.sdk import ObjectStoragePath
from botocore.exceptions import ClientError

from tests.local_services.s3 import LocalS3


def _path(local_s3: LocalS3, bucket: str, key: str) -> ObjectStoragePath:
    return ObjectStoragePath(f"s3://{bucket}/{key}", conn_id=local_s3.conn_id)


def _keys(local_s3: LocalS3, bucket: str) -> dict[str, bytes]:
    client = local_s3.client()
    listed = client.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {item["Key"]: client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read() for item in listed}


def test_object_storage_path_writes_reads_lists_and_deletes(local_s3: LocalS3, s3_bucket: str) -> None:
    folder = _path(local_s3, s3_bucket, "lake/2026")
    (folder / "a.json").write_text('{"Servicio": "RCS"}')
    (folder / "b.bin").write_bytes(b"\x00\x01")
    assert (folder / "a.json").read_text() == '{"Servicio": "RCS"}'
    assert sorted(path.name for path in folder.iterdir()) == ["a.json", "b.bin"]
    assert _keys(local_s3, s3_bucket) == {"lake/2026/a.json": b'{"Servicio": "RCS"}', "lake/2026/b.bin": b"\x00\x01"}
    (folder / "a.json").unlink()
    assert not (folder / "a.json").exists()
    assert _keys(local_s3, s3_bucket) == {"lake/2026/b.bin": b"\x00\x01"}


def test_the_s3_filesystem_is_the_amazon_providers_s3fs_on_the_local_endpoint(
    local_s3: LocalS3, s3_bucket: str
) -> None:
    import s3fs

    fs = _path(local_s3, s3_bucket, "x").fs
    assert isinstance(fs, s3fs.S3FileSystem)
    assert fs.s3.meta.endpoint_url == local_s3.endpoint_url
    assert local_s3.endpoint_url.startswith("http://127.0.0.1:")


def test_the_server_refuses_a_second_put_with_if_none_match(local_s3: LocalS3, s3_bucket: str) -> None:
    client = local_s3.client()
    client.put_object(Bucket=s3_bucket, Key="claim", Body=b"first", IfNoneMatch="*")
    with pytest.raises(ClientError) as refused:
        client.put_object(Bucket=s3_bucket, Key="claim", Body=b"second", IfNoneMatch="*")
    assert refused.value.response["Error"]["Code"] == "PreconditionFailed"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    assert _keys(local_s3, s3_bucket) == {"claim": b"first"}


@pytest.mark.parametrize("mode", ["xb", "x"])
def test_exclusive_open_of_an_existing_key_fails_and_keeps_the_first_object(
    local_s3: LocalS3, s3_bucket: str, mode: str
) -> None:
    claim = _path(local_s3, s3_bucket, "ledger/batch-0001.claim")
    first, second = (b"worker-a", b"worker-b") if mode == "xb" else ("worker-a", "worker-b")
    with claim.open(mode) as handle:
        handle.write(first)
    with pytest.raises(FileExistsError), claim.open(mode) as handle:
        handle.write(second)
    assert _keys(local_s3, s3_bucket) == {"ledger/batch-0001.claim": b"worker-a"}


def test_pipe_file_create_mode_is_exclusive(local_s3: LocalS3, s3_bucket: str) -> None:
    fs = _path(local_s3, s3_bucket, "x").fs
    fs.pipe_file(f"{s3_bucket}/manifest.json", b"{}", mode="create")
    with pytest.raises(FileExistsError):
        fs.pipe_file(f"{s3_bucket}/manifest.json", b'{"b": 1}', mode="create")
    assert _keys(local_s3, s3_bucket) == {"manifest.json": b"{}"}


def test_exclusive_open_of_an_empty_object_is_not_exclusive(local_s3: LocalS3, s3_bucket: str) -> None:
    # s3fs commits a file with no bytes through a plain touch, without If-None-Match: it overwrites.
    # A claim made by exclusive create must therefore have content.
    claim = _path(local_s3, s3_bucket, "claim")
    claim.write_bytes(b"worker-a")
    with claim.open("xb"):
        pass
    assert _keys(local_s3, s3_bucket) == {"claim": b""}


def test_multipart_exclusive_create_fails_at_commit_and_leaves_the_upload(local_s3: LocalS3, s3_bucket: str) -> None:
    # Larger than one block, s3fs uploads parts and checks the condition only when completing;
    # the refused upload is not aborted (on AWS it is billed until a lifecycle rule removes it).
    block = 5 * 2**20
    fs = _path(local_s3, s3_bucket, "x").fs
    for attempt, fill in enumerate((b"a", b"b")):
        try:
            with fs.open(f"{s3_bucket}/archive.zip", "xb", block_size=block) as handle:
                handle.write(fill * (block + 1))
                handle.write(fill * 10)
        except FileExistsError:
            assert attempt == 1
        else:
            assert attempt == 0
    client = local_s3.client()
    assert client.get_object(Bucket=s3_bucket, Key="archive.zip", Range="bytes=0-0")["Body"].read() == b"a"
    assert [upload["Key"] for upload in client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", [])] == [
        "archive.zip"
    ]


def test_rename_copies_then_deletes_and_overwrites_the_target(local_s3: LocalS3, s3_bucket: str) -> None:
    staged = _path(local_s3, s3_bucket, "staging/cert.pdf")
    published = _path(local_s3, s3_bucket, "published/cert.pdf")
    published.write_bytes(b"older")
    staged.write_bytes(b"newer")
    assert str(staged.rename(published)) == str(published)
    assert _keys(local_s3, s3_bucket) == {"published/cert.pdf": b"newer"}


def test_a_cached_listing_hides_what_another_client_wrote_until_invalidated(
    local_s3: LocalS3, s3_bucket: str
) -> None:
    folder = _path(local_s3, s3_bucket, "ledger")
    (folder / "a").write_bytes(b"a")
    assert [path.name for path in folder.iterdir()] == ["a"]
    local_s3.client().put_object(Bucket=s3_bucket, Key="ledger/b", Body=b"b")  # another worker
    assert [path.name for path in folder.iterdir()] == ["a"]
    assert not (folder / "b").exists()
    folder.fs.invalidate_cache(folder.path)
    assert sorted(path.name for path in folder.iterdir()) == ["a", "b"]
    assert (folder / "b").read_bytes() == b"b"
