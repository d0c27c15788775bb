"""MensatekClient certified email over real HTTP against the sandbox."""

from __future__ import annotations

import base64
import io
import json
import zipfile
from datetime import datetime, timedelta, timezone

import pendulum
import pytest

from airflow_provider_mensatek.clients import MensatekClient
from airflow_provider_mensatek.clients.errors import (
    AlreadySentError,
    CertificateNotReadyError,
    InsufficientCreditsError,
    InvalidRequestError,
    SenderNotValidatedError,
    ValidationError,
)
from airflow_provider_mensatek.sandbox import Sandbox
from tests.conftest import MENSATEK_TOKEN, MENSATEK_USER

SENDER = "avisos@example.com"


def tomorrow_9_madrid() -> pendulum.DateTime:
    return pendulum.now("Europe/Madrid").add(days=1).at(9, 0)


def test_send_posts_documented_parameters_and_returns_typed_result(
    mensatek_client: MensatekClient, sandbox: Sandbox
) -> None:
    result = mensatek_client.send_certified_email(
        SENDER,
        [{"name": "Pedro Pérez", "email": "pedro@example.com", "Variable_1": "P-1", "DNI": "123X"},
         {"Nombre": "María", "Email": "maria@example.com"}],
        "Notificación para {{Nombre}}",
        "A la atención de {{Email}} ...",
        reference="poliza-42",
        report=True,
    )
    (req,) = sandbox.requests
    assert req.method == "POST"
    assert req.path == "/mensatek/v7/EnviarEMAILCERTIFICADO"
    assert req.query == {}
    assert req.content_type.startswith("application/json")
    expected_auth = "Basic " + base64.b64encode(f"{MENSATEK_USER}:{MENSATEK_TOKEN}".encode()).decode()
    assert req.authorization == expected_auth
    assert req.params["Resp"] == "JSON"
    assert req.params["Remitente"] == SENDER
    assert req.params["Asunto"] == "Notificación para {{Nombre}}"
    assert req.params["Referenciausuario"] == "poliza-42"
    assert req.params["Report"] == "1"
    # Arrays travel JSON-encoded in a string, as in the vendor's sample.
    assert isinstance(req.params["Destinatarios"], str)
    assert json.loads(req.params["Destinatarios"]) == [
        {"Nombre": "Pedro Pérez", "Email": "pedro@example.com", "Variable_1": "P-1", "DNI": "123X"},
        {"Nombre": "María", "Email": "maria@example.com"},
    ]
    assert "Fecha" not in req.params and "Aceptacion" not in req.params

    assert result.sent == 2 and result.not_sent == 0 and result.duplicates == 0
    assert isinstance(result.credits_left, float) and result.credits_left == 998.0
    assert result.credits_used == 2.0
    assert len(result.message_ids) == 2 and all(isinstance(m, int) for m in result.message_ids)
    assert [r.email for r in result.recipients] == ["pedro@example.com", "maria@example.com"]
    assert result.recipients[0].message_id == result.message_ids[0]
    assert json.loads(json.dumps(result.to_dict()))["message_ids"] == result.message_ids


def test_scheduled_send_converts_to_madrid_wall_clock(mensatek_client: MensatekClient, sandbox: Sandbox) -> None:
    # 08:00 UTC on a winter day is 09:00 in Madrid (CET, +01:00).
    when = datetime(2031, 1, 15, 8, 0, tzinfo=timezone.utc)
    result = mensatek_client.send_certified_email(
        SENDER, "ana@example.com", "s", "m", send_at=when, require_acceptance=True, acceptance_days=30,
    )
    (req,) = sandbox.requests
    assert req.params["Fecha"] == "2031-01-15 09:00"
    assert req.params["Aceptacion"] == "SI" and req.params["Caducidadaceptacion"] == 30
    assert result.send_at == "2031-01-15 09:00"
    # Summer time: 07:30 UTC in July is 09:30 in Madrid (CEST, +02:00); ISO strings with offsets work too.
    mensatek_client.send_certified_email(SENDER, "ana@example.com", "s", "m", send_at="2031-07-01T07:30:00Z")
    assert sandbox.requests[-1].params["Fecha"] == "2031-07-01 09:30"


