"""Mensatek RCS (EnviarRCS and the RCS template functions)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_provider_mensatek.clients._http.extra_params import merge_extra_params
from airflow_provider_mensatek.clients._http.transport import (
    SEND,
)
from airflow_provider_mensatek.clients._wire import _Jsonable, decode_json_array
from airflow_provider_mensatek.clients.errors import (
    ValidationError,
)
from airflow_provider_mensatek.clients.mensatek._core import MensatekCore
from airflow_provider_mensatek.clients.mensatek._email_and_rcs import (
    RECIPIENT_VARIABLE_TYPE,
    CampaignSendResult,
    _common_params,
    _template_id,
    normalise_rcs_recipient,
    parse_campaign,
)
from airflow_provider_mensatek.clients.mensatek.wire import FUNCTIONS, decode_json_object, vendor_json
from airflow_provider_mensatek.clients.validation import (
    as_list,
    require_text,
)


@dataclass(frozen=True)
class RcsTemplateVariable(_Jsonable):
    name: str
    type: str | None


@dataclass(frozen=True)
class RcsTemplate(_Jsonable):
    template_id: str
    name: str | None
    variables: list[RcsTemplateVariable]


def parse_rcs_template(record: Mapping[str, Any], template_id: str) -> RcsTemplate:
    return RcsTemplate(
        template_id=template_id,
        name=record.get("nombre"),
        variables=[RcsTemplateVariable(name=str(v.get("nombre", "")), type=v.get("tipo"))
                   for v in decode_json_array(record.get("variables"))],
    )


def build_rcs_params(
    template_id: Any,
    recipients: Any,
    *,
    agent: str | None = None,
    send_at: Any = None,
    forbidden_interval: Any = None,
    reference: str | None = None,
    report: bool | None = None,
    extra_params: Mapping[str, Any] | None = None,
    default_country_code: Any = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Validate an RCS send and build the ``EnviarRCS`` parameters (no HTTP).

    Returns the parameters and the normalised recipients (for the variable check).
    """
    fn = FUNCTIONS["send_rcs"]
    if template_id is None or template_id == "":
        raise ValidationError("template_id (Plantilla) is required for RCS", function=fn)
    vendor_recipients = [normalise_rcs_recipient(r, i, default_country_code=default_country_code)
                         for i, r in enumerate(as_list(recipients, "recipients"))]
    params: dict[str, Any] = {
        "Plantilla": _template_id(template_id),
        "Destinatarios": vendor_json(vendor_recipients),
    }
    if agent is not None:
        params["Agente"] = require_text(agent, "agent", max_len=100)
    _common_params(params, send_at=send_at, forbidden=forbidden_interval, reference=reference, report=report)
    merge_extra_params(params, extra_params, fn)
    return params, vendor_recipients


def check_rcs_variables(template: RcsTemplate, recipients: Sequence[Mapping[str, Any]]) -> None:
    """Every variable the template needs is supplied for every recipient, and nothing unknown is.

    Raises :class:`ValidationError` naming each recipient and variable.
    """
    needed = {v.name.lower(): v for v in template.variables}
    problems = []
    for i, rec in enumerate(recipients):
        given = {v["Nombre"].lower(): v["Nombre"] for v in rec.get("Variables", [])}
        missing = [v.name for key, v in needed.items() if key not in given
                   and not ((v.type or "").upper() == RECIPIENT_VARIABLE_TYPE and rec.get("Nombre"))]
        unknown = [name for key, name in given.items() if key not in needed]
        who = f"recipient #{i + 1} ({rec.get('Telefono')})"
        if missing:
            problems.append(f"{who} lacks {', '.join(missing)}")
        if unknown:
            problems.append(f"{who} gives {', '.join(unknown)}, which the template does not use")
    if problems:
        expected = ", ".join(f"{v.name} ({v.type})" for v in template.variables) or "none"
        raise ValidationError(
            f"RCS template {template.template_id} expects variables {expected}: "
            + "; ".join(problems[:10]) + (f" (+{len(problems) - 10} more)" if len(problems) > 10 else ""),
            function=FUNCTIONS["send_rcs"],
        )


class RcsApi(MensatekCore):
    """EnviarRCS, GetPlantillasRCS and GetVariablesPlantillaRCS."""

    def send_rcs(
        self,
        template_id: Any,
        recipients: Any,
        *,
        agent: str | None = None,
        send_at: Any = None,
        forbidden_interval: Any = None,
        reference: str | None = None,
        report: bool | None = None,
        check_variables: bool = True,
        extra_params: Mapping[str, Any] | None = None,
        default_country_code: str | None = None,
    ) -> CampaignSendResult:
        """Send (or schedule) an RCS template to phones (EnviarRCS). Never retried once it may have arrived.

        With ``check_variables`` (default) one template-variables call runs
        first, and the send is refused locally if any recipient misses a
        variable the template needs or gives one it does not have. Phone numbers
        follow the SMS rule (country code required unless ``default_country_code``).
        """
        params, vendor_recipients = build_rcs_params(
            template_id, recipients, agent=agent, send_at=send_at, forbidden_interval=forbidden_interval,
            reference=reference, report=report, extra_params=extra_params,
            default_country_code=default_country_code,
        )
        if check_variables:
            template = self.get_rcs_template_variables(params["Plantilla"])
            check_rcs_variables(template, vendor_recipients)
        record = self.call("send_rcs", params, kind=SEND, reference=reference)
        return parse_campaign(record, "telefono", params, reference)

    def get_rcs_templates(self) -> dict[str, str]:
        """The account's (non-certified) RCS templates, id -> name."""
        templates = decode_json_object(self.call("get_rcs_templates").get("plantillas"))
        return {str(tid): str(name) for tid, name in templates.items()}

    def get_rcs_template_variables(self, template_id: Any) -> RcsTemplate:
        """The variables an RCS template needs, with their types."""
        tid = str(template_id).strip()
        if not tid.isdigit():
            raise ValidationError(f"template_id must be the numeric id of an RCS template, got "
                                  f"{template_id!r}")
        record = self.call("get_rcs_template_variables", {"Plantilla": tid})
        return parse_rcs_template(record, tid)
