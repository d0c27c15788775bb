"""Operators that archive certificate evidence into a data lake (file://, s3://, gs://)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset, Context, ObjectStoragePath

from airflow_provider_mensatek.certificates.destination import (
    DEFAULT_LAYOUT,
    MENSATEK_CERTIFIED_EMAIL,
    render_layout,
    static_layout_prefix,
)
from airflow_provider_mensatek.certificates.limits import DEFAULT_LIMITS, ArchiveLimits
from airflow_provider_mensatek.clients.errors import CertificateNotReadyError, ValidationError
from airflow_provider_mensatek.clients.validation import check_message_id
from airflow_provider_mensatek.object_storage import to_storage_path
from airflow_provider_mensatek.operators._base import MensatekBaseOperator, vendor_errors
from airflow_provider_mensatek.operators.legallymail import LegallyMailBaseOperator

if TYPE_CHECKING:
    from airflow_provider_mensatek.certificates.store import ArchiveOutcome

#: A certificate can lag the delivery report by a long time (DESIGN.md): retry
#: politely for about an hour unless the DAG says otherwise.
DEFAULT_NOT_READY_RETRIES = 6
DEFAULT_NOT_READY_DELAY = timedelta(minutes=10)


def certificate_asset(destination: Any, layout: str, vendor: str, kind: str) -> Asset | None:
    """The Asset a task writes into, when it is known at parse time (no Jinja in its parts).

    Its URI is the folder above the per-id folders, without any storage
    connection id (a credential reference is not part of the data's identity).
    """
    if isinstance(destination, ObjectStoragePath):
        base = f"{destination.protocol or 'file'}://{destination.path}"
    elif isinstance(destination, str) and "{{" not in destination and "{%" not in destination:
        try:
            path = to_storage_path(destination)
        except Exception:
            return None
        base = f"{path.protocol or 'file'}://{path.path}"
    else:
        return None
    if "{{" in layout or "{%" in layout:
        return None
    try:
        prefix = static_layout_prefix(layout, vendor=vendor, kind=kind)
    except (KeyError, IndexError, ValueError):
        return None
    uri = base.rstrip("/") + ("/" + prefix if prefix else "")
    return Asset(uri=uri)


def _with_retry_defaults(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Retry a "not generated yet" certificate unless the task or its DAG chose otherwise."""
    from_dag = kwargs.get("default_args") or {}
    if "retries" not in kwargs and "retries" not in from_dag:
        kwargs["retries"] = DEFAULT_NOT_READY_RETRIES
    if "retry_delay" not in kwargs and "retry_delay" not in from_dag:
        kwargs["retry_delay"] = DEFAULT_NOT_READY_DELAY
    return kwargs


def parse_ids(raw: Any, check: Callable[[Any], Any], what: str) -> list[Any]:
    """One id, a list, a comma-separated string or a rendered JSON list -> checked, deduplicated ids."""
    if isinstance(raw, str):
        stripped = raw.strip()
        # A rendered XCom list arrives as text unless render_template_as_native_obj is set.
        if stripped.startswith("["):
            try:
                raw = json.loads(stripped)
            except ValueError:
                raise ValidationError(f"{what} looks like a JSON list but is not valid JSON: {stripped[:80]!r}") \
                    from None
        else:
            raw = [p for p in stripped.split(",") if p.strip()]
    if not isinstance(raw, Sequence):
        raw = [raw]
    ids = [check(item) for item in raw]
    if not ids:
        raise ValidationError(f"{what} is empty: nothing to archive")
    return list(dict.fromkeys(ids))


class _ArchiveCertificates:
    """The part both vendors' operators share: per-id loop, not-ready handling, lineage, XCom."""

    destination: Any
    storage_conn_id: str | None
    layout: str
    outlets: Any
    log: Any

    def _archive_all(
        self, context: Context, vendor: str, kind: str, ids: list[Any], make_client: Callable[[], Any],
        archive_one: Callable[[Any, Any, Any], ArchiveOutcome],
    ) -> dict[str, Any]:
        # Everything that can be refused locally is, before the first request.
        with vendor_errors():
            for ident in ids:
                render_layout(self.layout, vendor=vendor, kind=kind, id=ident)
            destination = to_storage_path(self.destination, self.storage_conn_id)
        client = make_client()
        archives: list[dict[str, Any]] = []
        not_ready: list[Any] = []
        try:
            for ident in ids:
                try:
                    with vendor_errors():
                        outcome = archive_one(client, ident, destination)
                except CertificateNotReadyError as exc:
                    self.log.info("%s %s: %s", kind, ident, exc.message)
                    not_ready.append(ident)
                    continue
                self.log.info("%s %s: %s at %s", kind, ident, outcome.status, outcome.manifest_path)
                archives.append({"id": ident, **outcome.to_dict()})
        finally:
            client.close()
        self._record_asset_events(context, archives)
        if not_ready:
            raise CertificateNotReadyError(
                f"Certificates not generated yet for {kind} {not_ready} ({len(archives)} other(s) archived); "
                "the task will be retried", vendor=vendor, function=kind, code="not-ready",
            )
        return {"vendor": vendor, "kind": kind, "archives": archives}

    def _record_asset_events(self, context: Context, archives: list[dict[str, Any]]) -> None:
        written = [a for a in archives if a["status"] != "unchanged"]
        events = context.get("outlet_events")
        if not written or events is None:
            return
        for outlet in self.outlets or []:
            if isinstance(outlet, Asset):
                events[outlet].extra = {"manifests": [a["manifest_path"] for a in written]}


def _declare_outlets(kwargs: dict[str, Any], destination: Any, layout: str, vendor: str, kind: str) -> None:
    if "outlets" not in kwargs:
        asset = certificate_asset(destination, layout, vendor, kind)
        if asset is not None:
            kwargs["outlets"] = [asset]


class MensatekDownloadCertificatesOperator(_ArchiveCertificates, MensatekBaseOperator):
    """Download the certificate ZIP (PDFs + CSV) of Mensatek certified emails and archive it.

    For every message id the vendor's ZIP is streamed to a temporary file,
    checked (not an error body, sound ZIP, safe and distinct names, no bomb,
    real PDFs), and only then written under ``<destination>/<layout>/``: files under
    temporary names moved into place, ``manifest.json`` last (sizes, sha256,
    recipients, vendor status and CSV rows, download time, provider version).
    Re-running over identical content changes nothing.

    **Not ready yet:** Mensatek answers ``Res:-5`` until the certificate is
    generated, which can lag well behind the delivery report. The task then
    raises :class:`~airflow_provider_mensatek.clients.errors.CertificateNotReadyError`
    (retryable, never an ``AirflowFailException``) after archiving the ids
    that were ready, so an Airflow retry picks up the rest; the retries are
    cheap because ids already archived are no-ops. Unless the task or its
    DAG's ``default_args`` set them, ``retries=6`` and ``retry_delay=10 min``
    apply; with ``retry_policy=MensatekRetryPolicy()``
    (:mod:`airflow_provider_mensatek.retry_policy`) the wait between tries
    follows that policy instead. Checks that fail (a hostile or corrupt
    archive, different content already archived without ``overwrite``) fail
    the task without retries.

    :param message_ids: one message id or a list (vendor ``Idmensaje``,
        ``GetCertificadoEMAILCERTIFICADO``); templated, e.g. from the send
        task's XCom ``message_ids``.
    :param destination: where to archive: a URL (``file:///data/lake``,
        ``s3://bucket/prefix`` with the ``s3`` extra, ``gs://...`` with
        ``gcs``), an absolute local path, or an ``ObjectStoragePath``. Templated.
    :param storage_conn_id: Airflow connection for the storage (e.g. an AWS
        connection); may also be embedded in the URL (``s3://conn@bucket``).
    :param layout: folder of one set below ``destination``; placeholders
        ``{vendor}``, ``{kind}``, ``{id}``; default ``{vendor}/{kind}/{id}``
        (``mensatek/certified_email/<id>``). Templated (Jinja first, e.g.
        ``{{ dag_run.run_after | ds }}/{id}``).
    :param overwrite: replace a set whose content differs from what is
        archived (the earlier manifest is kept as ``manifest.<time>.json``).
        Default False: different content is refused. An overwrite that stops
        part-way is recorded in ``manifest.pending.json`` and finished by the
        next run.
    :param limits: :class:`ArchiveLimits` (entry count, sizes, compression ratio
        of each entry and of the whole archive).
    :param mensatek_conn_id: the Mensatek connection (default ``mensatek_default``).

    Lineage: unless ``outlets`` is given, the task declares the Asset
    ``<destination>/<vendor>/<kind>`` when destination and layout are not
    Jinja templates; its event extra lists the manifests written.

    Returns (XCom): ``{"vendor", "kind", "archives": [{"id", "status",
    "location", "manifest_path", "previous_manifest_path", "manifest"}]}``
    where ``status`` is ``written``, ``unchanged`` or ``overwritten``.
    """

    template_fields: Sequence[str] = ("message_ids", "destination", "layout", "storage_conn_id")
    ui_color = "#d8e7f5"

    def __init__(
        self,
        *,
        message_ids: Any,
        destination: str | ObjectStoragePath,
        storage_conn_id: str | None = None,
        layout: str = DEFAULT_LAYOUT,
        overwrite: bool = False,
        limits: ArchiveLimits = DEFAULT_LIMITS,
        **kwargs: Any,
    ) -> None:
        _declare_outlets(kwargs, destination, layout, *MENSATEK_CERTIFIED_EMAIL)
        super().__init__(**_with_retry_defaults(kwargs))
        self.message_ids = message_ids
        self.destination = destination
        self.storage_conn_id = storage_conn_id
        self.layout = layout
        self.overwrite = overwrite
        self.limits = limits

    def execute(self, context: Context) -> dict[str, Any]:
        # The archiving machinery (ZIP checks, manifests, storage writes) is imported here, not at DAG parse.
        from airflow_provider_mensatek.certificates.mensatek import archive_mensatek_certified_email

        vendor, kind = MENSATEK_CERTIFIED_EMAIL
        with vendor_errors():
            ids = parse_ids(self.message_ids, check_message_id, "message_ids")

        def archive_one(client: Any, ident: Any, destination: Any) -> ArchiveOutcome:
            return archive_mensatek_certified_email(client, ident, destination, layout=self.layout,
                                                    overwrite=self.overwrite, limits=self.limits)

        return self._archive_all(context, vendor, kind, ids, self.get_client, archive_one)


class LegallyMailDownloadCertificatesOperator(_ArchiveCertificates, LegallyMailBaseOperator):
    """Archive LegallyMail evidence: certified-email certificates, signature actas, certified-SMS certificates.

    Every PDF comes through the LegallyMail client (only URLs on the API's
    own host receive the token), is checked (not an error body, PDF magic,
    size) and compared with the sha256 the API publishes for it, then is
    written with the same atomic, manifest-last protocol as the Mensatek
    operator. Per ``kind`` (see :mod:`airflow_provider_mensatek.certificates.legallymail`):

    * ``certified_email``: ids are tracking ids (``GET /email?tracking_id=``);
      files ``recipients/<email>/<delivered|read>.pdf``, with ``~<hash>`` added
      where two would share a name (the rule is in that module);
    * ``signature``: ids are signature uuids (``GET /signature?uuid=``);
      files ``document/<name>``, ``acta.pdf`` and ``signature.json``;
    * ``certified_sms``: ids are SMS uuids (``GET /sms?uuid=``); file ``certificate.pdf``.

    Each id costs one status call plus one download per file; LegallyMail
    allows 10 requests per minute per IP and the client's shared limiter
    paces them. Not there yet (no certificate, not signed, no time stamp)
    raises the retryable :class:`CertificateNotReadyError` after archiving the
    ids that were ready (``retries=6``, ``retry_delay=10 min`` unless set); a
    final failure (bounced, rejected, expired) fails the task.

    :param kind: ``certified_email``, ``signature`` or ``certified_sms``.
    :param ids: one id or a list (templated; a rendered JSON list is accepted).
    :param destination: data lake root: URL, absolute path or ``ObjectStoragePath``. Templated.
    :param storage_conn_id: Airflow connection for the storage (or embedded in the URL).
    :param layout: folder of one set below ``destination``; ``{vendor}``, ``{kind}``,
        ``{id}``; default ``{vendor}/{kind}/{id}``. Templated.
    :param overwrite: replace a set whose content differs (the earlier manifest is kept).
    :param limits: :class:`ArchiveLimits` (``max_entry_bytes`` bounds each PDF).
    :param legallymail_conn_id: the LegallyMail connection (default ``legallymail_default``).

    Returns (XCom) the same shape as :class:`MensatekDownloadCertificatesOperator`.
    """

    template_fields: Sequence[str] = ("ids", "destination", "layout", "storage_conn_id")
    ui_color = "#d8e7f5"

    def __init__(
        self,
        *,
        kind: str,
        ids: Any,
        destination: str | ObjectStoragePath,
        storage_conn_id: str | None = None,
        layout: str = DEFAULT_LAYOUT,
        overwrite: bool = False,
        limits: ArchiveLimits = DEFAULT_LIMITS,
        **kwargs: Any,
    ) -> None:
        _declare_outlets(kwargs, destination, layout, "legallymail", kind)
        super().__init__(**_with_retry_defaults(kwargs))
        self.kind = kind
        self.ids = ids
        self.destination = destination
        self.storage_conn_id = storage_conn_id
        self.layout = layout
        self.overwrite = overwrite
        self.limits = limits

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_mensatek.certificates.legallymail import archive_legallymail, check_kind
        from airflow_provider_mensatek.clients.legallymail.checks import check_identifier

        with vendor_errors():
            kind = check_kind(self.kind)
            ids = parse_ids(self.ids, lambda value: check_identifier(value, "id"), "ids")

        def archive_one(client: Any, ident: Any, destination: Any) -> ArchiveOutcome:
            return archive_legallymail(client, kind, ident, destination, layout=self.layout,
                                       overwrite=self.overwrite, limits=self.limits)

        return self._archive_all(context, "legallymail", kind, ids, self.get_client, archive_one)
