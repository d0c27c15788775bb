"""The sandbox pushes Mensatek's real-time reports to a receiver, like the vendor panel, with faults to inject.

Every test runs a real loopback HTTP receiver and asserts on what it received: bodies,
headers, how many and in which order. ``flush()`` makes "what should have arrived by
now" exact, so nothing here depends on timing.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import io
import json
import socket
import zipfile
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

import pytest
import requests

from airflow_provider_mensatek.clients import MensatekClient
from airflow_provider_mensatek.clients.validation import now_madrid
from airflow_provider_mensatek.sandbox import Sandbox
from tests.clients.mensatek.test_reports import SAMPLES
from tests.sandbox.report_receiver import Receiver

STEP = 60.0
#: The keys of each document's request sample, in its order.
SAMPLE_KEYS = {service: list(json.loads(sample)) for service, sample in SAMPLES.items()}


@contextlib.contextmanager
def closed_port() -> Iterator[int]:
    """A port nothing listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        number = sock.getsockname()[1]
    yield number


def control(sandbox: Sandbox, route: str, method: str = "POST", **kwargs: Any) -> requests.Response:
    return requests.request(method, f"{sandbox.url}/_sandbox/{route}", timeout=30, **kwargs)


def fecha(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M:%S")


def advance(sandbox: Sandbox, steps: float = 1) -> None:
    sandbox.clock.advance(steps * STEP)
    sandbox.reports.flush()


def bodies(receiver: Receiver) -> list[dict[str, str]]:
    return [dict(r.report.raw) for r in receiver.received]


def in_days(days: float) -> str:
    return (now_madrid() + timedelta(days=days)).replace(second=0, microsecond=0).isoformat()


def test_certified_email_reports_arrive_as_json_with_basic_auth_one_per_status_change(
        sandbox: Sandbox, mensatek_client: MensatekClient, receiver: Receiver) -> None:
    answer = control(sandbox, "reports", json={"url": receiver.url, "format": "json", "user": "hook",
                                               "password": "pässwörd-1"})
    assert answer.status_code == 200 and answer.json()["config"]["password"] == "<redacted>"
    start = sandbox.clock.now()
    [mid] = mensatek_client.send_certified_email("yo@empresa.example", ["read.ana@example.com"], "Asunto",
                                                 "Mensaje", reference="ref-9").message_ids
    sandbox.reports.flush()
    expected: list[tuple[str, datetime]] = [("2", start)]
    assert [(r["Resultado"], r["Fecha"]) for r in bodies(receiver)] == [(c, fecha(t)) for c, t in expected]
    for steps, code in ((1, "10"), (2, "14"), (3, "11"), (4, None), (10, None)):
        sandbox.clock.set(start + timedelta(seconds=steps * STEP))
        sandbox.reports.flush()
        if code is not None:
            expected.append((code, start + timedelta(seconds=steps * STEP)))
        assert [(r["Resultado"], r["Fecha"]) for r in bodies(receiver)] == [(c, fecha(t)) for c, t in expected]

    credentials = base64.b64encode("hook:pässwörd-1".encode()).decode()
    for received in receiver.received:
        assert received.method == "POST" and received.path == "/mensatek/reports"
        assert received.content_type == "application/json"
        assert received.headers["authorization"] == f"Basic {credentials}"
        payload = json.loads(received.body)
        assert all(isinstance(v, str) for v in payload.values())  # numbers as strings, like the documents
        assert list(payload) == [k for k in SAMPLE_KEYS["EMAILCERTIFICADO"] if k != "CSV" or "CSV" in payload]
        assert (payload["idMensaje"], payload["Destinatario"], payload["Referencia"], payload["Asunto"]) == \
            (str(mid), "read.ana@example.com", "ref-9", "Asunto")
    # CSV only once the certificate exists, and it is the certificate's own code.
    assert ["CSV" in r for r in bodies(receiver)] == [False, False, False, True]
    archive = io.BytesIO()
    mensatek_client.download_certified_email_certificates(mid, archive)
    with zipfile.ZipFile(archive) as zipped:
        rows = list(csv.DictReader(io.StringIO(zipped.read(f"resultado_{mid}.csv").decode()), delimiter=";"))
    assert bodies(receiver)[-1]["CSV"] == rows[0]["CSV"]


def test_sms_reports_arrive_as_form_data(sandbox: Sandbox, mensatek_client: MensatekClient,
                                         receiver: Receiver) -> None:
    sandbox.configure_reports(receiver.url, format="form")
    mid = mensatek_client.send_sms("MIEMPRESA", ["34600000001", "34600000404"], "Hola", reference="r-7").message_id
    advance(sandbox, 0)
    advance(sandbox, 1)
    got = receiver.wait_for(4)
    assert [r.content_type for r in got] == ["application/x-www-form-urlencoded"] * 4
    assert "authorization" not in got[0].headers  # no user configured, no Basic auth
    forms = [dict(parse_qsl(r.body.decode())) for r in got]
    assert [list(f) for f in forms] == [SAMPLE_KEYS["SMSMASIVO"]] * 4
    assert [(f["Movil"], f["Resultado"], f["Segundos"]) for f in forms] == [
        ("34600000001", "2", "0"), ("34600000404", "2", "0"), ("34600000001", "11", "3"), ("34600000404", "50", "0")]
    assert {f["idMensaje"] for f in forms} == {str(mid)} and {f["Referencia"] for f in forms} == {"r-7"}
    assert forms[0]["idReport"] == forms[2]["idReport"] != forms[1]["idReport"] == forms[3]["idReport"]


def test_email_and_rcs_reports_arrive_as_multipart(sandbox: Sandbox, mensatek_client: MensatekClient,
                                                   receiver: Receiver) -> None:
    sandbox.configure_reports(receiver.url, format="multipart", user="hook", password="pw")
    email = mensatek_client.send_email("info@empresa.example", [{"Email": "read@cliente.example",
                                                                 "reference": "R-1"}],
                                       "Asunto", html="<p>Hola</p>", reference="campana-7")
    rcs = mensatek_client.send_rcs("1234568", [{"Telefono": "34600000001", "variables": {"Codigo": "X"}}],
                                   reference="rcs-1")
    advance(sandbox, 0)
    assert receiver.received == []  # nothing documented to report before the delivery
    advance(sandbox, 1)
    advance(sandbox, 1)
    got = receiver.wait_for(3)
    assert all(r.content_type.startswith("multipart/form-data; boundary=") for r in got)
    reports = [r.report for r in got]
    assert [(r.service, r.code, r.opens) for r in reports] == [
        ("EMAILTRANSACCIONAL", "11", 0), ("RCS", "11", None), ("EMAILTRANSACCIONAL", "11", 1)]
    assert [list(r.raw) for r in reports] == [SAMPLE_KEYS["EMAILTRANSACCIONAL"], SAMPLE_KEYS["RCS"],
                                              SAMPLE_KEYS["EMAILTRANSACCIONAL"]]
    assert (reports[0].message_id, reports[0].reference, reports[0].campaign_reference, reports[0].campaign_id) == \
        (str(email.message_ids[0]), "R-1", "campana-7", str(email.campaign_id))
    assert (reports[1].message_id, reports[1].recipient, reports[1].sender, reports[1].reference) == \
        (str(rcs.message_ids[0]), "34600000001", "sandbox-agent", "rcs-1")


def test_a_scheduled_sms_reports_scheduled_then_cancelled_and_a_rescheduled_one_waits(
        sandbox: Sandbox, mensatek_client: MensatekClient, receiver: Receiver) -> None:
    sandbox.configure_reports(receiver.url)
    cancelled = mensatek_client.send_sms("MIEMPRESA", "34600000001", "Hola", send_at=in_days(1)).message_id
    moved = mensatek_client.send_sms("MIEMPRESA", "34600000002", "Hola", send_at=in_days(1)).message_id
    sandbox.reports.flush()
    assert [(r.message_id, r.code) for r in (x.report for x in receiver.received)] == \
        [(str(cancelled), "1"), (str(moved), "1")]
    mensatek_client.cancel_sms(cancelled)
    mensatek_client.reschedule_sms(moved, in_days(2))
    sandbox.reports.flush()
    assert receiver.codes() == ["1", "1", "3"]
    sandbox.clock.advance(1.5 * 86_400)  # past the first date: the cancelled one stays cancelled, the other waits
    sandbox.reports.flush()
    assert receiver.codes() == ["1", "1", "3"]
    sandbox.clock.advance(86_400)
    sandbox.reports.flush()
    assert [(r.message_id, r.code) for r in (x.report for x in receiver.received)][3:] == \
        [(str(moved), "2"), (str(moved), "11")]


def test_messages_sent_before_the_configuration_report_their_next_changes_only(
        sandbox: Sandbox, mensatek_client: MensatekClient, receiver: Receiver) -> None:
    mensatek_client.send_certified_email("yo@empresa.example", ["ana@example.com"], "Asunto", "Mensaje")
    sandbox.clock.advance(STEP)
    sandbox.configure_reports(receiver.url)
    sandbox.reports.flush()
    assert receiver.received == []
    advance(sandbox)
    assert receiver.codes() == ["14"]


def test_only_the_configured_services_are_pushed(sandbox: Sandbox, mensatek_client: MensatekClient,
                                                 receiver: Receiver) -> None:
    control(sandbox, "reports", data={"url": receiver.url, "services": "smsmasivo"}).raise_for_status()
    mensatek_client.send_certified_email("yo@empresa.example", ["ana@example.com"], "Asunto", "Mensaje")
    mensatek_client.send_sms("MIEMPRESA", "34600000001", "Hola")
    advance(sandbox, 3)
    assert {r.report.service for r in receiver.received} == {"SMSMASIVO"} and receiver.codes() == ["2", "11"]


def test_a_running_clock_pushes_on_its_own(sandbox: Sandbox, mensatek_client: MensatekClient,
                                           receiver: Receiver) -> None:
    sandbox.configure_reports(receiver.url)
    mensatek_client.send_certified_email("yo@empresa.example", ["read@example.com"], "Asunto", "Mensaje")
    sandbox.clock.set_speed(600)  # a step every 0.1 s; the scanner notices without being asked
    got = receiver.wait_for(4)
    assert [r.report.code for r in got] == ["2", "10", "14", "11"]


def test_duplicates_each_report_arrives_copies_times(sandbox: Sandbox, mensatek_client: MensatekClient,
                                                     receiver: Receiver) -> None:
    sandbox.configure_reports(receiver.url, copies=3)
    mensatek_client.send_sms("MIEMPRESA", "34600000001", "Hola")
    advance(sandbox, 1)
    assert receiver.codes() == ["2", "2", "2", "11", "11", "11"]
    assert len({r.body for r in receiver.received[:3]}) == 1  # the very same report
    assert len({r.report.dedupe_key for r in receiver.received}) == 2


def test_reordering_shuffles_reports_within_the_window(sandbox: Sandbox, mensatek_client: MensatekClient,
                                                       receiver: Receiver) -> None:
    sandbox.configure_reports(receiver.url, reorder_window=4, reorder_hold=60, seed=3)
    mensatek_client.send_certified_email("yo@empresa.example", ["read@example.com"], "Asunto", "Mensaje")
    advance(sandbox, 3)  # four changes: the window is full, so nothing waits for the hold
    codes = receiver.codes()
    assert sorted(codes, key=int) == ["2", "10", "11", "14"] and codes != ["2", "10", "14", "11"]


def test_a_delay_on_the_sandbox_clock_holds_each_report(sandbox: Sandbox, mensatek_client: MensatekClient,
                                                        receiver: Receiver) -> None:
    sandbox.configure_reports(receiver.url, delay=2 * STEP)
    mensatek_client.send_sms("MIEMPRESA", "34600000001", "Hola")  # 2 now, 11 one step later
    advance(sandbox, 0)
    advance(sandbox, 1)
    assert receiver.codes() == []
    advance(sandbox, 1)
    assert receiver.codes() == ["2"]
    advance(sandbox, 1)
    assert receiver.codes() == ["2", "11"]
    assert sandbox.reports.state()["pending"] == 0


def test_a_real_time_delay_is_waited_for(sandbox: Sandbox, mensatek_client: MensatekClient,
                                         receiver: Receiver) -> None:
    sandbox.configure_reports(receiver.url, delay=0.2, delay_clock="real")
    mensatek_client.send_sms("MIEMPRESA", "34600000001", "Hola")
    advance(sandbox, 0)
    assert receiver.codes() == ["2"]


def test_dropping_the_kth_report(sandbox: Sandbox, mensatek_client: MensatekClient, receiver: Receiver) -> None:
    sandbox.configure_reports(receiver.url, drop=[2])
    mensatek_client.send_certified_email("yo@empresa.example", ["read@example.com"], "Asunto", "Mensaje")
    advance(sandbox, 0)
    advance(sandbox, 3)
    assert receiver.codes() == ["2", "14", "11"]
    dropped = [a for a in sandbox.reports.attempts if a["outcome"] == "dropped"]
    assert [(a["report"], a["code"], a["http_status"]) for a in dropped] == [(2, "10", None)]


def _drop_run(sandbox: Sandbox, client: MensatekClient, receiver: Receiver) -> tuple[set[int], list[bytes]]:
    sandbox.configure_reports(receiver.url, drop_fraction=0.5, seed=11)
    client.send_sms("MIEMPRESA", [f"3460000000{i}" for i in range(1, 9)], "Hola")
    advance(sandbox, 0)
    advance(sandbox, 1)
    attempts = sandbox.reports.attempts
    assert len(attempts) == 16
    return {a["report"] for a in attempts if a["outcome"] == "dropped"}, [r.body for r in receiver.received]


def test_dropping_a_fraction_is_repeatable_with_a_seed(sandbox: Sandbox, mensatek_client: MensatekClient,
                                                       receiver: Receiver) -> None:
    dropped, got = _drop_run(sandbox, mensatek_client, receiver)
    assert 0 < len(dropped) < 16 and len(got) == 16 - len(dropped)
    delivered = [a["payload"] for a in sandbox.reports.attempts if a["outcome"] == "delivered"]
    assert [json.loads(b) for b in got] == delivered
    sandbox.reset()
    sandbox.clock.set(now_madrid())
    receiver.received.clear()
    again, got_again = _drop_run(sandbox, mensatek_client, receiver)
    assert again == dropped and len(got_again) == len(got)


def test_a_receiver_error_loses_the_report_the_vendor_documents_no_redelivery(
        sandbox: Sandbox, mensatek_client: MensatekClient, receiver: Receiver) -> None:
    receiver.answers.extend([503])
    sandbox.configure_reports(receiver.url)
    mensatek_client.send_sms("MIEMPRESA", "34600000001", "Hola")
    advance(sandbox, 0)
    advance(sandbox, 1)
    assert receiver.codes() == ["2", "11"]  # the 2 arrived once, answered 503, and was not sent again
    assert [(a["code"], a["outcome"], a["http_status"]) for a in sandbox.reports.attempts] == [
        ("2", "lost", 503), ("11", "delivered", 200)]
    assert sandbox.reports.state()["counts"] == {"reports": 2, "lost": 1, "delivered": 1}


def test_retries_send_again_after_5xx_but_never_after_4xx(sandbox: Sandbox, mensatek_client: MensatekClient,
                                                          receiver: Receiver) -> None:
    receiver.answers.extend([503, 502, 200, 401])
    sandbox.configure_reports(receiver.url, retries=2)
    mensatek_client.send_sms("MIEMPRESA", "34600000001", "Hola")
    advance(sandbox, 0)
    advance(sandbox, 1)
    assert receiver.codes() == ["2", "2", "2", "11"]
    assert [(a["code"], a["attempt"], a["outcome"], a["http_status"]) for a in sandbox.reports.attempts] == [
        ("2", 1, "retrying", 503), ("2", 2, "retrying", 502), ("2", 3, "delivered", 200),
        ("11", 1, "lost", 401)]


def test_a_receiver_that_is_down_loses_reports_and_the_log_says_why(sandbox: Sandbox,
                                                                    mensatek_client: MensatekClient) -> None:
    with closed_port() as port:
        sandbox.configure_reports(f"http://127.0.0.1:{port}/hook?token=url-secret-1", user="u",
                                  password="hook-secret-2", retries=1)
        mensatek_client.send_sms("MIEMPRESA", "34600000001", "Hola")
        advance(sandbox, 0)
    attempts = sandbox.reports.attempts
    assert [(a["attempt"], a["outcome"], a["http_status"]) for a in attempts] == [(1, "retrying", None),
                                                                                  (2, "lost", None)]
    assert "ConnectionError" in attempts[0]["error"]
    shown = json.dumps(sandbox.reports.state())
    assert "url-secret-1" not in shown and "hook-secret-2" not in shown


def test_a_slow_receiver_never_slows_the_vendor_api(sandbox: Sandbox, mensatek_client: MensatekClient,
                                                    receiver: Receiver) -> None:
    receiver.release.clear()
    sandbox.configure_reports(receiver.url, timeout=60)  # the push waits for the receiver as long as it takes
    mensatek_client.send_sms("MIEMPRESA", "34600000001", "Hola")
    assert receiver.entered.wait(30)  # the push is under way, held by the receiver
    for _ in range(3):  # the API answers meanwhile
        assert mensatek_client.get_credits() > 0
        mensatek_client.send_certified_email("yo@empresa.example", ["ana@example.com"], "Asunto", "Mensaje")
    assert receiver.received == []  # ... while the first push is still held: the API did not wait for it
    receiver.release.set()
    sandbox.reports.flush()
    assert receiver.codes() == ["2", "2", "2", "2"]


def test_the_log_shows_every_attempt_without_the_password_and_stays_bounded(
        sandbox: Sandbox, mensatek_client: MensatekClient, receiver: Receiver) -> None:
    control(sandbox, "reports", data={"url": receiver.url + "?token=url-secret-3", "user": "hook",
                                      "password": "hook-secret-4", "log_entries": "3"}).raise_for_status()
    mensatek_client.send_sms("MIEMPRESA", ["34600000001", "34600000002"], "Hola")
    control(sandbox, "reports/flush").raise_for_status()
    sandbox.clock.advance(STEP)
    control(sandbox, "reports/flush").raise_for_status()
    answer = control(sandbox, "reports", "GET")
    shown = answer.json()
    assert answer.status_code == 200 and shown["configured"] is True
    assert [(a["report"], a["outcome"], a["http_status"]) for a in shown["attempts"]] == [
        (2, "delivered", 200), (3, "delivered", 200), (4, "delivered", 200)]
    assert shown["log_dropped"] == 1 and shown["counts"]["delivered"] == 4
    assert shown["config"]["user"] == "hook" and shown["config"]["password"] == "<redacted>"
    secret_forms = ("hook-secret-4", "url-secret-3", base64.b64encode(b"hook:hook-secret-4").decode())
    assert not any(secret in answer.text for secret in secret_forms)
    assert receiver.received[0].headers["authorization"] == "Basic " + secret_forms[2]
    assert receiver.received[0].path == "/mensatek/reports?token=url-secret-3"  # sent as configured


@pytest.mark.parametrize(("params", "named"), [
    ({"url": "http://example.com/hook"}, "loopback"), ({"url": "ftp://127.0.0.1/hook"}, "http"),
    ({"url": "http://u:p@127.0.0.1/hook"}, "credentials"), ({"url": "http://127.0.0.1:99999/x"}, "url"),
    ({"url": None}, "url"), ({"format": "xml"}, "format"), ({"services": "FAX"}, "services"),
    ({"services": ""}, "services"),
    ({"copies": "0"}, "copies"), ({"reorder_window": "0"}, "reorder_window"), ({"delay": "-1"}, "delay"),
    ({"delay_clock": "moon"}, "delay_clock"), ({"delay": "301", "delay_clock": "real"}, "delay"),
    ({"drop": "a"}, "drop"), ({"drop": "0"}, "drop"), ({"drop_fraction": "2"}, "drop_fraction"),
    ({"retries": "11"}, "retries"), ({"timeout": "0"}, "timeout"), ({"user": "a:b"}, "user"),
    ({"retry-after": "1"}, "retry-after"), ({"allow_remote": "true"}, "allow_remote"),
])
def test_bad_report_settings_get_400_and_configure_nothing(sandbox: Sandbox, receiver: Receiver,
                                                           params: dict[str, str | None], named: str) -> None:
    data = {k: v for k, v in {"url": receiver.url, **params}.items() if v is not None}
    answer = control(sandbox, "reports", data=data)
    assert answer.status_code == 400 and named in answer.json()["error"]
    assert control(sandbox, "reports", "GET").json()["configured"] is False


def test_an_inbound_sms_is_pushed_as_a_reply_or_as_a_new_message(sandbox: Sandbox, mensatek_client: MensatekClient,
                                                                  receiver: Receiver) -> None:
    sandbox.configure_reports(receiver.url, services=["SMSRECIBIDO"])
    mid = mensatek_client.send_sms("MIEMPRESA", ["34600000001", "34600000002"], "¿Confirma?",
                                   reference="cita-5").message_id
    reply = control(sandbox, "sms_inbound", data={"text": "SI", "reply_to": str(mid), "sender": "34600000002"})
    assert reply.status_code == 200
    new = control(sandbox, "sms_inbound", json={"text": "Hola, ¿horario?", "sender": "34611111111",
                                                "number": "34699000001"})
    assert new.status_code == 200
    sandbox.reports.flush()
    got = receiver.wait_for(2)
    assert [list(json.loads(r.body)) for r in got] == [SAMPLE_KEYS["SMSRECIBIDO"]] * 2
    answer, fresh = (r.report for r in got)
    assert json.loads(got[0].body) == reply.json()["payload"]
    assert (answer.is_reply, answer.message_id, answer.sender, answer.text, answer.reference,
            answer.original_certified, answer.recipient) == (True, str(mid), "34600000002", "SI", "cita-5", False,
                                                             "34699000000")
    assert answer.original_internal_id is not None
    assert answer.timestamp == int(sandbox.clock.now().timestamp())
    assert (fresh.is_reply, fresh.message_id, fresh.original_internal_id, fresh.reference, fresh.text,
            fresh.recipient) == (False, None, None, None, "Hola, ¿horario?", "34699000001")
    assert answer.dedupe_key != fresh.dedupe_key


@pytest.mark.parametrize(("params", "named"), [
    ({"text": "SI", "reply_to": "1"}, "reply_to"), ({"text": "SI", "reply_to": "{mid}", "sender": "34699999999"},
                                                    "sender"),
    ({"text": "SI"}, "sender"), ({"text": "", "sender": "34600000001"}, "text"),
    ({"text": "SI", "sender": "+34 600"}, "sender"), ({"text": "x" * 1601, "sender": "34600000001"}, "text"),
])
def test_bad_inbound_sms_get_400(sandbox: Sandbox, mensatek_client: MensatekClient, receiver: Receiver,
                                 params: dict[str, str], named: str) -> None:
    sandbox.configure_reports(receiver.url)
    mid = mensatek_client.send_sms("MIEMPRESA", "34600000001", "Hola").message_id
    answer = control(sandbox, "sms_inbound", data={k: v.format(mid=mid) for k, v in params.items()})
    assert answer.status_code == 400 and named in answer.json()["error"]


def test_inbound_sms_need_the_service_configured(sandbox: Sandbox, receiver: Receiver) -> None:
    answer = control(sandbox, "sms_inbound", data={"text": "SI", "sender": "34600000001"})
    assert answer.status_code == 400 and "not configured" in answer.json()["error"]
    sandbox.configure_reports(receiver.url, services=["SMSMASIVO"])
    assert control(sandbox, "sms_inbound", data={"text": "SI", "sender": "34600000001"}).status_code == 400


def test_turning_pushes_off_and_reset(sandbox: Sandbox, mensatek_client: MensatekClient, receiver: Receiver) -> None:
    sandbox.configure_reports(receiver.url)
    mensatek_client.send_sms("MIEMPRESA", "34600000001", "Hola")
    sandbox.reports.flush()
    assert control(sandbox, "reports", "DELETE").json() == {"ok": True}
    advance(sandbox, 2)
    assert receiver.codes() == ["2"]
    assert control(sandbox, "reports", "GET").json()["attempts"][0]["outcome"] == "delivered"  # the log stays
    sandbox.configure_reports(receiver.url)
    control(sandbox, "reset").raise_for_status()
    shown = control(sandbox, "reports", "GET").json()
    assert (shown["configured"], shown["attempts"]) == (False, [])


def test_a_sandbox_made_with_reports_comes_back_to_them_after_a_reset(own_sandbox: Any, receiver: Receiver) -> None:
    sandbox = own_sandbox(reports={"url": receiver.url, "format": "form", "services": ["SMSMASIVO"]})
    client = MensatekClient(sandbox.mensatek_user, sandbox.mensatek_token, base_url=sandbox.mensatek_url)
    sandbox.configure_reports(receiver.url, format="json")
    sandbox.reset()
    assert sandbox.reports.config.format == "form"
    client.send_sms("MIEMPRESA", "34600000001", "Hola")
    sandbox.reports.flush()
    [got] = receiver.wait_for(1)
    assert got.content_type == "application/x-www-form-urlencoded" and got.report.code == "2"
    client.close()


@pytest.mark.parametrize("fmt", ["json", "form", "multipart"])
def test_every_format_carries_any_text_unchanged(sandbox: Sandbox, receiver: Receiver, fmt: str) -> None:
    sandbox.configure_reports(receiver.url, format=fmt, services=["SMSRECIBIDO"])
    text = 'Sí, a las 10:00\r\n"vale" --frontera & más=1 ñ €'
    payload = sandbox.reports.inject_inbound_sms(text, sender="34611111111")
    sandbox.reports.flush()
    [got] = receiver.wait_for(1)
    assert dict(got.report.raw) == payload and got.report.text == text