def test_attachments_are_sent_as_name_and_base64(
    mensatek_client: MensatekClient, sandbox: Sandbox, tmp_path
) -> None:
    pdf = tmp_path / "contrato.pdf"
    pdf.write_bytes(b"%PDF-1.4 fake")
    mensatek_client.allowed_roots = [tmp_path]
    mensatek_client.send_certified_email(
        SENDER, "ana@example.com", "s", "m",
        attachments=[str(pdf), {"name": "anexo.txt", "content": b"hola"}],
    )
    sent = json.loads(sandbox.requests[0].params["Adjuntos"])
    assert sent == [
        {"Nombre": "contrato.pdf", "Contenido": base64.b64encode(b"%PDF-1.4 fake").decode()},
        {"Nombre": "anexo.txt", "Contenido": base64.b64encode(b"hola").decode()},
    ]


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"sender": "not-an-email"}, "sender"),
        ({"recipients": []}, "recipients is empty"),
        ({"recipients": ["bad@"]}, "recipient #1 email"),
        ({"recipients": [{"name": "Ana"}]}, "recipient #1 email"),
        ({"recipients": [{"name": "A" * 20, "email": "a@example.com"}]}, "at most 19"),
        ({"subject": ""}, "subject is required"),
        ({"message": "   "}, "message is required"),
        ({"subject": "Hola {{Nombre}}"}, "lacks Nombre"),
        ({"message": "NIF {{DNI}}", "recipients": [{"email": "a@example.com", "name": "Ana"}]}, "lacks DNI"),
        ({"require_acceptance": True}, "acceptance_days (1-30) is required"),
        ({"require_acceptance": True, "acceptance_days": 31}, "from 1 to 30"),
        ({"require_acceptance": True, "acceptance_days": 0}, "from 1 to 30"),
        ({"acceptance_days": 5}, "only applies"),
        ({"send_at": datetime(2031, 1, 1, 9, 0)}, "no time zone"),
        ({"send_at": "2031-01-01 09:00"}, "no time zone"),
        ({"send_at": "next tuesday"}, "Cannot read"),
        ({"send_at": pendulum.now("UTC").subtract(minutes=5)}, "not in the future"),
        ({"attachments": [{"name": "a" * 20 + ".pdf", "content": b"x"}]}, "at most 19"),
        ({"attachments": [{"name": "vacio.pdf", "content": b""}]}, "is empty"),
        ({"attachments": [{"name": "x.pdf", "base64": "%%%"}]}, "not valid base64"),
        ({"attachments": ["/nonexistent/file.pdf"]}, "Cannot read attachment"),
        ({"extra_params": {"asunto": "override"}}, "would override"),
        ({"report": "false"}, "report must be True or False"),
    ],
)
def test_invalid_input_makes_zero_requests(
    mensatek_client: MensatekClient, sandbox: Sandbox, kwargs: dict, fragment: str
) -> None:
    args = {"sender": SENDER, "recipients": ["ana@example.com"], "subject": "s", "message": "m"}
    args.update(kwargs)
    with pytest.raises(ValidationError) as info:
        mensatek_client.send_certified_email(
            args.pop("sender"), args.pop("recipients"), args.pop("subject"), args.pop("message"), **args
        )
    assert fragment in str(info.value)
    assert sandbox.requests == []


