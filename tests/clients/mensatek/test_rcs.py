"""MensatekClient RCS (EnviarRCS, templates, template variables) against the sandbox, over real HTTP."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from airflow_provider_mensatek.clients import MensatekClient
from airflow_provider_mensatek.clients.errors import InvalidRequestError, ValidationError
from airflow_provider_mensatek.clients.validation import now_madrid
from airflow_provider_mensatek.sandbox import Sandbox
from tests.conftest import MENSATEK_TOKEN, MENSATEK_USER

WELCOME = "1234567"  # sandbox template: Destinatario (DESTINATARIO), Importe (TEXTO)


def test_send_rcs_checks_variables_with_one_call_then_sends_the_documented_parameters(
    sandbox: Sandbox, mensatek_client: MensatekClient
) -> None:
    when = (now_madrid() + timedelta(days=1)).replace(second=0, microsecond=0)
    result = mensatek_client.send_rcs(
        WELCOME,
        [{"Nombre": "Pedro Pérez", "Telefono": "+34 600 000 001", "variables": {"Importe": "12,50 €"}},
         {"phone": "34600000002", "variables": {"Destinatario": "Ana", "Importe": 7}, "reference": "R-2"}],
        agent="sandbox-agent", send_at=when, forbidden_interval=[{"HoraInicio": "22:00", "HoraFin": "9:00",
                                                                   "Accion": "1"}],
        reference="rcs-1", report=False,
    )
    assert [r.function for r in sandbox.requests] == ["GetVariablesPlantillaRCS", "EnviarRCS"]
    assert sandbox.requests[0].params == {"Plantilla": WELCOME, "Resp": "JSON"}
    request = sandbox.requests[1]
    assert request.basic_auth == (MENSATEK_USER, MENSATEK_TOKEN)
    assert request.params == {
        "Plantilla": WELCOME,
        "Destinatarios": '[{"Nombre":"Pedro Pérez","Telefono":"34600000001",'
                         '"Variables":[{"Nombre":"Importe","Valor":"12,50 €"}]},'
                         '{"Telefono":"34600000002","Variables":[{"Nombre":"Destinatario","Valor":"Ana"},'
                         '{"Nombre":"Importe","Valor":"7"}],"Referencia":"R-2"}]',
        "Agente": "sandbox-agent",
        "Fecha": when.strftime("%Y-%m-%d %H:%M"),
        "Intervaloprohibido": '[{"HoraInicio":"22:00","HoraFin":"9:00","Accion":"1"}]',
        "Referenciausuario": "rcs-1",
        "Report": "0",
        "Resp": "JSON",
    }
    assert [r.address for r in result.sent] == ["34600000001", "34600000002"]
    assert len(result.message_ids) == 2


def test_recipients_encode_exactly_like_the_vendor_sample(sandbox: Sandbox, mensatek_client: MensatekClient) -> None:
    mensatek_client.send_rcs("1234568", [{"Nombre": "Pedro Pérez", "Telefono": "34600000001", "Variables": [
        {"Nombre": "Reason", "Valor": "Verification"}, {"Nombre": "Code", "Valor": "847291"}]}],
        check_variables=False)
    # Byte for byte the Destinatarios of the EnviarRCS request sample.
    assert sandbox.requests[0].params["Destinatarios"] == (
        '[{"Nombre":"Pedro Pérez","Telefono":"34600000001","Variables":[{"Nombre":"Reason","Valor":"Verification"},'
        '{"Nombre":"Code","Valor":"847291"}]}]')


def test_missing_and_unknown_variables_stop_the_send_after_one_call(
    sandbox: Sandbox, mensatek_client: MensatekClient
) -> None:
    with pytest.raises(ValidationError) as info:
        mensatek_client.send_rcs(WELCOME, [
            {"Telefono": "34600000001", "variables": {"Importe": "1"}},
            {"Nombre": "Ana", "Telefono": "34600000002", "variables": {"Importe": "1", "Importte": "2"}},
        ])
    text = str(info.value)
    assert "expects variables Destinatario (DESTINATARIO), Importe (TEXTO)" in text
    assert "recipient #1 (34600000001) lacks Destinatario" in text
    assert "recipient #2 (34600000002) gives Importte, which the template does not use" in text
    assert [r.function for r in sandbox.requests] == ["GetVariablesPlantillaRCS"]


def test_variable_check_can_be_switched_off(sandbox: Sandbox, mensatek_client: MensatekClient) -> None:
    mensatek_client.send_rcs("1234568", "34600000001", check_variables=False)
    assert [r.function for r in sandbox.requests] == ["EnviarRCS"]


@pytest.mark.parametrize(
    ("template", "recipients", "error"),
    [(None, ["34600000001"], "template_id .* is required"),
     ("welcome", ["34600000001"], "numeric id"),
     (WELCOME, ["600"], "not an international number"),
     (WELCOME, [{"Telefono": "34600000001", "variables": {"Importe": ["x"]}}], "must be text or a number")],
)
def test_bad_rcs_input_makes_no_request(
    sandbox: Sandbox, mensatek_client: MensatekClient, template: str | None, recipients: list, error: str
) -> None:
    with pytest.raises(ValidationError, match=error):
        mensatek_client.send_rcs(template, recipients)
    assert len(sandbox.requests) == 0


def test_rcs_templates_and_variables(sandbox: Sandbox, mensatek_client: MensatekClient) -> None:
    assert mensatek_client.get_rcs_templates() == {"1234567": "Customer welcome", "1234568": "Shipping notice"}
    assert sandbox.requests_to("GetPlantillasRCS")[0].params == {"Resp": "JSON"}
    template = mensatek_client.get_rcs_template_variables(1234568)
    assert (template.name, [(v.name, v.type) for v in template.variables]) == (
        "Shipping notice", [("Codigo", "TEXTO")])
    with pytest.raises(InvalidRequestError, match="no existe"):
        mensatek_client.get_rcs_template_variables(42)


def test_unknown_agent_is_refused_by_the_vendor(sandbox: Sandbox, mensatek_client: MensatekClient) -> None:
    with pytest.raises(InvalidRequestError, match="Agente"):
        mensatek_client.send_rcs("1234568", "34600000001", agent="other", check_variables=False)


def test_rcs_numbers_without_country_code_are_refused_before_any_call(
    sandbox: Sandbox, mensatek_client: MensatekClient
) -> None:
    recipients = [{"Telefono": "600000001", "variables": {"Destinatario": "Ana", "Importe": "1"}}]
    with pytest.raises(ValidationError, match="recipient #1 phone '600000001' may lack its country code"):
        mensatek_client.send_rcs(WELCOME, recipients)
    assert sandbox.requests == []
    mensatek_client.send_rcs(WELCOME, recipients, default_country_code="34")
    assert json.loads(sandbox.requests_to("EnviarRCS")[0].param("Destinatarios"))[0]["Telefono"] == "34600000001"
