"""A local S3 for the tests: moto's server in a child process on a free loopback port.

A child process rather than a thread of the test process: moto's state, its request log and
its import side effects (it hooks into botocore) stay out of the tests, and the child exits by
itself when its stdin closes, so a killed test run leaves no server behind.

``python -m tests.local_services.s3`` is that child: it prints its port and serves until stdin
closes.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

# Dummy credentials: moto accepts any, and the tests must never find real ones.
ACCESS_KEY = "mensatek-test"
SECRET_KEY = "mensatek-test-secret"
REGION = "us-east-1"
CONN_ID = "mensatek_test_s3"
_REPO = Path(__file__).resolve().parents[2]


class LocalS3:
    """The moto server, the ``aws`` connection that points Airflow at it, and a bucket helper."""

    conn_id = CONN_ID

    def __init__(self, log: Path) -> None:
        self.log = log
        self.endpoint_url = ""
        self._process: subprocess.Popen[str] | None = None

    def __repr__(self) -> str:
        return f"LocalS3(endpoint_url={self.endpoint_url!r})"

    def start(self, timeout: float = 60.0) -> LocalS3:
        with self.log.open("w") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "tests.local_services.s3"], cwd=_REPO, text=True,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
            )
        assert self._process.stdout is not None
        line = self._process.stdout.readline().strip()
        if not line.isdigit():
            self.stop()
            raise RuntimeError(f"the local S3 did not start: {line!r}\n{self.log.read_text()[-2000:]}")
        self.endpoint_url = f"http://127.0.0.1:{line}"
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._process is None:
            return
        assert self._process.stdin is not None
        self._process.stdin.close()  # the child's signal to stop
        try:
            self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        finally:
            if self._process.stdout is not None:
                self._process.stdout.close()
            self._process = None

    @property
    def connection(self) -> dict[str, Any]:
        """An Airflow ``aws`` connection: the Amazon provider reads ``endpoint_url`` from its extra."""
        return {
            "conn_type": "aws", "login": ACCESS_KEY, "password": SECRET_KEY,
            "extra": {"endpoint_url": self.endpoint_url, "region_name": REGION},
        }

    @property
    def environment(self) -> dict[str, str]:
        """Variables for this process and its children: the connection, and no path to real AWS.

        ``AWS_ENDPOINT_URL`` sends any AWS client that names no endpoint to the local server, the
        dummy keys and empty config files keep a developer's own profile out, and the instance
        metadata lookup (a non-loopback address) is off.
        """
        return {
            f"AIRFLOW_CONN_{CONN_ID.upper()}": json.dumps(self.connection),
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def client(self) -> Any:
        """A boto3 S3 client on the local server, to arrange or inspect what a test needs."""
        import boto3

        return boto3.client(
            "s3", endpoint_url=self.endpoint_url, region_name=REGION,
            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
        )

    def create_bucket(self, prefix: str = "test") -> str:
        """A new empty bucket with a unique name (S3 names: lowercase, digits, hyphens)."""
        name = f"{prefix.lower().replace('_', '-')[:40]}-{secrets.token_hex(6)}"
        self.client().create_bucket(Bucket=name)
        return name

    def delete_bucket(self, name: str) -> None:
        """Delete a bucket with everything in it, unfinished multipart uploads included."""
        client = self.client()
        for upload in client.list_multipart_uploads(Bucket=name).get("Uploads", []):
            client.abort_multipart_upload(Bucket=name, Key=upload["Key"], UploadId=upload["UploadId"])
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=name):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                client.delete_objects(Bucket=name, Delete={"Objects": keys})
        client.delete_bucket(Bucket=name)


def _serve() -> None:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    print(server.get_host_and_port()[1], flush=True)
    # Returns when the parent closes the pipe or dies; the server's thread is a daemon and
    # ends with the process (a graceful shutdown only adds werkzeug's half-second poll).
    sys.stdin.read()


if __name__ == "__main__":
    _serve()
