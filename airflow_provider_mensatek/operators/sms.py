"""Operators for Mensatek SMS: send (or schedule), cancel, reschedule."""

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


class MensatekSendSmsOperator(MensatekBaseOperator):
    """Send (or schedule) an SMS to one or many numbers through Mensatek (``EnviarSMS``).

    Everything is checked before the first request: the sender (up to 11
    letters/digits, or a number of up to 15 digits), every number
    (with its country code, see ``default_country_code``), the variables (``Variable_1`` … ``Variable_10``)
    and the cost: the text is analysed locally (GSM 03.38 or Unicode, SMS parts)
    and, with ``max_segments``, a text that would cost more parts per recipient
    is refused instead of sent. The send is made at most once per task instance
    (see :class:`MensatekSendCertifiedEmailOperator`).

    Per-recipient placeholders ``{{Variable_1}}`` … ``{{Variable_10}}`` in
    ``message`` reach Mensatek intact while Airflow macros in the same text
    render: ``"Hola {{Variable_1}} ({{ dag_run.run_after | ds }})"``. Each
    placeholder used must be given for every recipient, and the parts are
    counted on each recipient's own text.

    :param sender: sender name or number -> ``Remitente``. None or blank: the account's default sender
        (``Remitente`` sent empty, as the vendor document says).
    :param recipients: numbers and/or dicts (``Movil`` / ``phone``, ``Variable_1`` … ``Variable_10`` or
        ``variables``: a list of up to ten values) -> ``Destinatarios`` (JSON).
    :param message: the text, with ``{{Variable_N}}`` placeholders and Mensatek codes (files, links,
        landings) -> ``Mensaje``.
    :param send_at: schedule for later (aware datetime / ISO string with offset; Europe/Madrid) -> ``Fecha``.
        None = now; an empty or ``"None"`` text (a template whose value was missing) fails the task.
    :param reference: your reference -> ``Referenciausuario``. Default ``<dag>.<task>.<run_id>``.
    :param report: ask for delivery reports (email / webhook) -> ``Report``. Default: on (``Report=1``) when the
        connection's extra says ``"reports": true`` (the sensors then listen to the reports); ``False`` sends
        ``Report=0``.
    :param group_with: an earlier ``message_id`` to group this send under -> ``Idmensaje``.
    :param fail2voice: call numbers that cannot receive the SMS -> ``Fail2voice``.
    :param voice_language: language of the call, e.g. ``es-ES`` (with fail2voice) -> ``Lenguajevoz``.
    :param voice_sender: validated calling number (with fail2voice) -> ``Remitentevoz``.
    :param unicode: None = Unicode only when a character needs it; True/False force it -> ``Unicode``.
    :param ignore_blacklist: send to blacklisted numbers too -> ``Obviarlistanegra``.
    :param fix_utf8: ask the vendor to repair mis-encoded characters -> ``Fixutf8``.
    :param max_segments: refuse (fail the task) if the text needs more SMS parts than this.
    :param extra_params: further vendor parameters passed as they are (may not override the above).
    :param default_country_code: e.g. ``"34"``: numbers of up to 10 digits written without ``+`` / ``00``
        are national numbers of this country (``600000001`` -> ``34600000001``). Without it they are
        refused, as they may lack the country code.
    :param mensatek_conn_id: the ``mensatek`` connection.
    :return: (XCom) ``{"message_id", "accepted", "recipients", "messages", "not_sent", "credits_used",
        "credits_left", "reference", "send_at", "encoding", "segments" (costliest recipient),
        "segments_total" (local estimate of the whole send)}``.
    """

    template_fields: Sequence[str] = (
        "sender", "recipients", "message", "send_at", "reference", "group_with", "voice_language",
        "voice_sender", "extra_params",
    )
    template_fields_renderers = {"recipients": "json", "extra_params": "json"}
    vendor_placeholder_fields = ("message",)
    ui_color = "#d8f3dc"

    def __init__(
        self,
        *,
        sender: str | None = None,
        recipients: Any,
        message: str,
        send_at: Any = None,
        reference: str | None = None,
        report: bool | None = None,
        group_with: Any = None,
        fail2voice: bool = False,
        voice_language: str | None = None,
        voice_sender: str | None = None,
        unicode: bool | None = None,
        ignore_blacklist: bool = False,
        fix_utf8: bool = False,
        max_segments: int | None = None,
        extra_params: dict[str, Any] | None = None,
        default_country_code: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.sender = sender
        self.recipients = recipients
        self.message = message
        self.send_at = send_at
        self.reference = reference
        self.report = report
        self.group_with = group_with
        self.fail2voice = fail2voice
        self.voice_language = voice_language
        self.voice_sender = voice_sender
        self.unicode = unicode
        self.ignore_blacklist = ignore_blacklist
        self.fix_utf8 = fix_utf8
        self.max_segments = max_segments
        self.extra_params = extra_params
        self.default_country_code = default_country_code

    def execute(self, context: Context) -> Any:
        reference = self.reference or default_reference(context)
        client = self.get_client()
        report = self.report_flag(self.report)

        def send() -> dict[str, Any]:
            return client.send_sms(
                self.sender, self.recipients, self.message, send_at=self.send_at, reference=reference,
                report=report, group_with=self.group_with or None, fail2voice=self.fail2voice,
                voice_language=self.voice_language or None, voice_sender=self.voice_sender or None,
                unicode=self.unicode, ignore_blacklist=self.ignore_blacklist, fix_utf8=self.fix_utf8,
                max_segments=self.max_segments, extra_params=self.extra_params,
                default_country_code=self.default_country_code,
            ).to_dict()

        result = send_at_most_once(context, reference, send,
                                   check=extra_params_check(self.extra_params, "send_sms"))
        self.log.info(
            "%sMensatek accepted %s SMS (message id %s, %s part(s) %s each, %s credit(s); %s not sent; "
            "reference %r, send_at %s)", replay_note(context), result["accepted"], result["message_id"],
            result["segments"], result["encoding"], result["credits_used"], result["not_sent"], reference,
            result["send_at"] or "now",
        )
        return result


class MensatekCancelSmsOperator(MensatekCancelScheduledOperator):
    """Cancel scheduled SMS (``CancelarSMS``); the credits come back.

    Safe to retry: a message that is already cancelled counts as done. One
    that was already sent fails the task.

    :param message_id: one message id or a list (e.g. the ``message_id`` XCom of a send) -> ``Idmensaje``.
    :param mensatek_conn_id: the ``mensatek`` connection.
    :return: (XCom) a list of ``{"message_id", "cancelled", "already_cancelled", "credits_left",
        "credits_recovered"}``.
    """

    what = "SMS"

    def cancel(self, client: Any, message_id: int) -> Any:
        return client.cancel_sms(message_id)


class MensatekRescheduleSmsOperator(MensatekRescheduleScheduledOperator):
    """Move scheduled SMS to a new date (``ReprogramarSMS``).

    :param message_id: one message id or a list -> ``Idmensaje``.
    :param send_at: the new date, in the future (aware datetime / ISO string with offset), sent as
        Europe/Madrid ``YYYY-MM-DD HH:MM`` -> ``Fecha``.
    :param mensatek_conn_id: the ``mensatek`` connection.
    :return: (XCom) a list of ``{"message_id", "send_at", "rescheduled", "credits_left"}``.
    """

    what = "SMS"

    def reschedule(self, client: Any, message_id: int, send_at: Any) -> Any:
        return client.reschedule_sms(message_id, send_at)
