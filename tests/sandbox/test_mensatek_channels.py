"""The SMS / email / RCS sandbox routes follow the documents' wire rules, whoever calls them."""

from __future__ import annotations

import json

import requests

from airflow_provider_mensatek.sandbox import Sandbox
from airflow_provider_mensatek.sandbox.mensatek_channels import ACCOUNT_DEFAULT_SENDER
from tests.conftest import MENSATEK_TOKEN, MENSATEK_USER


def post(sandbox: Sandbox, function: str, *, auth: tuple[str, str] = (MENSATEK_USER, MENSATEK_TOKEN),
         **kwargs: object) -> dict:
    response = requests.post(f"{sandbox.mensatek_url}/{function}", auth=auth, timeout=5, **kwargs)
    assert response.status_code == 200
    body = response.json()
    assert isinstance(body, list) and len(body) == 1  # the vendor's array-wrapped answer
    return body[0]


def test_form_encoded_send_with_lower_case_names_and_arrays_as_json_strings(sandbox: Sandbox) -> None:
    answer = post(sandbox, "EnviarSMS", data={
        "remitente": "MIEMPRESA", "destinatarios": '[{"Movil":"34600000001"}]', "mensaje": "Hola", "resp": "JSON"})
    assert answer["Res"] == "1" and answer["idMensaje"] == answer["Msgid"]
    assert all(isinstance(v, str) for v in answer.values())  # numbers as strings


def test_bad_credentials_are_http_200_with_res_minus_1(sandbox: Sandbox) -> None:
    assert post(sandbox, "GetPlantillasRCS", auth=(MENSATEK_USER, "wrong"), json={"Resp": "JSON"}) == {"Res": "-1"}


def test_sms_sender_length_rules(sandbox: Sandbox) -> None:
    base = {"Destinatarios": '[{"Movil":"34600000001"}]', "Mensaje": "Hola", "Resp": "JSON"}
    assert post(sandbox, "EnviarSMS", json={**base, "Remitente": "MIEMPRESA12"})["Res"] == "1"
    too_long = post(sandbox, "EnviarSMS", json={**base, "Remitente": "MIEMPRESA123"})
    assert too_long["Res"] == "-3" and "11" in too_long["Error"]
    assert post(sandbox, "EnviarSMS", json={**base, "Remitente": "1234567890123456"})["Res"] == "-3"


def test_rcs_template_variables_answer(sandbox: Sandbox) -> None:
    answer = post(sandbox, "GetVariablesPlantillaRCS", json={"Plantilla": "1234567", "Resp": "JSON"})
    assert answer["Nombre"] == "Customer welcome" and answer["Total"] == "2"
    assert json.loads(answer["Variables"])[1] == {"Nombre": "Importe", "Tipo": "TEXTO"}


def test_sms_sender_blank_means_the_accounts_default_and_missing_is_refused(sandbox: Sandbox) -> None:
    base = {"Destinatarios": '[{"Movil":"34600000001"}]', "Mensaje": "Hola", "Resp": "JSON"}
    blank = post(sandbox, "EnviarSMS", json={**base, "Remitente": ""})
    assert blank["Res"] == "1"
    assert sandbox.mensatek.stores["sms"][int(blank["idMensaje"])].sender == ACCOUNT_DEFAULT_SENDER
    missing = post(sandbox, "EnviarSMS", json=base)
    assert missing["Res"] == "-3" and "Remitente" in missing["Error"]
