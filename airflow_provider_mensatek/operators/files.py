"""Operator for the Mensatek file library (files an SMS can link)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import Context

from airflow_provider_mensatek.operators._base import MensatekBaseOperator, vendor_errors
from airflow_provider_mensatek.operators._local_files import AllowedRoots, storage_source, with_allowed_roots


class MensatekUploadFileOperator(MensatekBaseOperator):
    """Upload a file to the Mensatek library (``CargarFichero``) so a later SMS can link it.

    The name is checked before uploading: up to 15 letters or digits plus a
    PDF, Excel, Word or VCF extension. An upload sends no message, so it is
    retried like a read; the vendor document does not say whether the same
    name uploaded twice replaces the file or takes a second library slot
    (there is a per-account file limit), so give each upload its own name.

    :param source: a local path (inside ``allowed_roots``), an object-storage path or URL (``s3://``,
        ``gs://``, ``file://``), or a dict ``{"name", "content"|"path"|"base64"}``.
    :param name: the name in the library (default: the file's own name) -> ``Nombre``.
    :param mode: ``"FILES"`` (multipart upload, the vendor's recommendation) or ``"BASE64"`` -> ``Tipo``
        (with ``Contenido``).
    :param auto_delete: delete the file once a certified SMS using it is certified -> ``Autoborrado``.
    :param mensatek_conn_id: the ``mensatek`` connection.
    :param allowed_roots: local folders ``source`` may be read from. Not templated, so ``dag_run.conf``
        and XCom cannot widen it. Default: the DAG file's folder, the system temp dir and the
        ``[mensatek] allowed_local_roots`` option; a list replaces all three (``[]``: no local file).
    :return: (XCom) ``{"name", "mode", "size", "auto_delete", "credits_left"}``.
    """

    template_fields: Sequence[str] = ("source", "name")

    def __init__(self, *, source: Any, name: str | None = None, mode: str = "FILES", auto_delete: bool = False,
                 allowed_roots: AllowedRoots = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.source = source
        self.name = name
        self.mode = mode
        self.auto_delete = auto_delete
        self.allowed_roots = allowed_roots

    def execute(self, context: Context) -> dict[str, Any]:
        client = with_allowed_roots(self.get_client(), self, self.allowed_roots)
        with vendor_errors():
            result = client.upload_file(storage_source(self.source), name=self.name or None, mode=self.mode,
                                        auto_delete=self.auto_delete).to_dict()
        self.log.info("Uploaded %s (%s bytes) to the Mensatek library", result["name"], result["size"])
        return result
