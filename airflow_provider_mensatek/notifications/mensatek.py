"""Notifiers that tell people by SMS or email when a DAG or task fails (or succeeds).

Use them as ``on_failure_callback`` / ``on_success_callback`` on a DAG or a
task. The message is a Jinja template rendered with the callback's context,
so it can name the DAG, task, run and log URL.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import jinja2
from airflow.sdk import BaseNotifier, Context

from airflow_provider_mensatek.clients.sms_encoding import analyse_sms, truncate_to_segments
from airflow_provider_mensatek.operators._context_names import explain_missing_context_names

#: Works for task callbacks (with ``ti``) and DAG callbacks (with the last task, or
#: without one, and a ``reason``); ``is defined`` keeps it safe under StrictUndefined.
DEFAULT_SMS_MESSAGE = (
    "Airflow {{ dag.dag_id }}{% if ti is defined and ti %}.{{ ti.task_id }}{% endif %}"
    "{% if ti is defined and ti and ti.state %} {{ ti.state.value | default(ti.state) }}"
    "{% elif reason is defined %} {{ reason }}{% endif %}"
    " run {{ run_id }}{% if ti is defined and ti %} {{ ti.log_url }}{% endif %}"
)
DEFAULT_EMAIL_SUBJECT = "Airflow: {{ dag.dag_id }} {% if ti is defined and ti %}{{ ti.task_id }} {% endif %}" \
                        "({{ run_id }})"
DEFAULT_EMAIL_HTML = (
    "<p>DAG <b>{{ dag.dag_id }}</b>, run <code>{{ run_id }}</code>"
    "{% if ti is defined and ti %}, task <b>{{ ti.task_id }}</b>: {{ ti.state.value | default(ti.state) }}."
    " <a href=\"{{ ti.log_url }}\">Log</a>{% endif %}</p>"
)


class _MensatekNotifier(BaseNotifier):
    """Renders a fresh copy on every call and copes with ``dag.test()``'s serialized DAG."""

    def __call__(self, *args: Any) -> None:
        # BaseNotifier renders its template fields in place, for good: one instance
        # shared by several tasks (default_args) or by a task and its DAG would send
        # the first rendering forever. Each call renders its own copy.
        BaseNotifier.__call__(copy.copy(self), *args)

    def render_template_fields(self, context: Context, jinja_env: jinja2.Environment | None = None) -> None:
        dag = context.get("dag")
        if jinja_env is None and dag is not None and not hasattr(dag, "get_template_env"):
            # dag.test() (Airflow 3.3) hands DAG-level callbacks a SerializedDAG, which
            # has no template environment; the default sandboxed one renders the same fields.
            jinja_env = self.get_template_env()
        with explain_missing_context_names(context, {name: getattr(self, name) for name in self.template_fields}):
            super().render_template_fields(context, jinja_env)


def _reference(context: Context, suffix: str) -> str:
    dag = context.get("dag")
    parts = [getattr(dag, "dag_id", None), context.get("run_id"), suffix]
    return ".".join(str(p) for p in parts if p)[:100]


class MensatekSmsNotifier(_MensatekNotifier):
    """Send an SMS through Mensatek (``EnviarSMS``) from a DAG or task callback.

    A long text is cut to ``max_segments`` SMS parts (one by default) and
    ends with "...": a notification is never silently split into an expensive
    multi-part SMS.

    :param sender: sender name (up to 11 letters/digits) or number -> ``Remitente``; None (default) or
        blank: the account's default sender.
    :param recipients: phone numbers with their country code (``+34600000999`` or ``34600000999``)
        -> ``Destinatarios``.
    :param message: Jinja template of the text (default names the DAG, task, state, run and log URL).
    :param max_segments: the most SMS parts one notification may cost (default 1).
    :param unicode: None = Unicode only when a character needs it (then a part holds 70, not 160).
    :param default_country_code: e.g. ``"34"``: read numbers of up to 10 digits written without ``+``
        / ``00`` as national numbers of this country; without it they are refused.
    :param mensatek_conn_id: the ``mensatek`` connection.
    """

    template_fields: Sequence[str] = ("sender", "recipients", "message")

    def __init__(self, *, recipients: Any, sender: str | None = None, message: str = DEFAULT_SMS_MESSAGE,
                 max_segments: int = 1, unicode: bool | None = None, default_country_code: str | None = None,
                 mensatek_conn_id: str = "mensatek_default") -> None:
        super().__init__()
        self.sender = sender
        self.recipients = recipients
        self.message = message
        self.max_segments = max_segments
        self.unicode = unicode
        self.default_country_code = default_country_code
        self.mensatek_conn_id = mensatek_conn_id

    def notify(self, context: Context) -> None:
        from airflow_provider_mensatek.hooks.mensatek import MensatekHook

        text = truncate_to_segments(self.message, self.max_segments, unicode=self.unicode)
        if text != self.message:
            self.log.warning("Notification text cut to %d SMS part(s) (%s before cutting)", self.max_segments,
                             analyse_sms(self.message, unicode=self.unicode).describe())
        client = MensatekHook(mensatek_conn_id=self.mensatek_conn_id).get_conn()
        with client:
            result = client.send_sms(self.sender, self.recipients, text, unicode=self.unicode,
                                     max_segments=self.max_segments, reference=_reference(context, "sms"),
                                     default_country_code=self.default_country_code)
        self.log.info("Mensatek SMS notification sent: message id %s to %s number(s)", result.message_id,
                      result.accepted)


class MensatekEmailNotifier(_MensatekNotifier):
    """Send an email through Mensatek (``EnviarEMAIL``) from a DAG or task callback.

    :param sender_email: sender address of a validated domain -> ``Emailremitente``.
    :param recipients: addresses (or dicts as in :class:`MensatekSendEmailOperator`) -> ``Destinatarios``.
    :param subject: Jinja template of the subject -> ``Asunto``.
    :param html: Jinja template of the HTML body -> ``Mensaje`` (default names DAG, task, run and log).
    :param template_id: a panel template instead of ``html`` -> ``Plantilla``.
    :param sender_name: display name -> ``Nombreremitente``.
    :param mensatek_conn_id: the ``mensatek`` connection.
    """

    template_fields: Sequence[str] = ("sender_email", "recipients", "subject", "html", "sender_name")

    def __init__(self, *, sender_email: str, recipients: Any, subject: str = DEFAULT_EMAIL_SUBJECT,
                 html: str | None = DEFAULT_EMAIL_HTML, template_id: Any = None, sender_name: str | None = None,
                 mensatek_conn_id: str = "mensatek_default") -> None:
        super().__init__()
        self.sender_email = sender_email
        self.recipients = recipients
        self.subject = subject
        self.html = None if template_id is not None and html == DEFAULT_EMAIL_HTML else html
        self.template_id = template_id
        self.sender_name = sender_name
        self.mensatek_conn_id = mensatek_conn_id

    def notify(self, context: Context) -> None:
        from airflow_provider_mensatek.hooks.mensatek import MensatekHook

        client = MensatekHook(mensatek_conn_id=self.mensatek_conn_id).get_conn()
        with client:
            result = client.send_email(self.sender_email, self.recipients, self.subject, html=self.html or None,
                                       template_id=self.template_id, sender_name=self.sender_name,
                                       reference=_reference(context, "email"))
        self.log.info("Mensatek email notification sent: campaign %s, message ids %s", result.campaign_id,
                      result.message_ids)
