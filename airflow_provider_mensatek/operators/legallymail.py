"""Operators for LegallyMail: certified email, e-signature request, certified SMS.

Each is one client call made at most once per task instance (the task state
store records the accepted result, see
:func:`~airflow_provider_mensatek.operators._base.send_at_most_once`), with a
JSON-able XCom result. LegallyMail has no client reference field, so what an
ambiguous failure tells a person to look for in the dashboard is the subject /
document name and the recipients.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import Context

from airflow_provider_mensatek.operators._base import replay_note, send_at_most_once, vendor_errors
from airflow_provider_mensatek.operators._context_names import ContextNamesOperator
from airflow_provider_mensatek.operators._local_files import (
    AllowedRoots,
    storage_source,
    storage_sources,
    with_allowed_roots,
)


class LegallyMailBaseOperator(ContextNamesOperator):
    """Base for LegallyMail operators: the connection.

    :param legallymail_conn_id: Airflow connection of type ``legallymail`` (default ``legallymail_default``).
    """

    def __init__(self, *, legallymail_conn_id: str = "legallymail_default", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.legallymail_conn_id = legallymail_conn_id

    def get_client(self) -> Any:
        from airflow_provider_mensatek.hooks.legallymail import LegallyMailHook

        with vendor_errors():  # a connection a retry cannot fix fails the task once
            return LegallyMailHook(legallymail_conn_id=self.legallymail_conn_id).get_conn()


class LegallyMailSendCertifiedEmailOperator(LegallyMailBaseOperator):
    """Send a certified email through LegallyMail (``POST /api/send``).

    Sent at most once per task instance; a send whose outcome is unknown fails
    without retry and says what to look for in the LegallyMail dashboard.

    :param recipients: email addresses (a list, a JSON list string from XCom, or a comma-separated
        string) -> ``recipient`` (comma-separated). At most the connection's ``max_recipients`` (10).
    :param subject: subject -> ``subject``.
    :param message: HTML body -> ``message``.
    :param reply_to: reply address, a verified sender of the account -> ``reply_to``.
    :param reply_to_name: name for replies -> ``reply_to_name``.
    :param attachments: local paths (inside ``allowed_roots``), object-storage paths or URLs (``s3://``,
        ``gs://``, ``file://``), or dicts with ``filename``/``name`` and ``content`` (bytes) / ``path`` /
        ``base64``, optional ``mime_type`` -> ``attachments`` (``filename``, base64 ``content``, ``mime_type``).
    :param allowed_roots: local folders attachments may be read from. Not templated, so ``dag_run.conf``
        and XCom cannot widen it. Default: the DAG file's folder, the system temp dir and the
        ``[mensatek] allowed_local_roots`` option; a list replaces all three (``[]``: no local file).
    :param legallymail_conn_id: the ``legallymail`` connection.
    :return: (XCom) ``{"tracking_id", "tracking_ids": {email: tracking_id}, "recipients": [{"email",
        "status", "tracking_id", "error_details"}], "subject", "sent_at", "success_count", "fail_count",
        "error_status", "message"}``.
    """

    template_fields: Sequence[str] = ("recipients", "subject", "message", "reply_to", "reply_to_name",
                                      "attachments")
    template_fields_renderers = {"message": "html", "recipients": "json"}
    ui_color = "#e3f2fd"

    def __init__(
        self,
        *,
        recipients: Any,
        subject: str,
        message: str,
        reply_to: str | None = None,
        reply_to_name: str | None = None,
        attachments: Any = None,
        allowed_roots: AllowedRoots = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.recipients = recipients
        self.subject = subject
        self.message = message
        self.reply_to = reply_to
        self.reply_to_name = reply_to_name
        self.attachments = attachments
        self.allowed_roots = allowed_roots

    def execute(self, context: Context) -> Any:
        client = with_allowed_roots(self.get_client(), self, self.allowed_roots)
        attachments = storage_sources(self.attachments)

        def send() -> dict[str, Any]:
            result = client.send_certified_email(
                self.recipients, self.subject, self.message, reply_to=self.reply_to or None,
                reply_to_name=self.reply_to_name or None, attachments=attachments or None,
            )
            return {**result.to_dict(), "tracking_ids": result.tracking_ids}

        result = send_at_most_once(context, f"certified email {self.subject!r}", send)
        self.log.info("%sLegallyMail accepted the certified email for %d of %d recipient(s), tracking id %s",
                      replay_note(context), result["success_count"], result["success_count"] + result["fail_count"],
                      result["tracking_id"])
        return result


class LegallyMailRequestSignatureOperator(LegallyMailBaseOperator):
    """Ask 1 to 5 people to sign a PDF through LegallyMail (``POST /api/signature/send``).

    :param document: the PDF (at most 10 MB): bytes, a local path (inside ``allowed_roots``), an
        ``ObjectStoragePath``, or an object-storage URL such as ``s3://bucket/contract.pdf`` or ``file://...``
        (read through ObjectStoragePath; ``http(s)://`` is refused) -> ``document`` (base64).
    :param signers: dicts with ``name``, ``email`` and optional ``phone`` (country code first, enables the
        vendor's SMS check); a JSON list string from XCom is accepted -> ``signer_name`` / ``signer_email`` /
        ``signer_phone`` for one signer, ``signers`` for several.
    :param document_name: the name signers see -> ``document_name``. Default: the file name.
    :param language: signing page and emails language, ``es`` / ``en`` / ``fr`` / ``it`` -> ``language``.
    :param allowed_roots: local folders the document may be read from. Not templated, so ``dag_run.conf``
        and XCom cannot widen it. Default: the DAG file's folder, the system temp dir and the
        ``[mensatek] allowed_local_roots`` option; a list replaces all three (``[]``: no local file).
    :param legallymail_conn_id: the ``legallymail`` connection.
    :return: (XCom) ``{"uuid", "status", "document_name", "created_at", "signer_name", "signer_email",
        "signers": [{"name", "email", "phone"}]}``.
    """

    template_fields: Sequence[str] = ("document", "signers", "document_name", "language")
    template_fields_renderers = {"signers": "json"}
    ui_color = "#e3f2fd"

    def __init__(
        self,
        *,
        document: Any,
        signers: Any,
        document_name: str | None = None,
        language: str = "es",
        allowed_roots: AllowedRoots = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.document = document
        self.signers = signers
        self.document_name = document_name
        self.language = language
        self.allowed_roots = allowed_roots

    def execute(self, context: Context) -> Any:
        client = with_allowed_roots(self.get_client(), self, self.allowed_roots)
        source = storage_source(self.document)

        def send() -> dict[str, Any]:
            return client.request_signature(source, self.signers, document_name=self.document_name or None,
                                            language=self.language).to_dict()

        result = send_at_most_once(context, f"signature request for {self.document_name or source}", send)
        self.log.info("%sLegallyMail signature request %s created for %d signer(s)", replay_note(context),
                      result["uuid"], len(result["signers"]))
        return result


class LegallyMailSendCertifiedSmsOperator(LegallyMailBaseOperator):
    """Send a certified SMS through LegallyMail (``POST /api/sms/send``; 1 credit, up to 300 characters).

    :param phone: number with country code (``+34600000000``) -> ``phone``.
    :param message: the text, at most 300 characters -> ``message``.
    :param legallymail_conn_id: the ``legallymail`` connection.
    :return: (XCom) ``{"uuid", "status", "credits_deducted", "message", "phone"}``.
    """

    template_fields: Sequence[str] = ("phone", "message")
    ui_color = "#e3f2fd"

    def __init__(self, *, phone: str, message: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.phone = phone
        self.message = message

    def execute(self, context: Context) -> Any:
        client = self.get_client()

        def send() -> dict[str, Any]:
            return client.send_certified_sms(self.phone, self.message).to_dict()

        result = send_at_most_once(context, f"certified SMS to {self.phone}", send)
        self.log.info("%sLegallyMail accepted certified SMS %s", replay_note(context), result["uuid"])
        return result
