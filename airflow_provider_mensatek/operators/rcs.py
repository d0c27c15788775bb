"""Operator for Mensatek RCS (``EnviarRCS``).

The RCS document names no cancel or reschedule function, so there are no
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


class MensatekSendRcsOperator(MensatekBaseOperator):
    """Send (or schedule) an RCS template to phones through Mensatek (``EnviarRCS``).

    Before sending, one call reads the variables the template needs and the
    task fails, naming each recipient and variable, if any recipient lacks one
    or gives one the template does not use (``check_variables=False`` skips
    it). The send is made at most once per task instance.

    :param template_id: id of the RCS template made in the panel (required) -> ``Plantilla``.
    :param recipients: numbers and/or dicts (``Telefono`` / ``phone``, ``Nombre``, ``variables``
        (name -> value), ``reference``) -> ``Destinatarios`` (JSON).
    :param agent: RCS agent id (omit when the account has one) -> ``Agente``.
    :param send_at: schedule for later (aware datetime / ISO string with offset; Europe/Madrid) -> ``Fecha``.
        None = now; an empty or ``"None"`` text (a template whose value was missing) fails the task.
    :param forbidden_interval: ``{"start": "22:00", "end": "9:00"}`` (or a list) -> ``Intervaloprohibido``.
    :param reference: campaign reference -> ``Referenciausuario``. Default ``<dag>.<task>.<run_id>``.
    :param report: ask for reports in your webhook -> ``Report``. Default: on (``Report=1``) when the
        connection's extra says ``"reports": true`` (the sensors then listen to the reports); ``False`` sends
        ``Report=0``.
    :param check_variables: check the template's variables for every recipient first (one extra call).
    :param extra_params: further vendor parameters passed as they are (may not override the above).
    :param default_country_code: e.g. ``"34"``: numbers of up to 10 digits written without ``+`` / ``00``
        are national numbers of this country; without it they are refused (as for SMS).
    :param mensatek_conn_id: the ``mensatek`` connection.
    :return: (XCom) ``{"campaign_id", "recipients", "sent": [{"address", "name", "message_id"}],
        "not_sent": [...], "duplicates", "reference", "send_at", "message_ids"}``.
    """

    template_fields: Sequence[str] = (
        "template_id", "recipients", "agent", "send_at", "forbidden_interval", "reference", "extra_params",
    )
    template_fields_renderers = {"recipients": "json", "extra_params": "json"}
    ui_color = "#ede7f6"

    def __init__(
        self,
        *,
        template_id: Any,
        recipients: Any,
        agent: str | None = None,
        send_at: Any = None,
        forbidden_interval: Any = None,
        reference: str | None = None,
        report: bool | None = None,
        check_variables: bool = True,
        extra_params: dict[str, Any] | None = None,
        default_country_code: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.template_id = template_id
        self.recipients = recipients
        self.agent = agent
        self.send_at = send_at
        self.forbidden_interval = forbidden_interval
        self.reference = reference
        self.report = report
        self.check_variables = check_variables
        self.extra_params = extra_params
        self.default_country_code = default_country_code

    def execute(self, context: Context) -> Any:
        reference = self.reference or default_reference(context)
        client = self.get_client()
        report = self.report_flag(self.report)

        def send() -> dict[str, Any]:
            return client.send_rcs(
                self.template_id, self.recipients, agent=self.agent or None, send_at=self.send_at,
                forbidden_interval=self.forbidden_interval or None, reference=reference, report=report,
                check_variables=self.check_variables, extra_params=self.extra_params,
                default_country_code=self.default_country_code,
            ).to_dict()

        result = send_at_most_once(context, reference, send,
                                   check=extra_params_check(self.extra_params, "send_rcs"))
        self.log.info("%sMensatek RCS campaign %s: %s sent, %s not sent (reference %r)", replay_note(context),
                      result["campaign_id"],
                      len(result["sent"]), len(result["not_sent"]), reference)
        return result
