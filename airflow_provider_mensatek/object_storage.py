"""Object storage paths from what DAG authors write: a URL, an absolute local path, an ObjectStoragePath.

Shared by certificate archiving and the campaigns' folders and ledgers, so it
lives under both (a campaign is no certificate). ``airflow.sdk.ObjectStoragePath``
writes ``file://`` with no extra packages; ``s3://`` needs the ``s3`` extra,
``gs://`` the ``gcs`` one.
"""

from __future__ import annotations

from airflow.sdk import ObjectStoragePath

from airflow_provider_mensatek.clients.errors import CertificateError


def to_storage_path(destination: str | ObjectStoragePath, conn_id: str | None = None) -> ObjectStoragePath:
    """A URL / path string or an ObjectStoragePath, with an optional storage connection.

    A bare local path is taken as ``file://``; a ``conn_id`` given here wins
    over one embedded in the URL (``s3://conn@bucket/key``).
    """
    conn_id = conn_id or None  # a rendered empty template means "no connection"
    if isinstance(destination, ObjectStoragePath):
        return ObjectStoragePath(destination, conn_id=conn_id) if conn_id else destination
    text = str(destination).strip()
    if not text:
        raise CertificateError("destination is empty", vendor="provider", code="bad-destination")
    if "://" not in text:
        if not text.startswith("/"):
            raise CertificateError(f"destination {text!r} must be a URL or an absolute path",
                                   vendor="provider", code="bad-destination")
        text = f"file://{text}"
    return ObjectStoragePath(text, conn_id=conn_id)
