"""Operators for Mensatek Certified Email: send (or schedule), cancel, reschedule."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import Context

from airflow_provider_mensatek.operators._base import (
    MensatekBaseOperator,
    MensatekCancelScheduledOperator,
    MensatekRescheduleScheduledOperator,
    default_reference,
    extra_params_check,
    replay_note,
    send_at_most_once,
)
from airflow_provider_mensatek.operators._local_files import AllowedRoots, storage_sources, with_allowed_roots


class MensatekSendCertifiedEmailOperator(MensatekBaseOperator):
    """Send (or schedule) a certified email through Mensatek (``EnviarEMAILCERTIFICADO``).

    The send is made at most once per task instance: if the worker dies after
    Mensatek accepted it, an Airflow retry returns the recorded result instead
    of sending again (Airflow >= 3.3, task state store). A send whose outcome is
    unknown (connection lost after the request left) fails without retry and
    names the reference to look up in the Mensatek panel.

    Mensatek placeholders such as ``{{Nombre}}`` or ``{{Variable_1}}`` in
    ``subject`` and ``message`` reach Mensatek intact, while Airflow macros in
    the same text still render: ``"Aviso para {{Nombre}} ({{ dag_run.run_after | ds }})"``
    becomes ``"Aviso para {{Nombre}} (2026-11-24)"``. A bare ``{{name}}`` is left for
    Mensatek unless ``name`` is a variable of the Airflow template context.

    :param sender: validated sender email -> ``Remitente``.
    :param recipients: email strings and/or dicts -> ``Destinatarios`` (JSON). Dict keys: the vendor's
        own (``Nombre``, ``Email``, ``Variable_1`` …, advanced protection options) or ``name`` /
        ``email`` / ``variables`` (a dict merged in). A JSON list string (from XCom) is accepted.
    :param subject: subject, with ``{{Variable}}`` placeholders -> ``Asunto``.
    :param message: message body, with placeholders -> ``Mensaje``.
    :param send_at: schedule for later: aware datetime / pendulum / ISO string with offset, converted to
        Europe/Madrid ``YYYY-MM-DD HH:MM`` -> ``Fecha``. Naive or past times are refused. None = now; an
        empty or ``"None"`` text (what a template renders when its value is missing) fails the task.
    :param require_acceptance: ask the recipient to accept or reject before viewing -> ``Aceptacion``.
    :param acceptance_days: 1-30 days to accept (required with acceptance) -> ``Caducidadaceptacion``.
    :param attachments: local paths (inside ``allowed_roots``), object-storage paths or URLs (``s3://``,
        ``gs://``, ``file://``), or ``{"name", "content"|"path"|"base64"}`` dicts -> ``Adjuntos``.
    :param allowed_roots: local folders attachments may be read from. Not templated, so ``dag_run.conf``
        and XCom cannot widen it. Default: the DAG file's folder, the system temp dir and the
        ``[mensatek] allowed_local_roots`` option; a list replaces all three (``[]``: no local file).
    :param reference: your reference -> ``Referenciausuario``. Default: ``<dag>.<task>.<run_id>``.
    :param report: ask for reports by email / webhook -> ``Report``. Default: on (``Report=1``) when the
        connection's extra says ``"reports": true`` (the sensors then listen to the reports); ``False`` sends
        ``Report=0``.
    :param extra_params: further vendor parameters passed as they are (may not override the above).
    :param mensatek_conn_id: the ``mensatek`` connection.
    :return: (XCom) ``{"message_ids": [...], "recipients": [{"email", "name", "message_id"}], "sent",
        "not_sent", "duplicates", "credits_used", "credits_left", "reference", "send_at"}``.
    """

    template_fields: Sequence[str] = (
        "sender", "recipients", "subject", "message", "send_at", "reference", "attachments", "extra_params",
    )
    template_fields_renderers = {"message": "html", "recipients": "json", "extra_params": "json"}
    vendor_placeholder_fields = ("subject", "message")
    ui_color = "#ffe8cc"

    def __init__(
        self,
        *,
        sender: str,
        recipients: Any,
        subject: str,
        message: str,
        send_at: Any = None,
        require_acceptance: bool = False,
        acceptance_days: int | None = None,
        attachments: Any = None,
        reference: str | None = None,
        report: bool | None = None,
        extra_params: dict[str, Any] | None = None,
        allowed_roots: AllowedRoots = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.sender = sender
        self.recipients = recipients
        self.subject = subject
        self.message = message
        self.send_at = send_at
        self.require_acceptance = require_acceptance
        self.acceptance_days = acceptance_days
        self.attachments = attachments
        self.reference = reference
        self.report = report
        self.extra_params = extra_params
        self.allowed_roots = allowed_roots

    def execute(self, context: Context) -> Any:
        reference = self.reference or default_reference(context)
        client = with_allowed_roots(self.get_client(), self, self.allowed_roots)
        report = self.report_flag(self.report)
        attachments = storage_sources(self.attachments)

        def send() -> dict[str, Any]:
            result = client.send_certified_email(
                self.sender, self.recipients, self.subject, self.message,
                send_at=self.send_at, require_acceptance=self.require_acceptance,
                acceptance_days=self.acceptance_days, attachments=attachments, reference=reference,
                report=report, extra_params=self.extra_params,
            )
            return result.to_dict()

        result = send_at_most_once(context, reference, send,
                                   check=extra_params_check(self.extra_params, "send_certified_email"))
        self.log.info(
            "%sMensatek accepted %s certified email(s), message ids %s (reference %r, send_at %s)",
            replay_note(context), result["sent"], result["message_ids"], reference, result["send_at"] or "now",
        )
        return result


class MensatekCancelCertifiedEmailOperator(MensatekCancelScheduledOperator):
    """Cancel scheduled certified email(s) (``CancelarEMAILCERTIFICADO``); credits come back.

    Safe to retry: a message that is already cancelled counts as done. A
    message that was already sent fails the task (nothing can be undone).

    :param message_id: one message id or a list (e.g. the ``message_ids`` XCom of a send) -> ``Idmensaje``.
    :param mensatek_conn_id: the ``mensatek`` connection.
    :return: (XCom) a list of ``{"message_id", "cancelled", "already_cancelled", "credits_left",
        "credits_recovered"}``, one per id.
    """

    what = "certified email(s)"

    def cancel(self, client: Any, message_id: int) -> Any:
        return client.cancel_certified_email(message_id)


class MensatekRescheduleCertifiedEmailOperator(MensatekRescheduleScheduledOperator):
    """Move scheduled certified email(s) to a new date (``ReprogramarEMAILCERTIFICADO``).

    :param message_id: one message id or a list -> ``Idmensaje``.
    :param send_at: the new date: aware datetime / pendulum / ISO string with offset, in the future;
        sent as Europe/Madrid ``YYYY-MM-DD HH:MM`` -> ``Fecha``.
    :param mensatek_conn_id: the ``mensatek`` connection.
    :return: (XCom) a list of ``{"message_id", "send_at", "rescheduled", "credits_left"}``.
    """

    what = "certified email(s)"

    def reschedule(self, client: Any, message_id: int, send_at: Any) -> Any:
        return client.reschedule_certified_email(message_id, send_at)
