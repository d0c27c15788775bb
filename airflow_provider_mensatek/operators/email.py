"""Operator for Mensatek Email campaigns (``EnviarEMAIL``).

The Email document names no cancel or reschedule function, so there are no
operators for them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import Context

from airflow_provider_mensatek.operators._base import (
    MensatekBaseOperator,
    default_reference,
    extra_params_check,
    replay_note,
    send_at_most_once,
)
from airflow_provider_mensatek.operators._local_files import AllowedRoots, storage_sources, with_allowed_roots


class MensatekSendEmailOperator(MensatekBaseOperator):
    """Send (or schedule) an email campaign through Mensatek (``EnviarEMAIL``).

    Give exactly one of ``html`` or ``template_id``. Per-recipient variables
    fill ``###Variable###`` placeholders in the subject and message (Airflow's
    ``{{ }}`` is not involved, so both can be used in one text). A placeholder
    defined for some recipients but not others fails the task before sending.
    The send is made at most once per task instance.

    :param sender_email: sender address of a domain validated in the panel -> ``Emailremitente``.
    :param recipients: addresses and/or dicts (``Email``, ``Nombre``, ``variables`` (name -> value),
        ``reference``) -> ``Destinatarios`` (JSON, variables as ``[{"Nombre", "Valor"}]``).
    :param subject: the subject -> ``Asunto``.
    :param html: the HTML message -> ``Mensaje``.
    :param template_id: id of a template made in the panel -> ``Plantilla``.
    :param sender_name: display name of the sender -> ``Nombreremitente``.
    :param reply_to: reply address -> ``Replyto``.
    :param send_at: schedule for later (aware datetime / ISO string with offset; Europe/Madrid) -> ``Fecha``.
        None = now; an empty or ``"None"`` text (a template whose value was missing) fails the task.
    :param forbidden_interval: ``{"start": "22:00", "end": "9:00"}`` (or a list, or the vendor keys) during
        which nothing is sent -> ``Intervaloprohibido``.
    :param attachments: local paths (inside ``allowed_roots``), object-storage paths or URLs (``s3://``,
        ``gs://``, ``file://``), or ``{"name", "content"|"path"|"base64"}`` dicts -> ``Adjuntos``.
    :param allowed_roots: local folders attachments may be read from. Not templated, so ``dag_run.conf``
        and XCom cannot widen it. Default: the DAG file's folder, the system temp dir and the
        ``[mensatek] allowed_local_roots`` option; a list replaces all three (``[]``: no local file).
    :param track_opens: track openings (vendor default on) -> ``Seguimientoaperturas``.
    :param track_clicks: track clicks (vendor default on) -> ``Seguimientoclicks``.
    :param list_unsubscribe: ``<mailto:…>, <https://…>`` header -> ``Listunsubscribe``.
    :param list_help: ``<https://…>`` header -> ``Listhelp``.
    :param reference: campaign reference -> ``Referenciausuario``. Default ``<dag>.<task>.<run_id>``.
    :param report: ask for reports in your webhook -> ``Report``. Default: on (``Report=1``) when the
        connection's extra says ``"reports": true`` (the sensors then listen to the reports); ``False`` sends
        ``Report=0``.
    :param extra_params: further vendor parameters passed as they are (may not override the above).
    :param mensatek_conn_id: the ``mensatek`` connection.
    :return: (XCom) ``{"campaign_id", "recipients", "sent": [{"address", "name", "message_id"}],
        "not_sent": [...], "duplicates", "reference", "send_at", "message_ids"}``.
    """

    template_fields: Sequence[str] = (
        "sender_email", "recipients", "subject", "html", "template_id", "sender_name", "reply_to", "send_at",
        "forbidden_interval", "attachments", "list_unsubscribe", "list_help", "reference", "extra_params",
    )
    template_fields_renderers = {"html": "html", "recipients": "json", "extra_params": "json"}
    ui_color = "#e3f2fd"

    def __init__(
        self,
        *,
        sender_email: str,
        recipients: Any,
        subject: str,
        html: str | None = None,
        template_id: Any = None,
        sender_name: str | None = None,
        reply_to: str | None = None,
        send_at: Any = None,
        forbidden_interval: Any = None,
        attachments: Any = None,
        track_opens: bool | None = None,
        track_clicks: bool | None = None,
        list_unsubscribe: str | None = None,
        list_help: str | None = None,
        reference: str | None = None,
        report: bool | None = None,
        extra_params: dict[str, Any] | None = None,
        allowed_roots: AllowedRoots = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.sender_email = sender_email
        self.recipients = recipients
        self.subject = subject
        self.html = html
        self.template_id = template_id
        self.sender_name = sender_name
        self.reply_to = reply_to
        self.send_at = send_at
        self.forbidden_interval = forbidden_interval
        self.attachments = attachments
        self.track_opens = track_opens
        self.track_clicks = track_clicks
        self.list_unsubscribe = list_unsubscribe
        self.list_help = list_help
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
            return client.send_email(
                self.sender_email, self.recipients, self.subject, html=self.html or None,
                template_id=self.template_id or None, sender_name=self.sender_name or None,
                reply_to=self.reply_to or None, send_at=self.send_at,
                forbidden_interval=self.forbidden_interval or None, attachments=attachments or None,
                track_opens=self.track_opens, track_clicks=self.track_clicks,
                list_unsubscribe=self.list_unsubscribe or None, list_help=self.list_help or None,
                reference=reference, report=report, extra_params=self.extra_params,
            ).to_dict()

        result = send_at_most_once(context, reference, send,
                                   check=extra_params_check(self.extra_params, "send_email"))
        self.log.info("%sMensatek email campaign %s: %s sent, %s not sent, %s duplicate(s) (reference %r)",
                      replay_note(context), result["campaign_id"], len(result["sent"]), len(result["not_sent"]),
                      result["duplicates"], reference)
        return result
