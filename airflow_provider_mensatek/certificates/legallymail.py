"""Archive LegallyMail evidence: certified-email certificates, signature actas, certified-SMS certificates.

Every PDF is fetched through :meth:`LegallyMailClient.download` (same host as
the API only, so the token never leaves; shared rate limiter; streamed into a
temporary file), checked (not an error body, PDF magic, size), compared with
the sha256 the API published for it when there is one, and only then written
with the same atomic, manifest-last protocol as the Mensatek archives.

What is archived, per kind (folder ``legallymail/<kind>/<id>/`` by default):

* ``certified_email`` (tracking id): ``recipients/<email>/<type>.pdf`` for
  every certificate of every recipient (``delivered``, ``read``; ``certificate``
  when the API gives no type), plus any send-level certificate as ``<type>.pdf``;
* ``signature`` (uuid): ``document/<document_name>`` (the document as sent
  for signature, ``download_original_url``), ``acta.pdf`` (the signature
  record, ``download_acta_url``) and ``signature.json`` (the API's record of
  the request: signers, times, hashes);
* ``certified_sms`` (uuid): ``certificate.pdf``.

Names keep only letters, digits and ``@._+-`` (anything else becomes ``_``),
and every certificate gets a file of its own, named deterministically: when
two recipients' addresses give the same folder (``a/b@x`` and ``a=b@x``, or
addresses differing only in case), each of those folders gets ``~`` and 8 hex
digits of the sha256 of its address; when two certificates would share a
file name (two of one type for one recipient, or several without a type),
each of those files gets ``~`` and the first 10 hex digits of its own sha256
(``delivered~0a1b2c3d4e.pdf``). Identical bytes under one name are stored once.

Not there yet (no certificate, not signed, no time stamp) raises
:class:`CertificateNotReadyError` (retry later); a final failure (bounced,
rejected, expired, failed) raises :class:`CertificateError` (nothing will
ever come).
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from airflow.sdk import ObjectStoragePath

from airflow_provider_mensatek import __version__
from airflow_provider_mensatek.certificates.checks import (
    DEFAULT_LIMITS,
    ArchiveLimits,
    CertificateSet,
    CheckedFile,
    build_manifest,
    check_bytes,
    check_pdf,
)
from airflow_provider_mensatek.certificates.destination import DEFAULT_LAYOUT, render_layout
from airflow_provider_mensatek.certificates.names import distinct_files, distinct_labels
from airflow_provider_mensatek.certificates.store import ArchiveOutcome, archive_certificate_set
from airflow_provider_mensatek.clients.errors import CertificateError, CertificateNotReadyError, ValidationError
from airflow_provider_mensatek.delivery.statuses import vendor_state

if TYPE_CHECKING:
    from airflow_provider_mensatek.clients.legallymail.client import LegallyMailClient

VENDOR = "legallymail"
KINDS = ("certified_email", "signature", "certified_sms")
_SHA256_RE = re.compile(r"^[0-9a-fA-F]{64}$")
_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9@._+-]")


@dataclass
class _Plan:
    """What to fetch for one id, and what to say about it in the manifest."""

    ids: dict[str, str]
    recipients: list[str]
    vendor_status: Any
    downloads: list[tuple[str, str, str | None]] = field(default_factory=list)  # path, url, vendor sha256
    records: list[tuple[str, bytes]] = field(default_factory=list)
    #: Paths whose published hash is recorded but not enforced (its meaning is undocumented).
    unenforced_hashes: set[str] = field(default_factory=set)


def _folder_name(text: str) -> str:
    return _UNSAFE_CHARS.sub("_", text).strip("._") or "unknown"


def _not_ready(kind: str, ident: str, why: str) -> CertificateNotReadyError:
    return CertificateNotReadyError(f"{kind} {ident}: {why}; ask again later", vendor=VENDOR,
                                    function=kind, code="not-ready")


def _never(kind: str, ident: str, why: str) -> CertificateError:
    return CertificateError(f"{kind} {ident}: {why}; there is no certificate to archive", vendor=VENDOR,
                            function=kind, code="no-certificate")


def _plan_email(client: LegallyMailClient, tracking_id: str) -> _Plan:
    status = client.get_email(tracking_id)
    plan = _Plan(ids={"tracking_id": tracking_id}, recipients=[r.email for r in status.recipients],
                 vendor_status=status.to_dict())
    for cert in status.certificates:
        if cert.pdf_download_url:
            plan.downloads.append((f"{_folder_name(cert.certificate_type or 'certificate')}.pdf",
                                   cert.pdf_download_url, cert.file_hash))
    folders = distinct_labels((r.email for r in status.recipients), _folder_name)
    for rec in status.recipients:
        for cert in rec.certificates:
            if cert.pdf_download_url:
                kind = _folder_name(cert.certificate_type or "certificate")
                plan.downloads.append((f"recipients/{folders[rec.email]}/{kind}.pdf", cert.pdf_download_url,
                                       cert.file_hash))
    if not plan.downloads:
        states = [vendor_state(r) for r in status.recipients] or [vendor_state(status)]
        if all(s.terminal and s.failure for s in states):
            raise _never("certified_email", tracking_id, f"it ended as {status.status!r}")
        raise _not_ready("certified_email", tracking_id, f"no certificate yet (status {status.status!r})")
    # A set is archived whole or not at all: a manifest marks it complete, and a later
    # run with the missing recipient would be refused as a conflicting set.
    waiting_for = [r.email for r in status.recipients
                   if not any(c.pdf_download_url for c in r.certificates)
                   and not (vendor_state(r).terminal and vendor_state(r).failure)]
    if len(status.recipients) > 1 and waiting_for:
        raise _not_ready("certified_email", tracking_id,
                         f"no certificate yet for {', '.join(waiting_for)}")
    return plan


def _plan_signature(client: LegallyMailClient, uuid: str) -> _Plan:
    status = client.get_signature(uuid)
    record = status.to_dict()
    plan = _Plan(ids={"uuid": uuid}, recipients=[s.email for s in status.signers if s.email] or
                 [e for e in [status.signer_email] if e], vendor_status=record)
    if status.status != "signed":
        if vendor_state(status).terminal and vendor_state(status).failure:
            raise _never("signature", uuid, f"the request ended as {status.status!r}")
        raise _not_ready("signature", uuid, f"not signed yet (status {status.status!r})")
    if not status.download_acta_url:
        raise _not_ready("signature", uuid, "signed, but the acta is not published yet")
    if status.download_original_url:
        plan.downloads.append((f"document/{_folder_name(status.document_name or 'document.pdf')}",
                               status.download_original_url, status.document_hash))
    # The document does not say what signed_document_hash covers (the acta, or a signed
    # copy we are not offered): it is recorded and compared, never enforced (see below).
    plan.downloads.append(("acta.pdf", status.download_acta_url, status.signed_document_hash))
    plan.unenforced_hashes.add("acta.pdf")
    plan.records.append(("signature.json", json.dumps(record, indent=2, sort_keys=True,
                                                      ensure_ascii=False).encode("utf-8")))
    return plan


def _plan_sms(client: LegallyMailClient, uuid: str) -> _Plan:
    status = client.get_sms(uuid)
    plan = _Plan(ids={"uuid": uuid}, recipients=[status.recipient] if status.recipient else [],
                 vendor_status=status.to_dict())
    if not status.download_certificate_url:
        if vendor_state(status).terminal and vendor_state(status).failure:
            raise _never("certified_sms", uuid, f"it ended as {status.status!r}")
        raise _not_ready("certified_sms", uuid, f"not time-stamped yet (status {status.status!r})")
    plan.downloads.append(("certificate.pdf", status.download_certificate_url, None))
    return plan


_PLANNERS = {"certified_email": _plan_email, "signature": _plan_signature, "certified_sms": _plan_sms}


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise ValidationError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}", vendor=VENDOR)
    return kind


def _download(
    client: LegallyMailClient, plan: _Plan, index: int, work: Path, limits: ArchiveLimits,
) -> tuple[CheckedFile, Path, dict[str, Any] | None]:
    """Fetch and check one planned PDF: (checked file under its planned name, spool, published-hash record)."""
    path, url, vendor_hash = plan.downloads[index]
    spool = work / f"{index}.pdf"
    with spool.open("w+b") as handle:
        client.download(url, handle, max_bytes=limits.max_entry_bytes)
        checked = check_pdf(handle, path, vendor=VENDOR, function="download",
                            max_bytes=limits.max_entry_bytes, redact=client.transport.redact)
    if not vendor_hash:
        return checked, spool, None
    # Every hash the API published is kept in the manifest with whether it matched;
    # a sha256 published for the very file we got must match, or nothing is archived.
    is_sha256 = bool(_SHA256_RE.match(vendor_hash))
    matches = vendor_hash.lower() == checked.sha256 if is_sha256 else None
    if matches is False and path not in plan.unenforced_hashes:
        raise CertificateError(
            f"{checked.path}: sha256 {checked.sha256} differs from the {vendor_hash.lower()} the "
            "API published for it; nothing was archived", vendor=VENDOR, function="download",
            code="hash-mismatch",
        )
    return checked, spool, {"published": vendor_hash, "sha256_matches": matches}


def archive_legallymail(
    client: LegallyMailClient,
    kind: str,
    ident: str,
    destination: ObjectStoragePath,
    *,
    layout: str = DEFAULT_LAYOUT,
    overwrite: bool = False,
    limits: ArchiveLimits = DEFAULT_LIMITS,
    now: datetime | None = None,
) -> ArchiveOutcome:
    """Archive the evidence of one LegallyMail certified email, signature request or certified SMS."""
    target = destination / render_layout(layout, vendor=VENDOR, kind=check_kind(kind), id=ident)
    plan = _PLANNERS[kind](client, ident)
    downloaded_at = now or datetime.now(timezone.utc)
    with tempfile.TemporaryDirectory(prefix="legallymail-certificates-") as work:
        files: list[CheckedFile] = []
        local: dict[str, Path] = {}
        vendor_hashes: dict[str, dict[str, Any]] = {}
        downloaded = [_download(client, plan, index, Path(work), limits) for index in range(len(plan.downloads))]
        final_paths = distinct_files([(checked.path, checked.sha256) for checked, _spool, _record in downloaded])
        for (checked, spool, record), final in zip(downloaded, final_paths, strict=True):
            if final in local:
                continue  # the same bytes listed twice under one name: one file
            files.append(replace(checked, path=final))
            local[final] = spool
            if record is not None:
                vendor_hashes[final] = record
        for index, (path, data) in enumerate(plan.records):
            spool = Path(work) / f"record-{index}"
            spool.write_bytes(data)
            checked = check_bytes(data, path, vendor=VENDOR)
            files.append(checked)
            local[checked.path] = spool

        @contextmanager
        def opener(checked: CheckedFile) -> Iterator[IO[bytes]]:
            with local[checked.path].open("rb") as handle:
                yield handle

        certificate_set = CertificateSet(files=files, opener=opener)
        manifest = build_manifest(
            vendor=VENDOR, kind=kind, ids=plan.ids, files=files, provider_version=__version__,
            downloaded_at=downloaded_at, recipients=plan.recipients, vendor_status=plan.vendor_status,
            extra={"vendor_hashes": vendor_hashes} if vendor_hashes else None,
        )
        return archive_certificate_set(target, certificate_set, manifest, overwrite=overwrite)
