"""Mensatek certified email: download -> check -> manifest -> atomic write, for one certificate set.

The LegallyMail counterpart is :mod:`.legallymail`; where a set goes is :mod:`.destination`.
Used by the operators and the benchmark. The download goes into an
anonymous temporary file (deleted on close, even on a crash) so memory stays
flat; nothing touches the destination until every check has passed.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow.sdk import ObjectStoragePath

from airflow_provider_mensatek import __version__
from airflow_provider_mensatek.certificates.checks import (
    DEFAULT_LIMITS,
    ArchiveLimits,
    build_manifest,
    check_zip,
)
from airflow_provider_mensatek.certificates.destination import DEFAULT_LAYOUT, MENSATEK_CERTIFIED_EMAIL, render_layout
from airflow_provider_mensatek.certificates.store import ArchiveOutcome, archive_certificate_set
from airflow_provider_mensatek.clients.mensatek.wire import FUNCTIONS

if TYPE_CHECKING:
    from airflow_provider_mensatek.clients.mensatek.client import MensatekClient

def _csv_column(row: Mapping[str, str], *names: str) -> str | None:
    lowered = {k.lower(): v for k, v in row.items()}
    for name in names:
        if lowered.get(name.lower()):
            return lowered[name.lower()]
    return None


def archive_mensatek_certified_email(
    client: MensatekClient,
    message_id: int,
    destination: ObjectStoragePath,
    *,
    layout: str = DEFAULT_LAYOUT,
    overwrite: bool = False,
    limits: ArchiveLimits = DEFAULT_LIMITS,
    now: datetime | None = None,
) -> ArchiveOutcome:
    """Archive the certificate ZIP of one Mensatek certified email.

    Raises :class:`CertificateNotReadyError` (retry later) while the vendor
    answers ``Res:-5``, :class:`CertificateError` for an archive that fails
    a check; in both cases nothing was written.
    """
    vendor, kind = MENSATEK_CERTIFIED_EMAIL
    target = destination / render_layout(layout, vendor=vendor, kind=kind, id=message_id)
    function = FUNCTIONS["download_certified_email_certificates"]
    with tempfile.TemporaryFile(prefix="mensatek-certificate-") as spool:
        download = client.download_certified_email_certificates(message_id, spool,
                                                                max_bytes=limits.max_total_bytes)
        downloaded_at = now or datetime.now(timezone.utc)
        spool.flush()
        checked = check_zip(spool, limits=limits, vendor=vendor, function=function,
                            redact=client.transport.redact, source_name=f"{function}_{message_id}.zip")
        rows = checked.csv_rows
        recipients = _unique(_csv_column(r, "Destinatario", "Email") for r in rows)
        status = [
            {"recipient": _csv_column(r, "Destinatario", "Email"), "code": _csv_column(r, "Estado"),
             "text": _csv_column(r, "txtEstado"), "csv": _csv_column(r, "CSV")}
            for r in rows
        ]
        manifest = build_manifest(
            vendor=vendor, kind=kind, ids={"message_id": message_id}, files=checked.files,
            provider_version=__version__, downloaded_at=downloaded_at, recipients=recipients,
            vendor_status=status or None, csv_rows=rows,
            source={**checked.source, "function": function, "content_type": download.content_type},
        )
        return archive_certificate_set(target, checked, manifest, overwrite=overwrite)


def _unique(values: Any) -> Sequence[str]:
    out: list[str] = []
    for value in values:
        if value and value not in out:
            out.append(value)
    return out
