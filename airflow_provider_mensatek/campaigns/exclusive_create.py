"""Whether a ledger's storage creates a file exclusively: checked before a process's first send there.

The ledger's promise that two workers never send one batch (a zombie task and
its retry, two DAG runs of one campaign) rests on one operation: the batch's
``in_flight`` record is created only if its name does not exist yet. Local
files do it with a hard link; object stores with fsspec's mode ``"xb"``,
which s3fs sends as a conditional write (``If-None-Match: *``, honoured by AWS
S3 since 2024). Two things break it without any error: a file system with no
``"xb"`` mode, and an S3-compatible server that ignores the condition and
overwrites. So before the first claim on a ledger, a probe object is created
exclusively twice; the second create must fail with ``FileExistsError``.

Where it does not, every campaign send there is refused (any send may race
another: a retry does not know a zombie is still running), never degraded to a
plain write: a plain write would let both workers believe they won.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

from airflow_provider_mensatek.clients.errors import ValidationError

PROBE_PREFIX = ".exclusive-create-probe-"

#: Ledger folders whose storage passed the probe in this process (protocol + path): probed once each.
_VERIFIED: set[str] = set()
_LOCK = threading.Lock()


class ExclusiveCreateUnsupportedError(ValidationError):
    """The campaign ledger's storage cannot create a file exclusively: sends there are refused."""


def require_exclusive_create(folder: Any) -> None:
    """Return if ``folder`` (a non-local pathlib-like ledger folder) creates files exclusively, else raise.

    Raises :class:`ExclusiveCreateUnsupportedError` before anything is sent.
    """
    key = f"{getattr(folder, 'protocol', type(folder).__name__)}://{getattr(folder, 'path', folder)}"
    with _LOCK:
        if key in _VERIFIED:
            return
    problem = _probe(folder)
    if problem is None:
        with _LOCK:
            _VERIFIED.add(key)
        return
    raise ExclusiveCreateUnsupportedError(
        f"The campaign ledger at {folder} cannot create a file exclusively: {problem}. That exclusive "
        "create is what keeps two workers (a zombie task and its retry, two DAG runs) from sending the same "
        "batch twice, so campaign sends are refused on this storage; nothing was sent. Put the campaign "
        "folder on storage that creates exclusively: local files (one machine), or S3 with conditional "
        "writes (If-None-Match, through the provider's s3 extra).",
        vendor="provider",
    )


def _probe(folder: Any) -> str | None:
    """None when a second exclusive create of one name fails as it must; else what went wrong."""
    folder.mkdir(parents=True, exist_ok=True)  # object stores have no folders: nothing is made there
    probe = folder / f"{PROBE_PREFIX}{uuid.uuid4().hex}"
    try:
        # Content, never an empty object: s3fs commits an empty file with a plain PUT, unconditionally.
        _create(probe, b"first")
        try:
            _create(probe, b"second")
        except FileExistsError:
            return None
        return "a second exclusive create of the same name succeeded (the store ignores If-None-Match)"
    except (ValueError, NotImplementedError, TypeError) as exc:
        return f"its file system has no exclusive create mode ({type(exc).__name__}: {exc})"
    finally:
        try:
            probe.unlink()
        except FileNotFoundError:
            pass


def _create(path: Any, data: bytes) -> None:
    with path.open("xb") as handle:
        handle.write(data)
