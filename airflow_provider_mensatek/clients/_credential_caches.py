"""Credential caches: local files never read as an attachment, a document or a recipients file, whatever the roots.

The system temp dir is a default allowed root (upstream tasks write there), and
it is also where Kerberos keeps its tickets: Airflow's ``[kerberos] ccache``
defaults to ``/tmp/airflow_krb5_ccache``, MIT and Heimdal Kerberos to
``/tmp/krb5cc_<uid>``. A templated path from ``dag_run.conf`` must not be able
to mail a ticket (a credential as good as a password until it expires) to the
vendor and the recipients. So a file is refused when

* its name, as given or resolved, starts with ``krb5cc``;
* it *is* a known cache, compared by device and inode after it was opened (so a
  symlink or a hard link to it is refused too): the file ``KRB5CCNAME`` names
  (``FILE:`` or a plain path; every file under a ``DIR:`` collection), and the
  files registered with :func:`register_credential_file`, which the operators
  call with ``[kerberos] ccache`` (this module is Airflow-free).
"""

from __future__ import annotations

import os
import threading

#: Basename prefix of Kerberos file credential caches (MIT and Heimdal defaults).
CREDENTIAL_CACHE_PREFIX = "krb5cc"

_lock = threading.Lock()
_registered: set[str] = set()


def register_credential_file(path: str | os.PathLike[str]) -> None:
    """Refuse ``path`` (by identity, once it exists) in every local read of this process.

    Process-wide, like the secret masker: the list only ever refuses more.
    A relative or empty path is ignored (no credential cache is named that way).
    """
    text = os.fspath(path).strip()
    if text.upper().startswith("FILE:"):
        text = text[5:]
    if os.path.isabs(text):
        with _lock:
            _registered.add(text)


def is_credential_cache_name(path: str) -> bool:
    return os.path.basename(path).lower().startswith(CREDENTIAL_CACHE_PREFIX)


def is_credential_cache_file(real: str, info: os.stat_result) -> bool:
    """Whether the open file ``info`` describes (resolved path ``real``) is a known cache."""
    with _lock:
        paths = list(_registered)
    kind, sep, rest = os.environ.get("KRB5CCNAME", "").strip().partition(":")
    if not sep:
        paths.append(kind)
    elif kind.upper() == "FILE":
        paths.append(rest)
    elif kind.upper() == "DIR" and rest and os.path.dirname(real) == os.path.realpath(rest):
        return True  # a DIR: collection holds one ticket file per principal, directly in it
    for path in paths:
        try:
            known = os.stat(path) if os.path.isabs(path) else None
        except OSError:
            continue
        if known is not None and (known.st_dev, known.st_ino) == (info.st_dev, info.st_ino):
            return True
    return False


__all__ = ["CREDENTIAL_CACHE_PREFIX", "is_credential_cache_file", "is_credential_cache_name",
           "register_credential_file"]
