"""MensatekClient.send_email (EnviarEMAIL) against the sandbox, over real HTTP."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from airflow_provider_mensatek.clients import MensatekClient
from airflow_provider_mensatek.clients.errors import (
    InsufficientCreditsError,
    InvalidRequestError,
    ValidationError,
)
from airflow_provider_mensatek.clients.validation import now_madrid
from airflow_provider_mensatek.sandbox import Sandbox
from tests.conftest import MENSATEK_TOKEN, MENSATEK_USER


def test_send_email_with_every_option_sends_the_documented_parameters(
    sandbox: Sandbox, mensatek_client: MensatekClient
) -> None:
    when = (now_madrid() + timedelta(days=1)).replace(second=0, microsecond=0)
    result = mensatek_client.send_email(
        "info@empresa.example",
        [{"Nombre": "Pedro Pérez", "Email": "pedro@cliente.example",
          "variables": {"Motivo": "Felicitarte"}, "reference": "R-1"},
         {"name": "Ana", "email": "ana@cliente.example", "Variables": [{"Nombre": "Motivo", "Valor": 25}]}],
        "Mensaje para ###Nombre### por ###motivo###",
        html="<p>Hola ###Nombre###, ###Motivo###</p>",
        sender_name="Mi Empresa", reply_to="soporte@empresa.example", send_at=when,
        forbidden_interval={"start": "22:00", "end": "9:00"},
        attachments=[{"name": "nota.txt", "content": b"hola"}],
        track_opens=False, track_clicks=True,
        list_unsubscribe="<mailto:baja@empresa.example?subject=unsubscribe>, <https://empresa.example/baja>",
        list_help="<https://empresa.example/ayuda>",
        reference="campana-7", report=True,
    )
    request = sandbox.requests_to("EnviarEMAIL")[0]
    assert request.path == "/mensatek/v7/EnviarEMAIL"
    assert request.basic_auth == (MENSATEK_USER, MENSATEK_TOKEN)
    assert request.params == {
        "Emailremitente": "info@empresa.example",
        "Destinatarios": '[{"Nombre":"Pedro Pérez","Email":"pedro@cliente.example",'
                         '"Variables":[{"Nombre":"Motivo","Valor":"Felicitarte"}],"Referencia":"R-1"},'
                         '{"Nombre":"Ana","Email":"ana@cliente.example",'
                         '"Variables":[{"Nombre":"Motivo","Valor":"25"}]}]',
        "Asunto": "Mensaje para ###Nombre### por ###motivo###",
        "Mensaje": "<p>Hola ###Nombre###, ###Motivo###</p>",
        "Nombreremitente": "Mi Empresa",
        "Replyto": "soporte@empresa.example",
        "Fecha": when.strftime("%Y-%m-%d %H:%M"),
        "Intervaloprohibido": '[{"HoraInicio":"22:00","HoraFin":"9:00","Accion":"1"}]',  # the doc's sample
        "Adjuntos": '[{"Nombre":"nota.txt","Contenido":"aG9sYQ=="}]',  # base64 of "hola"
        "Seguimientoaperturas": "0",
        "Seguimientoclicks": "1",
        "Listunsubscribe": "<mailto:baja@empresa.example?subject=unsubscribe>, <https://empresa.example/baja>",
        "Listhelp": "<https://empresa.example/ayuda>",
        "Referenciausuario": "campana-7",
        "Report": "1",
        "Resp": "JSON",
    }
    assert result.campaign_id is not None
    assert [r.address for r in result.sent] == ["pedro@cliente.example", "ana@cliente.example"]
    assert len(result.message_ids) == 2 and all(result.message_ids)
    assert result.send_at == when.strftime("%Y-%m-%d %H:%M")
    assert json.loads(json.dumps(result.to_dict()))["campaign_id"] == result.campaign_id


def test_send_email_with_a_panel_template_and_not_sent_recipients(
    sandbox: Sandbox, mensatek_client: MensatekClient
) -> None:
    result = mensatek_client.send_email(
        "info@empresa.example", ["a@cliente.example", "b@cliente.example", "A@cliente.example"], "Aviso",
        template_id=1234567,
    )
    params = sandbox.requests_to("EnviarEMAIL")[0].params
    assert params["Plantilla"] == "1234567" and "Mensaje" not in params
    assert [r.address for r in result.sent] == ["a@cliente.example", "b@cliente.example"]
    assert result.duplicates == 1


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"html": "<p>x</p>", "template_id": 1234567}, "exactly one of html"),
        ({"html": None}, "exactly one of html"),
        ({"html": None, "template_id": "plantilla"}, "numeric id"),
        ({"recipients": ["not-an-email"]}, "recipient #1 email"),
        ({"recipients": [{"Email": "a@b.example", "Telefono": "346"}]}, "unknown key 'Telefono'"),
        ({"subject": "Hola ###Cita###",
          "recipients": [{"Email": "a@b.example", "variables": {"Cita": "lunes"}}, "c@d.example"]},
         r"###Cita### is missing for recipient\(s\) 2"),
        ({"forbidden_interval": {"start": "25:00", "end": "9:00"}}, "start must be a time"),
        ({"list_unsubscribe": "https://empresa.example/baja"}, "must be <mailto"),
        ({"sender_email": "info@"}, "sender email"),
        ({"track_opens": "yes"}, "track_opens must be True or False"),
    ],
)
def test_bad_email_input_makes_no_request(
    sandbox: Sandbox, mensatek_client: MensatekClient, kwargs: dict, error: str
) -> None:
    args = {"sender_email": "info@empresa.example", "recipients": ["a@cliente.example"], "subject": "Hola",
            "html": "<p>Hola</p>", **kwargs}
    with pytest.raises(ValidationError, match=error):
        mensatek_client.send_email(args.pop("sender_email"), args.pop("recipients"), args.pop("subject"), **args)
    assert len(sandbox.requests) == 0


def test_vendor_refusals_are_typed(sandbox: Sandbox, mensatek_client: MensatekClient) -> None:
    with pytest.raises(InvalidRequestError, match="no está validado"):
        mensatek_client.send_email("info@unvalidated.example", "a@cliente.example", "Hola", html="<p>x</p>")
    with pytest.raises(InvalidRequestError, match="no existe"):
        mensatek_client.send_email("info@empresa.example", "a@cliente.example", "Hola", template_id=42)
    sandbox.mensatek.credits = 0
    with pytest.raises(InsufficientCreditsError):
        mensatek_client.send_email("info@empresa.example", "a@cliente.example", "Hola", html="<p>x</p>")