def test_vendor_res_codes_map_to_typed_errors_per_function(
    mensatek_client: MensatekClient, sandbox: Sandbox
) -> None:
    with pytest.raises(SenderNotValidatedError) as info:
        mensatek_client.send_certified_email("x@unvalidated.example", "ana@example.com", "s", "m")
    assert info.value.code == -5 and info.value.function == "EnviarEMAILCERTIFICADO"
    sandbox.mensatek.credits = 0.5
    with pytest.raises(InsufficientCreditsError) as credits:
        mensatek_client.send_certified_email(SENDER, "ana@example.com", "s", "m")
    assert credits.value.code == -2
    # The same -5 means "already cancelled" on a cancel: mapped per function, not globally.
    sandbox.mensatek.credits = 100
    sent = mensatek_client.send_certified_email(SENDER, "ana@example.com", "s", "m",
                                                send_at=tomorrow_9_madrid())
    mid = sent.message_ids[0]
    mensatek_client.cancel_certified_email(mid)
    again = mensatek_client.cancel_certified_email(mid)
    assert again.already_cancelled is True and again.cancelled == 0


def test_vendor_invalid_request_carries_vendor_error_text(mensatek_client: MensatekClient) -> None:
    # Bypass local validation through the documented escape hatch to reach the vendor's own -3.
    with pytest.raises(InvalidRequestError) as info:
        mensatek_client.call("send_certified_email", {"Remitente": SENDER})
    assert info.value.code == -3 and "Falta parámetro obligatorio" in str(info.value)


def test_cancel_recovers_credits_and_refuses_sent_messages(
    mensatek_client: MensatekClient, sandbox: Sandbox
) -> None:
    scheduled = mensatek_client.send_certified_email(SENDER, "ana@example.com", "s", "m",
                                                     send_at=tomorrow_9_madrid())
    credits_after_send = scheduled.credits_left
    cancel = mensatek_client.cancel_certified_email(scheduled.message_ids[0])
    assert cancel.cancelled == 1 and cancel.credits_recovered == 1.0
    assert cancel.credits_left == credits_after_send + 1.0
    assert sandbox.requests[-1].params == {"Idmensaje": scheduled.message_ids[0], "Resp": "JSON"}

    now = mensatek_client.send_certified_email(SENDER, "ana@example.com", "s", "m")
    with pytest.raises(AlreadySentError):
        mensatek_client.cancel_certified_email(now.message_ids[0])


def test_reschedule_moves_the_date_and_checks_it_locally(mensatek_client: MensatekClient, sandbox: Sandbox) -> None:
    sent = mensatek_client.send_certified_email(SENDER, "ana@example.com", "s", "m", send_at=tomorrow_9_madrid())
    mid = sent.message_ids[0]
    new = pendulum.now("Europe/Madrid").add(days=3).at(10, 30)
    result = mensatek_client.reschedule_certified_email(mid, new)
    assert result.send_at == new.format("YYYY-MM-DD HH:mm") and result.rescheduled == 1
    req = sandbox.requests[-1]
    assert req.path.endswith("/ReprogramarEMAILCERTIFICADO")
    assert req.params == {"Idmensaje": mid, "Fecha": result.send_at, "Resp": "JSON"}
    assert mensatek_client.get_certified_email_report(mid).scheduled_for == result.send_at

    count = len(sandbox.requests)
    with pytest.raises(ValidationError, match="not in the future"):
        mensatek_client.reschedule_certified_email(mid, pendulum.now("UTC").subtract(hours=1))
    with pytest.raises(ValidationError, match="no time zone"):
        mensatek_client.reschedule_certified_email(mid, datetime(2031, 1, 1, 9, 0))
    with pytest.raises(ValidationError, match="message id"):
        mensatek_client.reschedule_certified_email(-3, new)
    assert len(sandbox.requests) == count


