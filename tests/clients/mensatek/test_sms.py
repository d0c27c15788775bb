"""MensatekClient SMS, file library and SMS templates against the sandbox, over real HTTP."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
import requests

from airflow_provider_mensatek.clients import MensatekClient
from airflow_provider_mensatek.clients.errors import (
    AlreadySentError,
    AuthenticationError,
    FileStorageFullError,
    FileTooLargeError,
    ForbiddenError,
    InsufficientCreditsError,
    InvalidRequestError,
    MensatekError,
    NotFoundError,
    UnsupportedFileTypeError,
    ValidationError,
)
from airflow_provider_mensatek.clients.validation import now_madrid
from airflow_provider_mensatek.delivery.statuses import vendor_state
from airflow_provider_mensatek.sandbox import Fault, Sandbox
from airflow_provider_mensatek.sandbox.mensatek_channels import ACCOUNT_DEFAULT_SENDER
from tests.conftest import MENSATEK_TOKEN, MENSATEK_USER

PDF = b"%PDF-1.4 sandbox test file\n%%EOF\n"


def tomorrow() -> str:
    return (now_madrid() + timedelta(days=1)).replace(second=0, microsecond=0).isoformat()


def test_send_sms_with_every_option_sends_the_documented_parameters(
    sandbox: Sandbox, mensatek_client: MensatekClient
) -> None:
    when = tomorrow()
    first = mensatek_client.send_sms("34911000000", "+34 600 000 001", "Primera parte")
    result = mensatek_client.send_sms(
        "MIEMPRESA",
        [{"Movil": "+34 600 000 002", "Variable_1": "Pedro"},
         {"phone": "34600000003", "variables": ["Ana", 23]}],
        "Hola, le recordamos su cita",
        send_at=when, reference="ref-42", report=True, group_with=first.message_id,
        fail2voice=True, voice_language="es-ES", voice_sender="+34 911 000 000",
        ignore_blacklist=True, fix_utf8=True,
    )
    request = sandbox.requests_to("EnviarSMS")[-1]
    assert request.method == "POST"
    assert request.path == "/mensatek/v7/EnviarSMS"
    assert request.basic_auth == (MENSATEK_USER, MENSATEK_TOKEN)
    assert request.content_type.startswith("application/json")
    assert request.params == {
        "Remitente": "MIEMPRESA",
        "Destinatarios": '[{"Movil":"34600000002","Variable_1":"Pedro"},'
                         '{"Movil":"34600000003","Variable_1":"Ana","Variable_2":"23"}]',
        "Mensaje": "Hola, le recordamos su cita",
        "Unicode": "0",
        "Fecha": when[:16].replace("T", " "),
        "Referenciausuario": "ref-42",
        "Report": "1",
        "Idmensaje": first.message_id,
        "Fail2voice": "1",
        "Lenguajevoz": "es-ES",
        "Remitentevoz": "34911000000",
        "Obviarlistanegra": "1",
        "Fixutf8": "1",
        "Resp": "JSON",
    }
    assert result.message_id == first.message_id  # grouped under the first send
    assert (result.accepted, result.recipients, result.messages, result.not_sent) == (2, 2, 2, 0)
    assert result.credits_used == 2
    assert result.credits_left == 1000 - 3
    assert result.send_at == when[:16].replace("T", " ")
    assert json.loads(json.dumps(result.to_dict()))["message_id"] == first.message_id


def test_recipients_encode_exactly_like_the_vendor_sample(sandbox: Sandbox, mensatek_client: MensatekClient) -> None:
    mensatek_client.send_sms("MIEMPRESA", [{"Movil": "34600000000", "Variable_1": "Pedro"},
                                           {"Movil": "34600000001", "Variable_1": "Ana"}], "Hola")
    # Byte for byte the Destinatarios of the EnviarSMS request sample.
    assert sandbox.requests[0].params["Destinatarios"] == (
        '[{"Movil":"34600000000","Variable_1":"Pedro"},{"Movil":"34600000001","Variable_1":"Ana"}]')


def test_variables_are_checked_and_each_recipients_text_is_counted(
    sandbox: Sandbox, mensatek_client: MensatekClient
) -> None:
    message = "Hola {{Variable_1}}, " + "a" * 140  # 147 characters besides the name
    result = mensatek_client.send_sms("MIEMPRESA", [
        {"Movil": "34600000001", "Variable_1": "Ana"},  # 150 septets: 1 part
        {"Movil": "34600000002", "Variable_1": "Maximiliano"},  # 158: 1 part
        {"Movil": "34600000003", "Variable_1": "Maximiliano Alejandro"},  # 168: 2 parts
    ], message)
    assert sandbox.requests[0].params["Mensaje"] == message  # Mensatek fills the placeholders
    assert (result.segments, result.segments_total, result.encoding) == (2, 4, "GSM")
    assert result.credits_used == 4 == result.messages  # what the sandbox charged
    accented = mensatek_client.send_sms("MIEMPRESA", [{"Movil": "34600000001", "Variable_1": "Ramón"}],
                                        "Hola {{Variable_1}}")
    assert sandbox.requests[1].params["Unicode"] == "1" and accented.encoding == "UNICODE"
    with pytest.raises(ValidationError, match="Unicode forced by 'ó'"):
        mensatek_client.send_sms("MIEMPRESA", [{"Movil": "34600000001", "Variable_1": "Ramón"},
                                               {"Movil": "34600000002", "Variable_1": "x" * 80}],
                                 "Hola {{Variable_1}}", max_segments=1)


@pytest.mark.parametrize(
    ("message", "recipients", "error"),
    [("Hola {{Variable_1}} {{Variable_2}}", [{"Movil": "34600000001", "Variable_1": "Ana"}],
      r"recipient #1 \(34600000001\) lacks Variable_2"),
     ("Hola {{Nombre}}", ["34600000001"], r"\{\{Nombre\}\} in the SMS message is not an SMS variable"),
     ("Hola {{Variable_11}}", ["34600000001"], "not an SMS variable"),
     ("Hola {{Variable_1}}, " + "a" * 150, [{"Movil": "34600000001", "Variable_1": "Maximiliano"}],
      "2 SMS part")],
)
def test_bad_variables_make_no_request(
    sandbox: Sandbox, mensatek_client: MensatekClient, message: str, recipients: list, error: str
) -> None:
    with pytest.raises(ValidationError, match=error):
        mensatek_client.send_sms("MIEMPRESA", recipients, message, max_segments=1)
    assert len(sandbox.requests) == 0


def test_unicode_is_switched_on_only_when_a_character_needs_it(
    sandbox: Sandbox, mensatek_client: MensatekClient
) -> None:
    gsm = mensatek_client.send_sms("MIEMPRESA", "34600000001", "Precio: 5 € " + "a" * 149)  # 161 septets
    uni = mensatek_client.send_sms("MIEMPRESA", "34600000001", "Adiós 👋")
    sent = sandbox.requests_to("EnviarSMS")
    assert [r.param("Unicode") for r in sent] == ["0", "1"]
    assert (gsm.encoding, gsm.segments, gsm.credits_used) == ("GSM", 2, 2)
    assert (uni.encoding, uni.segments, uni.credits_used) == ("UNICODE", 1, 1)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"sender": "MiEmpresaSL12"}, "at most 11"),
        ({"recipients": ["600 00 00"]}, "recipient #1 phone .* not an international number"),
        ({"recipients": [{"Movil": "34600000001", "Variable_11": "x"}]}, "Variable_11 does not exist"),
        ({"recipients": [{"Movil": "34600000001", "Nombre": "x"}]}, "unknown key 'Nombre'"),
        ({"voice_language": "es-ES"}, "only apply with fail2voice=True"),
        ({"message": "a" * 161, "max_segments": 1}, "2 SMS part"),
        ({"message": "¿Cómo está? " + "a" * 70, "max_segments": 1}, "remove the characters that force Unicode"),
        ({"send_at": "2020-01-01T10:00:00+01:00"}, "not in the future"),
        ({"extra_params": {"mensaje": "x"}}, "would override"),
    ],
)
def test_bad_sms_input_makes_no_request(
    sandbox: Sandbox, mensatek_client: MensatekClient, kwargs: dict, error: str
) -> None:
    args = {"sender": "MIEMPRESA", "recipients": ["34600000001"], "message": "Hola", **kwargs}
    with pytest.raises(ValidationError, match=error):
        mensatek_client.send_sms(args.pop("sender"), args.pop("recipients"), args.pop("message"), **args)
    assert len(sandbox.requests) == 0


def test_blacklisted_and_duplicate_numbers_are_reported_as_not_sent(
    sandbox: Sandbox, mensatek_client: MensatekClient
) -> None:
    result = mensatek_client.send_sms("MIEMPRESA", ["34600000054", "34600000001", "34600000001"], "Hola")
    assert (result.accepted, result.not_sent) == (1, 2)
    forced = mensatek_client.send_sms("MIEMPRESA", ["34600000054"], "Hola", ignore_blacklist=True)
    assert forced.accepted == 1


def test_not_enough_credits_is_typed_and_carries_the_credits_needed(
    sandbox: Sandbox, mensatek_client: MensatekClient
) -> None:
    sandbox.mensatek.credits = 1
    with pytest.raises(InsufficientCreditsError) as info:
        mensatek_client.send_sms("MIEMPRESA", ["34600000001", "34600000002"], "Hola")
    assert info.value.code == -2 and info.value.function == "EnviarSMS"
    assert info.value.details["creditosnecesarios"] == "2"


def test_vendor_invalid_data_carries_its_error_text(sandbox: Sandbox, mensatek_client: MensatekClient) -> None:
    with pytest.raises(InvalidRequestError, match=r"factura\.pdf no existe"):
        mensatek_client.send_sms("MIEMPRESA", "34600000001", "Su factura: (SMSFILE:factura.pdf)")


def test_bad_credentials_are_typed(sandbox: Sandbox) -> None:
    with MensatekClient(MENSATEK_USER, "wrong", base_url=sandbox.mensatek_url) as client:
        with pytest.raises(AuthenticationError):
            client.send_sms("MIEMPRESA", "34600000001", "Hola")


def test_cancel_recovers_credits_and_a_second_cancel_counts_as_done(
    sandbox: Sandbox, mensatek_client: MensatekClient
) -> None:
    sent = mensatek_client.send_sms("MIEMPRESA", ["34600000001", "34600000002"], "Hola", send_at=tomorrow())
    assert sent.message_id is not None
    assert vendor_state(mensatek_client.get_sms_report(sent.message_id).entries[0]).status.value == "scheduled"
    cancelled = mensatek_client.cancel_sms(sent.message_id)
    assert sandbox.requests_to("CancelarSMS")[0].params == {"Idmensaje": sent.message_id, "Resp": "JSON"}
    assert (cancelled.cancelled, cancelled.credits_recovered, cancelled.credits_left) == (2, 2, 1000)
    again = mensatek_client.cancel_sms(sent.message_id)
    assert again.already_cancelled is True and again.cancelled == 0


def test_cancel_after_sending_and_unknown_ids_are_typed(
    sandbox: Sandbox, mensatek_client: MensatekClient
) -> None:
    sent = mensatek_client.send_sms("MIEMPRESA", "34600000001", "Hola")
    assert sent.message_id is not None
    with pytest.raises(AlreadySentError):
        mensatek_client.cancel_sms(sent.message_id)
    with pytest.raises(NotFoundError):
        mensatek_client.cancel_sms(999)


def test_reschedule_moves_the_date(sandbox: Sandbox, mensatek_client: MensatekClient) -> None:
    sent = mensatek_client.send_sms("MIEMPRESA", "34600000001", "Hola", send_at=tomorrow())
    assert sent.message_id is not None
    later = (now_madrid() + timedelta(days=2)).replace(second=0, microsecond=0)
    result = mensatek_client.reschedule_sms(sent.message_id, later)
    assert sandbox.requests_to("ReprogramarSMS")[0].params == {
        "Idmensaje": sent.message_id, "Fecha": later.strftime("%Y-%m-%d %H:%M"), "Resp": "JSON"}
    assert (result.rescheduled, result.send_at) == (1, later.strftime("%Y-%m-%d %H:%M"))
    sandbox.clock.advance(3 * 86400)
    with pytest.raises(AlreadySentError):
        mensatek_client.reschedule_sms(sent.message_id, now_madrid() + timedelta(days=5))


def test_reschedule_refuses_a_past_date_locally(sandbox: Sandbox, mensatek_client: MensatekClient) -> None:
    with pytest.raises(ValidationError, match="not in the future"):
        mensatek_client.reschedule_sms(123, "2020-01-01T10:00:00+01:00")
    assert len(sandbox.requests) == 0


def test_report_lists_each_recipient_with_statuses_advancing(
    sandbox: Sandbox, mensatek_client: MensatekClient
) -> None:
    sent = mensatek_client.send_sms("MIEMPRESA", ["34600000001", "34600000404", "34600000123"], "Hola")
    assert sent.message_id is not None
    early = mensatek_client.get_sms_report(sent.message_id)
    assert sandbox.requests_to("GetReportSMS")[0].params == {"Idmensaje": sent.message_id, "Resp": "JSON"}
    assert [e.status_code for e in early.entries] == [2, 2, 2]
    assert not all(vendor_state(e).terminal for e in early.entries)
    sandbox.clock.advance(90)
    mid = mensatek_client.get_sms_report(sent.message_id)
    assert [(e.phone, e.status_code, vendor_state(e).status.value) for e in mid.entries] == [
        ("34600000001", 11, "delivered"), ("34600000404", 50, "failed"), ("34600000123", 123, "pending")]
    sandbox.clock.advance(180)
    late = mensatek_client.get_sms_report(sent.message_id)
    assert late.entries[2].status_code == 53 and vendor_state(late.entries[2]).status.value == "expired"
    assert late.recipients == 3
    with pytest.raises(NotFoundError):
        mensatek_client.get_sms_report(999)


def test_upload_files_mode_is_multipart(sandbox: Sandbox, mensatek_client: MensatekClient, tmp_path) -> None:
    path = tmp_path / "factura2024.pdf"
    path.write_bytes(PDF)
    mensatek_client.allowed_roots = [tmp_path]
    result = mensatek_client.upload_file(path, auto_delete=True)
    request = sandbox.requests_to("CargarFichero")[0]
    assert request.content_type.startswith("multipart/form-data")
    assert request.params == {
        "Tipo": "FILES", "Nombre": "factura2024.pdf", "Autoborrado": "Si", "Resp": "JSON",
        "Fichero": {"filename": "factura2024.pdf", "content": PDF},
    }
    assert (result.name, result.mode, result.size) == ("factura2024.pdf", "FILES", len(PDF))


def test_upload_base64_mode(sandbox: Sandbox, mensatek_client: MensatekClient) -> None:
    result = mensatek_client.upload_file({"name": "contrato.pdf", "content": PDF}, mode="BASE64")
    request = sandbox.requests_to("CargarFichero")[0]
    assert request.params == {"Tipo": "BASE64", "Nombre": "contrato.pdf",
                              "Contenido": base64.b64encode(PDF).decode(), "Resp": "JSON"}
    assert result.name == "contrato.pdf"
    assert [f.name for f in mensatek_client.list_files()] == ["contrato.pdf"]


@pytest.mark.parametrize(
    ("name", "error"),
    [("factura-2024.pdf", "up to 15 letters or digits"), ("facturadelcliente1.pdf", "up to 15 letters"),
     ("sin_extension", "not valid"), ("foto.png", r"\.png is not supported")],
)
def test_bad_library_names_make_no_request(
    sandbox: Sandbox, mensatek_client: MensatekClient, name: str, error: str
) -> None:
    with pytest.raises(ValidationError, match=error):
        mensatek_client.upload_file({"name": "x.pdf", "content": PDF}, name=name)
    assert len(sandbox.requests) == 0


def test_library_res_codes_are_typed(sandbox: Sandbox, mensatek_client: MensatekClient) -> None:
    big = b"%PDF" + b"0" * (3 * 1024 * 1024)
    with pytest.raises(FileTooLargeError) as too_large:
        mensatek_client.upload_file({"name": "big.pdf", "content": big})
    assert too_large.value.code == -16
    for i in range(2):
        mensatek_client.upload_file({"name": f"part{i}.pdf", "content": b"%PDF" + b"0" * (2 * 1024 * 1024 - 100)})
    with pytest.raises(FileStorageFullError):
        mensatek_client.upload_file({"name": "part2.pdf", "content": b"%PDF" + b"0" * (2 * 1024 * 1024 - 100)})
    sandbox.mensatek.stores["trial"] = True
    with pytest.raises(ForbiddenError, match="Trial accounts"):
        mensatek_client.upload_file({"name": "x.pdf", "content": PDF})


@pytest.mark.parametrize(
    ("params", "code", "error"),
    [({"Tipo": "BASE64", "Nombre": "a.pdf"}, -12, InvalidRequestError),
     ({"Tipo": "FILES", "Nombre": "a.pdf"}, -13, InvalidRequestError),
     ({"Tipo": "URL"}, -15, InvalidRequestError),
     ({"Tipo": "BASE64", "Nombre": "a.png", "Contenido": "AAAA"}, -11, UnsupportedFileTypeError)],
)
def test_upload_codes_the_client_never_provokes_still_map(
    sandbox: Sandbox, mensatek_client: MensatekClient, params: dict, code: int, error: type
) -> None:
    with pytest.raises(error) as info:
        mensatek_client.call("upload_file", params)
    assert info.value.code == code


def test_delete_file(sandbox: Sandbox, mensatek_client: MensatekClient) -> None:
    mensatek_client.upload_file({"name": "borrar.pdf", "content": PDF}, mode="BASE64")
    result = mensatek_client.delete_file("borrar.pdf")
    assert sandbox.requests_to("BorrarFichero")[0].params == {"Nombre": "borrar.pdf", "Resp": "JSON"}
    assert result.deleted is True
    assert mensatek_client.list_files() == []
    assert sandbox.requests_to("ListarFicheros")[0].params == {"Resp": "JSON"}
    with pytest.raises(NotFoundError, match="does not exist"):
        mensatek_client.delete_file("borrar.pdf")
    assert mensatek_client.delete_file("borrar.pdf", missing_ok=True).deleted is False


def test_sms_with_a_library_file(sandbox: Sandbox, mensatek_client: MensatekClient) -> None:
    mensatek_client.upload_file({"name": "factura.pdf", "content": PDF})
    result = mensatek_client.send_sms("MIEMPRESA", "34600000001", "Su factura: (SMSFILE:factura.pdf)")
    assert result.accepted == 1


def test_sms_templates(sandbox: Sandbox, mensatek_client: MensatekClient) -> None:
    templates = mensatek_client.get_sms_templates()
    assert sandbox.requests_to("GetPlantillasSMS")[0].params == {"Resp": "JSON"}
    assert templates["Recordatorio"].startswith("Hola, le recordamos")


def test_estimate_makes_no_request(sandbox: Sandbox, mensatek_client: MensatekClient) -> None:
    estimate = mensatek_client.estimate_sms("a" * 161, 10)
    assert (estimate.analysis.segments, estimate.credits) == (2, 20)
    per_recipient = mensatek_client.estimate_sms("{{Variable_1}}" + "a" * 150, [
        {"Movil": "34600000001", "Variable_1": "Ana"}, {"Movil": "34600000002", "Variable_1": "Maximiliano"}],
        credits_per_segment=0.5)
    assert (per_recipient.recipients, per_recipient.analysis.segments, per_recipient.credits) == (2, 2, 1.5)
    assert len(sandbox.requests) == 0


def test_the_token_never_appears_in_logs_errors_or_results(
    sandbox: Sandbox, mensatek_client: MensatekClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    result = mensatek_client.send_sms("MIEMPRESA", "34600000001", "Hola")
    with pytest.raises(NotFoundError) as info:
        mensatek_client.delete_file("nada.pdf")
    assert caplog.records  # the calls were logged
    for text in (caplog.text, str(info.value), repr(info.value.details), json.dumps(result.to_dict()),
                 repr(mensatek_client)):
        assert MENSATEK_TOKEN not in text


def test_a_number_without_its_country_code_never_reaches_the_vendor(
    sandbox: Sandbox, mensatek_client: MensatekClient
) -> None:
    # "600000001" is a Spanish mobile written nationally; sent as it is, it would go to +60 (Malaysia).
    for recipients in ("600000001", ["34600000002", {"Movil": "600 000 001"}]):
        with pytest.raises(ValidationError, match=r"recipient #.* may lack its country code"):
            mensatek_client.send_sms("MIEMPRESA", recipients, "Hola")
    with pytest.raises(ValidationError, match=r"voice_sender .* may lack its country code"):
        mensatek_client.send_sms("MIEMPRESA", "34600000001", "Hola", fail2voice=True, voice_sender="911000000")
    with pytest.raises(ValidationError, match="may lack its country code"):
        mensatek_client.estimate_sms("Hola", ["600000001"])
    assert sandbox.requests == []


def test_a_default_country_reads_national_numbers_as_that_country(
    sandbox: Sandbox, mensatek_client: MensatekClient
) -> None:
    result = mensatek_client.send_sms(
        "MIEMPRESA", ["600000001", "34600000002", "+44 7700 900123"], "Hola", default_country_code="34",
        fail2voice=True, voice_sender="911000000",
    )
    (request,) = sandbox.requests_to("EnviarSMS")
    assert json.loads(request.param("Destinatarios")) == [
        {"Movil": "34600000001"}, {"Movil": "34600000002"}, {"Movil": "447700900123"}]
    assert request.param("Remitentevoz") == "34911000000"
    assert result.accepted == 3
    report = mensatek_client.get_sms_report(result.message_id)
    assert [e.phone for e in report.entries] == ["34600000001", "34600000002", "447700900123"]


@pytest.mark.parametrize("sender", [None, "", "  "])
def test_a_blank_sender_sends_from_the_accounts_default_sender(
    sandbox: Sandbox, mensatek_client: MensatekClient, sender: str | None
) -> None:
    result = mensatek_client.send_sms(sender, "34600000001", "Hola")
    (request,) = sandbox.requests_to("EnviarSMS")
    # Required by the document, and "if left blank, the sender will be the mobile phone or default
    # sender registered by the user": sent, empty.
    assert "Remitente" in request.params and request.params["Remitente"] == ""
    assert sandbox.mensatek.stores["sms"][result.message_id].sender == ACCOUNT_DEFAULT_SENDER


def test_a_report_in_the_documents_single_quoted_form_is_read(
    sandbox: Sandbox, mensatek_client: MensatekClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sandbox.mensatek, "sms_report_style", "documented")
    sent = mensatek_client.send_sms("MIEMPRESA", ["34600000001", "34600000404"], "Hola")
    sandbox.clock.advance(90)
    raw = requests.post(f"{sandbox.mensatek_url}/GetReportSMS", auth=(MENSATEK_USER, MENSATEK_TOKEN),
                        json={"Idmensaje": sent.message_id, "Resp": "JSON"}, timeout=5).json()[0]["Informe"]
    assert raw.startswith("[{'Fecha':'") and ",'Tiempo':3,'Telefono':'34600000001','Resultado':11," in raw
    report = mensatek_client.get_sms_report(sent.message_id)
    assert [(e.phone, e.status_code, e.status_text, vendor_state(e).status.value) for e in report.entries] == [
        ("34600000001", 11, "Entregado al Teléfono", "delivered"),
        ("34600000404", 50, "La Red responde que el teléfono no existe", "failed")]


def test_an_unreadable_report_fails_clearly_instead_of_reading_as_no_report(
    sandbox: Sandbox, mensatek_client: MensatekClient
) -> None:
    sent = mensatek_client.send_sms("MIEMPRESA", "34600000001", "Hola")
    answer = [{"Res": "1", "Destinatarios": "1", "Informe": "[{'Fecha': __import__('os').getcwd()}]"}]
    sandbox.inject("GetReportSMS", Fault("status", status=200, body=json.dumps(answer)))
    with pytest.raises(MensatekError, match="Unreadable Informe") as info:
        mensatek_client.get_sms_report(sent.message_id)
    assert info.value.code == "parse"
