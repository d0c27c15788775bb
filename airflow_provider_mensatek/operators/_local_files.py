"""Where an operator's attachments and documents may come from: the Airflow half of the file rules.

The rules themselves (regular files only, inside allowed roots, read with a
bound) live in :mod:`airflow_provider_mensatek.clients._local_files`. What is
decided here is *which* roots a task gets:

* ``allowed_roots`` is an operator argument that is deliberately **not
  templated**: the DAG author writes it, while ``dag_run.conf`` and XCom, which
  can fill templated attachment and document arguments, cannot widen it;
* by default a task may read local files from its DAG file's folder (files
  shipped with the DAG) and the system temp dir (files an upstream task just
  wrote), plus the deployment-wide ``[mensatek] allowed_local_roots`` option
  (comma-separated absolute folders; ``AIRFLOW__MENSATEK__ALLOWED_LOCAL_ROOTS``),
  which an administrator, not a DAG author, controls. The Airflow home is not a
  default: it holds ``airflow.cfg`` and logs.
* whatever the roots, ``[kerberos] ccache`` (by default ``/tmp/airflow_krb5_ccache``,
  inside the temp dir root) is refused like every ``krb5cc*`` file: it is
  registered with the clients' credential-cache check before each task reads.
* the same roots apply to a campaign's ``recipients_path``.
* a URL string (``s3://``, ``gs://``, ``file://``) becomes an
  ``ObjectStoragePath``; the client reads remote objects with the same size
  bound and checks ``file://`` ones as local files.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from airflow.sdk import BaseOperator, ObjectStoragePath, conf

from airflow_provider_mensatek.clients._credential_caches import register_credential_file
from airflow_provider_mensatek.clients._local_files import LocalFileAccess, is_storage_url, normalise_roots
from airflow_provider_mensatek.clients.validation import as_list
from airflow_provider_mensatek.operators._base import vendor_errors

#: ``[section] option`` of the deployment-wide roots, added to every task's default roots.
CONFIG_SECTION, CONFIG_OPTION = "mensatek", "allowed_local_roots"

AllowedRoots = str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None
_C = TypeVar("_C", bound=LocalFileAccess)


def configured_roots() -> list[str]:
    value = conf.get(CONFIG_SECTION, CONFIG_OPTION, fallback="") or ""
    return [item.strip() for item in value.split(",") if item.strip()]


def default_roots(task: BaseOperator) -> list[str]:
    """The task's DAG folder, the system temp dir and the configured roots."""
    fileloc = task.dag.fileloc if task.has_dag() else ""
    # A DAG built outside a file (an interactive session) has no folder of its own.
    own = [os.path.dirname(fileloc)] if os.path.isabs(fileloc) else []
    return [*own, tempfile.gettempdir(), *configured_roots()]


def task_roots(task: BaseOperator, allowed_roots: AllowedRoots) -> tuple[str, ...]:
    """The folders ``task`` may read local files from: ``allowed_roots``, or :func:`default_roots` when None.

    An explicit value replaces the defaults, configured roots included, so a DAG
    author can narrow them (``[]``: no local file at all) as well as widen them.
    """
    register_credential_file(conf.get("kerberos", "ccache", fallback="") or "")
    with vendor_errors():  # a relative or forbidden root is a DAG mistake a retry cannot fix
        return normalise_roots(default_roots(task) if allowed_roots is None else allowed_roots)


def with_allowed_roots(client: _C, task: BaseOperator, allowed_roots: AllowedRoots) -> _C:
    """``client``, allowed to read local files only from :func:`task_roots`."""
    client.allowed_roots = task_roots(task, allowed_roots)
    return client


def storage_source(item: Any) -> Any:
    """A URL string as an ``ObjectStoragePath``, in a ``{"path": ...}`` dict too; anything else as it is."""
    if is_storage_url(item):
        return ObjectStoragePath(item)
    if isinstance(item, Mapping):
        return {key: storage_source(value) if str(key).lower() == "path" else value for key, value in item.items()}
    return item


def storage_sources(value: Any) -> Any:
    """Every item of an attachments argument (a list, one item or a JSON list string) through :func:`storage_source`."""
    if value is None or value == "" or value == []:
        return value
    with vendor_errors():
        return [storage_source(item) for item in as_list(value, "attachments")]


__all__ = ["CONFIG_OPTION", "CONFIG_SECTION", "configured_roots", "default_roots", "storage_source",
           "storage_sources", "task_roots", "with_allowed_roots"]