def test_retried_reschedule_to_the_same_date_counts_as_done(
    mensatek_client: MensatekClient, sandbox: Sandbox
) -> None:
    sent = mensatek_client.send_certified_email(SENDER, "ana@example.com", "s", "m", send_at=tomorrow_9_madrid())
    mid = sent.message_ids[0]
    target = pendulum.now("Europe/Madrid").add(days=2).at(11, 0)
    mensatek_client.reschedule_certified_email(mid, target)
    # Make the vendor refuse the repeat (-6, as after a retried call whose first attempt went through):
    # the message is already scheduled for that date, so the client counts it as done.
    from airflow_provider_mensatek.sandbox.mensatek import FUNCTIONS

    original = FUNCTIONS["reprogramaremailcertificado"]
    FUNCTIONS["reprogramaremailcertificado"] = lambda app, req: app.error(-6)
    try:
        again = mensatek_client.reschedule_certified_email(mid, target)
    finally:
        FUNCTIONS["reprogramaremailcertificado"] = original
    assert again.rescheduled == 0 and again.send_at == target.format("YYYY-MM-DD HH:mm")
    assert [r.function for r in sandbox.requests[-2:]] == ["ReprogramarEMAILCERTIFICADO",
                                                           "GetReportEMAILCERTIFICADO"]


def test_report_follows_sandbox_time(mensatek_client: MensatekClient, sandbox: Sandbox) -> None:
    sent = mensatek_client.send_certified_email(SENDER, ["ana@example.com", "read.me@example.com"], "s", "m")
    ana, reader = sent.message_ids
    first = mensatek_client.get_certified_email_report(ana)
    assert (first.status_code, first.recipient, first.sender) == (2, "ana@example.com", SENDER)
    sandbox.clock.advance(sandbox.step_seconds * 2)
    assert mensatek_client.get_certified_email_report(ana).status_code == 14
    sandbox.clock.advance(sandbox.step_seconds)
    report = mensatek_client.get_certified_email_report(reader)
    assert report.status_code == 11 and "certificado" in (report.status_text or "")
    assert isinstance(report.credits_left, float)


def test_certificate_not_ready_then_zip_with_pdf_and_csv(mensatek_client: MensatekClient, sandbox: Sandbox) -> None:
    sent = mensatek_client.send_certified_email(SENDER, "ana@example.com", "s", "m")
    mid = sent.message_ids[0]
    sink = io.BytesIO()
    with pytest.raises(CertificateNotReadyError) as info:
        mensatek_client.download_certified_email_certificates(mid, sink)
    assert info.value.code == -5 and info.value.retryable
    assert sink.getvalue() == b""  # the plain-text "Res:-5" never lands as a file

    sandbox.clock.advance(sandbox.step_seconds * 3)
    result = mensatek_client.download_certified_email_certificates(mid, sink)
    assert result.bytes_written == len(sink.getvalue()) > 0
    with zipfile.ZipFile(io.BytesIO(sink.getvalue())) as archive:
        assert archive.testzip() is None
        names = archive.namelist()
        pdfs = [n for n in names if n.endswith(".pdf")]
        assert pdfs and archive.read(pdfs[0]).startswith(b"%PDF-")
        csv_text = archive.read(next(n for n in names if n.endswith(".csv"))).decode()
        assert str(mid) in csv_text and "ana@example.com" in csv_text
    req = sandbox.requests[-1]
    assert req.path.endswith("/GetCertificadoEMAILCERTIFICADO") and req.params["Idmensaje"] == mid


def test_credits(mensatek_client: MensatekClient, sandbox: Sandbox) -> None:
    sandbox.mensatek.credits = 1234.5
    assert mensatek_client.get_credits() == 1234.5
    (req,) = sandbox.requests
    assert req.path == "/mensatek/v7/GetCreditos" and req.params == {"Resp": "JSON"}


def test_send_at_within_the_current_minute_is_refused(mensatek_client: MensatekClient, sandbox: Sandbox) -> None:
    soon = datetime.now(tz=timezone.utc) + timedelta(seconds=1)
    if soon.minute != datetime.now(tz=timezone.utc).minute:  # pragma: no cover - minute boundary
        soon = datetime.now(tz=timezone.utc)
    with pytest.raises(ValidationError):
        mensatek_client.send_certified_email(SENDER, "ana@example.com", "s", "m", send_at=soon)
    assert sandbox.requests == []
