"""Mensatek real-time reports: every documented sample, in JSON, form and multipart, and the bodies to refuse."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest

from airflow_provider_mensatek.clients.mensatek.reports import (
    MAX_FIELDS,
    MAX_NAME_CHARS,
    MAX_VALUE_CHARS,
    MensatekReport,
    ReportParseError,
    parse_report,
    report_from_fields,
)

# The request samples of the documents, copied verbatim (mensatek-certified-email.txt, mensatek-email.txt,
# mensatek-sms.txt twice, mensatek-rcs.txt).
CERTIFIED_EMAIL_SAMPLE = """{
  "Servicio": "EMAILCERTIFICADO",
  "Resultado": "11",
  "Remitente": "tucorreo@tudominio.com",
  "Destinatario": "destino@dominio.com",
  "Fecha": "2020-12-03 11:14:24",
  "Asunto": "Asunto del email",
  "idMensaje": "10573758",
  "Referencia": "Su referencia si la indicó",
  "CSV": "ASYYFRE5492HN776TFD"
}"""
EMAIL_SAMPLE = """{
  "Servicio": "EMAILTRANSACCIONAL",
  "Estado": "11",
  "Remitente": "tucorreo@tudominio.com",
  "Destinatario": "destino@dominio.com",
  "RefCampaign": "12333-4545-23233",
  "RefMensaje": "12345678T",
  "Fecha": "2020-12-03 11:14:24",
  "idCampaign": "10573758",
  "idMensaje": "33434444443",
  "Aperturas": "1",
  "IP": "10.10.20.200",
  "Dispositivo": "2",
  "SistOperativo": "3"
}"""
SMS_SAMPLE = """{
  "Servicio": "SMSMASIVO",
  "Resultado": "11",
  "Remitente": "TUEMPRESA",
  "Movil": "destino@dominio.com",
  "Fecha": "2020-12-03 11:14:24",
  "Segundos": "3",
  "idMensaje": "10573758",
  "Referencia": "Su referencia si la indicó",
  "idReport": "1234567890"
}"""
SMS_INBOUND_SAMPLE = """{
  "Servicio": "SMSRECIBIDO",
  "timestamp": "1664795529",
  "Fecha": "2020-12-03 11:14:24",
  "Movil": "34600000000",
  "Remitente": "MIEMPRESA",
  "Mensaje": "MIEMPRESA",
  "idR": "56399876",
  "idM": "78334454",
  "EsCert": "true",
  "Referencia": "667887TR"
}"""
RCS_SAMPLE = """{
  "Servicio": "RCS",
  "Estado": "11",
  "Agente": "my-rcs-agent",
  "Destinatario": "34600000001",
  "RefCampaign": "12333-4545-23233",
  "RefMensaje": "36578294H",
  "Fecha": "2020-12-03 11:14:24",
  "idCampaign": "10573758",
  "idMensaje": "33434444443"
}"""
SAMPLES = {"EMAILCERTIFICADO": CERTIFIED_EMAIL_SAMPLE, "EMAILTRANSACCIONAL": EMAIL_SAMPLE, "SMSMASIVO": SMS_SAMPLE,
           "SMSRECIBIDO": SMS_INBOUND_SAMPLE, "RCS": RCS_SAMPLE}
MADRID_WINTER = timedelta(hours=1)

#: What each sample reads as: the fields a receiver and the delivery layer use.
EXPECTED: dict[str, dict[str, Any]] = {
    "EMAILCERTIFICADO": {
        "channel": "certified_email", "code": "11", "message_id": "10573758", "recipient": "destino@dominio.com",
        "sender": "tucorreo@tudominio.com", "subject": "Asunto del email", "csv": "ASYYFRE5492HN776TFD",
        "reference": "Su referencia si la indicó"},
    "EMAILTRANSACCIONAL": {
        "channel": "email", "code": "11", "message_id": "33434444443", "recipient": "destino@dominio.com",
        "sender": "tucorreo@tudominio.com", "reference": "12345678T", "campaign_reference": "12333-4545-23233",
        "campaign_id": "10573758", "opens": 1},
    "SMSMASIVO": {
        "channel": "sms", "code": "11", "message_id": "10573758", "recipient": "destino@dominio.com",
        "sender": "TUEMPRESA", "seconds": 3.0, "report_id": "1234567890", "reference": "Su referencia si la indicó"},
    "SMSRECIBIDO": {
        "channel": "sms_inbound", "code": None, "message_id": "78334454", "recipient": "34600000000",
        "sender": "MIEMPRESA", "text": "MIEMPRESA", "timestamp": 1664795529, "original_internal_id": "56399876",
        "original_message_id": "78334454", "original_certified": True, "reference": "667887TR", "is_reply": True},
    "RCS": {
        "channel": "rcs", "code": "11", "message_id": "33434444443", "recipient": "34600000001",
        "sender": "my-rcs-agent", "reference": "36578294H", "campaign_reference": "12333-4545-23233",
        "campaign_id": "10573758"},
}


def form(fields: dict[str, Any]) -> bytes:
    return urlencode(fields).encode()


def multipart(fields: dict[str, Any], boundary: str = "mensatek-b0undary") -> tuple[str, bytes]:
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n' for k, v in fields.items()]
    return f"multipart/form-data; boundary={boundary}", ("".join(parts) + f"--{boundary}--\r\n").encode()


def bodies(sample: str) -> list[tuple[str, str | None, bytes]]:
    """The sample as the vendor may send it: JSON, form, multipart, and JSON with no Content-Type."""
    fields = json.loads(sample)
    ctype, data = multipart(fields)
    return [("json", "application/json", sample.encode()),
            ("json-charset", "application/json; charset=utf-8", sample.encode()),
            ("form", "application/x-www-form-urlencoded", form(fields)),
            ("multipart", ctype, data),
            ("no content type", None, sample.encode())]


@pytest.mark.parametrize("service", list(SAMPLES))
@pytest.mark.parametrize("encoding", ["json", "json-charset", "form", "multipart", "no content type"])
def test_every_documented_sample_reads_the_same_in_every_format(service: str, encoding: str) -> None:
    (ctype, body), = [(c, b) for name, c, b in bodies(SAMPLES[service]) if name == encoding]
    report = parse_report(ctype, body)
    assert report.service == service
    for name, value in EXPECTED[service].items():
        assert getattr(report, name) == value, name
    assert report.date == datetime(2020, 12, 3, 11, 14, 24, tzinfo=report.date.tzinfo)
    assert report.date.utcoffset() == MADRID_WINTER and report.date_text == "2020-12-03 11:14:24"
    assert dict(report.raw) == json.loads(SAMPLES[service])  # every field, names as sent
    keys = {parse_report(c, b).dedupe_key for _, c, b in bodies(SAMPLES[service])}
    assert keys == {report.dedupe_key}  # one report, one key, whatever the format


@pytest.mark.parametrize("service", list(SAMPLES))
def test_names_are_case_insensitive(service: str) -> None:
    fields = json.loads(SAMPLES[service])
    for spelling in (str.upper, str.lower, str.swapcase):
        shouted = {spelling(k): v for k, v in fields.items()}
        report = parse_report("application/json", json.dumps(shouted).encode())
        for name, value in EXPECTED[service].items():
            assert getattr(report, name) == value, (spelling, name)
        assert report.dedupe_key == parse_report("application/json", SAMPLES[service].encode()).dedupe_key
        assert set(report.raw) == set(shouted)  # raw keeps the names as sent


def test_real_json_numbers_and_booleans_read_as_the_documents_write_them() -> None:
    fields = json.loads(SMS_INBOUND_SAMPLE)
    typed = {**fields, "timestamp": 1664795529, "idR": 56399876, "idM": 78334454, "EsCert": True}
    report = parse_report("application/json", json.dumps(typed).encode())
    assert (report.timestamp, report.original_message_id, report.original_certified) == (1664795529, "78334454", True)
    assert report.dedupe_key == parse_report("application/json", SMS_INBOUND_SAMPLE.encode()).dedupe_key
    sms = {**json.loads(SMS_SAMPLE), "Resultado": 11, "idMensaje": 10573758.0, "Segundos": 2.5}
    report = parse_report("application/json", json.dumps(sms).encode())
    assert (report.code, report.message_id, report.seconds) == ("11", "10573758", 2.5)


def test_a_real_json_array_where_the_documents_send_a_json_string_is_kept_as_that_string() -> None:
    # SMS Contract codes send 'Variables' "as a JSON string"; a JSON body may nest it instead.
    fields = {**json.loads(SMS_SAMPLE), "Resultado": "180", "Variables": [{"Nombre": "DNI", "Valor": "1X"}]}
    report = parse_report("application/json", json.dumps(fields).encode())
    assert report.code == "180" and report.raw["Variables"] == [{"Nombre": "DNI", "Valor": "1X"}]


@pytest.mark.parametrize("idm", ["0", ""])
def test_an_sms_the_customer_originated_is_no_reply(idm: str) -> None:
    fields = {**json.loads(SMS_INBOUND_SAMPLE), "idM": idm, "idR": idm, "Referencia": "", "EsCert": "false"}
    report = parse_report("application/x-www-form-urlencoded", form(fields))
    assert report.channel == "sms_inbound" and not report.is_reply
    assert (report.message_id, report.original_internal_id, report.reference) == (None, None, None)
    assert report.original_certified is False


def test_an_unknown_service_is_read_with_the_fields_it_has() -> None:
    body = form({"Servicio": "WHATSAPP", "Estado": "7", "idMensaje": "42", "Fecha": "2024-07-01 09:00:00",
                 "Nuevo": "x"})
    report = parse_report("application/x-www-form-urlencoded", body)
    assert (report.service, report.channel, report.code, report.message_id) == ("WHATSAPP", None, "7", "42")
    assert report.date is not None and report.date.utcoffset() == timedelta(hours=2)  # summer time in Madrid
    assert report.raw["Nuevo"] == "x"
    other = parse_report("application/x-www-form-urlencoded", body.replace(b"Nuevo=x", b"Nuevo=y"))
    assert other.dedupe_key != report.dedupe_key  # keyed on all its fields


def test_an_unknown_code_is_kept_verbatim() -> None:
    fields = {**json.loads(CERTIFIED_EMAIL_SAMPLE), "Resultado": " 777 "}
    assert parse_report("application/json", json.dumps(fields).encode()).code == "777"


def test_the_status_field_is_read_from_either_name() -> None:
    # Estado for email and RCS, Resultado for the others; a report using the other name is still read.
    fields = {k: v for k, v in json.loads(RCS_SAMPLE).items() if k != "Estado"}
    assert parse_report("application/json", json.dumps({**fields, "Resultado": "11"}).encode()).code == "11"
    fields = {k: v for k, v in json.loads(SMS_SAMPLE).items() if k != "Resultado"}
    assert parse_report("application/json", json.dumps({**fields, "Estado": "50"}).encode()).code == "50"


def test_a_date_that_is_not_the_documented_format_is_kept_as_text() -> None:
    fields = {**json.loads(SMS_SAMPLE), "Fecha": "03/12/2020 11:14"}
    report = parse_report("application/json", json.dumps(fields).encode())
    assert report.date is None and report.date_text == "03/12/2020 11:14"


def test_minute_precision_dates_and_the_charset_of_a_latin1_form() -> None:
    body = b"Servicio=SMSMASIVO&Resultado=11&Fecha=2024-03-31+02:30&Referencia=a%F1o"
    report = parse_report("application/x-www-form-urlencoded; charset=ISO-8859-1", body)
    assert report.reference == "año"
    assert report.date is not None and report.date.hour == 2 and report.date.minute == 30


@pytest.mark.parametrize(("field", "change"), [
    ("Resultado", "14"), ("Fecha", "2020-12-03 11:14:25"), ("idMensaje", "10573759"), ("Movil", "34600000001"),
])
def test_the_dedupe_key_tells_reports_apart(field: str, change: str) -> None:
    fields = json.loads(SMS_SAMPLE)
    one = parse_report("application/json", json.dumps(fields).encode())
    other = parse_report("application/json", json.dumps({**fields, field: change}).encode())
    assert one.dedupe_key != other.dedupe_key


def test_the_dedupe_key_ignores_what_does_not_identify_the_report() -> None:
    fields = json.loads(SMS_SAMPLE)
    one = parse_report("application/json", json.dumps(fields).encode())
    for change in ({"Segundos": "4"}, {"Referencia": "other"}, {"idMensaje": " 10573758 "}):
        assert parse_report("application/json", json.dumps({**fields, **change}).encode()).dedupe_key == \
            one.dedupe_key


def test_email_openings_are_separate_reports_and_received_sms_are_keyed_on_their_content() -> None:
    email = json.loads(EMAIL_SAMPLE)
    assert parse_report("application/json", json.dumps(email).encode()).dedupe_key != \
        parse_report("application/json", json.dumps({**email, "Aperturas": "2"}).encode()).dedupe_key
    inbound = json.loads(SMS_INBOUND_SAMPLE)
    key = parse_report("application/json", SMS_INBOUND_SAMPLE.encode()).dedupe_key
    for change in ({"Mensaje": "NO"}, {"timestamp": "1664795530"}, {"Remitente": "34611111111"}, {"idM": "1"}):
        assert parse_report("application/json", json.dumps({**inbound, **change}).encode()).dedupe_key != key


def test_the_dedupe_key_never_changes_between_releases() -> None:
    # Receivers store these keys and compare later reports against them: a change here would let
    # every report already stored arrive again as new. Change the fields only with a new version prefix.
    report = parse_report("application/json", CERTIFIED_EMAIL_SAMPLE.encode())
    assert report.dedupe_key == "mensatek:v1:90a5dc4265c61746813fe67819b16c9f93d13080b0ce42492304813d9a6e9d56"
    # ... which is the documented rule: Servicio, idMensaje, recipient, code, Fecha, as compact JSON, SHA-256.
    natural = ["EMAILCERTIFICADO", "10573758", "destino@dominio.com", "11", "2020-12-03 11:14:24"]
    digest = hashlib.sha256(json.dumps(natural, ensure_ascii=False, separators=(",", ":")).encode()).hexdigest()
    assert report.dedupe_key == "mensatek:v1:" + digest
    assert "destino" not in report.dedupe_key


def test_a_repr_shows_no_address_nor_text() -> None:
    report = parse_report("application/json", SMS_INBOUND_SAMPLE.encode())
    assert "34600000000" not in repr(report) and "MIEMPRESA" not in repr(report)


def test_report_from_fields_reads_a_stored_payload() -> None:
    stored = dict(parse_report("application/json", RCS_SAMPLE.encode()).raw)
    assert report_from_fields(stored) == parse_report("application/json", RCS_SAMPLE.encode())


def _too_many_fields() -> dict[str, str]:
    return {"Servicio": "RCS", **{f"f{i}": "x" for i in range(MAX_FIELDS)}}


@pytest.mark.parametrize(("ctype", "body", "says"), [
    ("application/json", b"", "empty"),
    ("application/json", b"{\"Servicio\": ", "not JSON"),
    ("application/json", b"[{\"Servicio\": \"RCS\"}]", "object"),
    ("application/json", b"\"RCS\"", "object"),
    ("application/json", b"{\"Servicio\": \"RCS\", \"Estado\": NaN}", "NaN"),
    ("application/json", b"{\"Servicio\": \"RCS\", \"Estado\": 1e999}", "finite"),
    ("application/json", b"{\"a\": " * 100_000 + b"1" + b"}" * 100_000, "nested"),
    ("application/json", b"{\"Servicio\": \"RCS\", \"Estado\": \"\xff\"}", "utf-8"),
    ("application/json", b"{\"Servicio\": \"RCS\", \"Estado\": \"11\", \"ESTADO\": \"50\"}", "twice"),
    ("application/json", b"{\"Servicio\": \"RCS\", \"Estado\": \"11\", \"Estado\": \"50\"}", "twice"),
    ("application/json", b"{\"Estado\": \"11\", \"idMensaje\": \"1\"}", "Servicio"),
    ("application/json", b"{\"Servicio\": \"  \", \"Estado\": \"11\"}", "Servicio"),
    ("application/json", b"{\"Servicio\": \"RCS\", \"\": \"11\"}", "without a name"),
    ("application/json", json.dumps({"Servicio": "RCS", "x" * (MAX_NAME_CHARS + 1): "1"}).encode(), "name is longer"),
    ("application/json", json.dumps({"Servicio": "RCS", "Estado": "1" * (MAX_VALUE_CHARS + 1)}).encode(), "longer"),
    ("application/json", json.dumps(_too_many_fields()).encode(), "more than"),
    ("application/x-www-form-urlencoded", form(_too_many_fields()), "more than"),
    ("application/x-www-form-urlencoded", b"Servicio=RCS&Estado=11&estado=50", "twice"),
    ("application/x-www-form-urlencoded", b"Servicio=RCS&Estado=%FF", "utf-8"),
    ("application/x-www-form-urlencoded", b"just some text", "Servicio"),
    ("application/json; charset=klingon", b"{}", "charset"),
    ("application/xml", b"<Servicio>RCS</Servicio>", "Content-Type"),
    ("multipart/form-data", b"--x\r\n\r\n--x--", "boundary"),
    ("multipart/form-data; boundary=x",
     b"--x\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.pdf\"\r\n\r\n%PDF\r\n--x--\r\n", "file"),
    ("multipart/form-data; boundary=x", b"--x\r\nContent-Type: text/plain\r\n\r\nRCS\r\n--x--\r\n", "name"),
])
def test_bodies_that_are_no_report_raise_a_clear_error(ctype: str, body: bytes, says: str) -> None:
    with pytest.raises(ReportParseError) as raised:
        parse_report(ctype, body, max_bytes=10_000_000)
    assert says.lower() in str(raised.value).lower()
    assert raised.value.code == "parse"


def test_the_body_size_is_capped_before_anything_is_read() -> None:
    body = CERTIFIED_EMAIL_SAMPLE.encode()
    with pytest.raises(ReportParseError, match="over the limit of 100"):
        parse_report("application/json", body, max_bytes=100)
    assert isinstance(parse_report("application/json", body, max_bytes=len(body)), MensatekReport)
    with pytest.raises(ValueError):
        parse_report("application/json", body, max_bytes=0)


def test_errors_quote_no_value() -> None:
    secret = "personal-data-1234"
    bad = [b"{\"Servicio\": \"RCS\", \"Estado\": \"" + secret.encode() + b"\", \"estado\": \"x\"}",
           b"{\"Servicio\": \"" + secret.encode() + b"\", "]
    for body in bad:
        with pytest.raises(ReportParseError) as raised:
            parse_report("application/json", body)
        assert secret not in str(raised.value)
