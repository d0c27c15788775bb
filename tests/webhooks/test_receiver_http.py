"""The receiver over real HTTP, mounted on a real ``airflow api-server``: who gets in, what is stored, what is answered.

Every test posts to ``/mensatek/reports`` on the running api-server and checks both
the answer and what the metadata database holds afterwards.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from typing import Any

import pytest
import requests

from airflow_provider_mensatek.clients import MensatekClient
from airflow_provider_mensatek.clients.mensatek.reports import SMS_INBOUND
from airflow_provider_mensatek.sandbox import Sandbox
from tests.clients.mensatek.test_reports import SAMPLES
from tests.webhooks.conftest import Receiver
from tests.webhooks.support import PASSWORD, PREVIOUS_PASSWORD, USER, basic, dedupe_key_of, post

pytestmark = pytest.mark.deployment

_counter = iter(range(10_000_000))


def unique_sms(code: str = "11", **changes: str) -> dict[str, str]:
    """An SMS report of a message id no other test uses."""
    return {"Servicio": "SMSMASIVO", "Resultado": code, "Remitente": "EMPRESA", "Movil": "34600000001",
            "Fecha": "2024-03-01 10:00:00", "idMensaje": f"9{next(_counter):08d}",
            "Referencia": "dag.task.run", **changes}


# -- authentication -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("case", "authorization", "expected"), [
    ("no header", None, 401),
    ("wrong user", basic(user="someone"), 401),
    ("wrong password", basic(password="guess"), 401),
    ("empty password", basic(password=""), 401),
    ("right", basic(), 200),
    ("previous password during a rotation", basic(password=PREVIOUS_PASSWORD), 200),
    ("bearer token", "Bearer eyJhbGciOiJIUzI1NiJ9.e30.x", 401),
    ("basic without a colon", "Basic " + "bWVuc2F0ZWs=", 401),
    ("basic of garbage", "Basic !!!not-base64", 401),
    ("another scheme", "Digest username=\"mensatek-panel\"", 401),
])
def test_the_auth_matrix(receiver: Receiver, case: str, authorization: str | None, expected: int) -> None:
    payload = unique_sms()
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    answer = requests.post(receiver.url, data=json.dumps(payload), headers=headers, timeout=60)
    assert answer.status_code == expected, case
    stored = receiver.inbox.reports("message_id = :m", m=payload["idMensaje"])
    assert len(stored) == (1 if expected == 200 else 0)
    if expected == 401:
        assert answer.headers["WWW-Authenticate"].startswith("Basic realm=")
        assert answer.content == b""  # no detail


def test_a_non_ascii_header_is_refused_not_crashed_on(receiver: Receiver) -> None:
    # Raw bytes on the socket: HTTP clients refuse to send what an attacker can.
    payload = json.dumps(unique_sms()).encode()
    for value in (b"Basic bWVuc2F0ZWs6cMOk" + b"\xff\xfe", "Basic é".encode(), b"Basic \x80\x81\x82"):
        status = raw_post(receiver, [b"Authorization: " + value], payload)
        assert status == 401
    assert sorted(receiver.deployment.running) == sorted(receiver.deployment.components)


def test_the_first_authorization_header_is_the_one_that_counts(receiver: Receiver) -> None:
    payload = unique_sms()
    body = json.dumps(payload).encode()
    # What Airflow's all-admins middleware does: a Bearer header appended after the client's.
    assert raw_post(receiver, [b"Authorization: " + basic().encode(), b"Authorization: Bearer abc"], body) == 200
    assert raw_post(receiver, [b"Authorization: Bearer abc", b"Authorization: " + basic().encode()],
                    json.dumps(unique_sms()).encode()) == 401
    assert len(receiver.inbox.reports("message_id = :m", m=payload["idMensaje"])) == 1


def test_the_url_check_answers_get_and_head_only_with_the_credential(receiver: Receiver) -> None:
    for method in ("GET", "HEAD"):
        assert requests.request(method, receiver.url, timeout=30).status_code == 401
        answer = requests.request(method, receiver.url, headers={"Authorization": basic()}, timeout=30)
        assert answer.status_code == 200 and answer.content == b""
    for path in ("docs", "redoc", "openapi.json", "reports/docs"):
        assert requests.get(f"{receiver.deployment.url}/mensatek/{path}", timeout=30).status_code == 404


# -- what is stored -------------------------------------------------------------------------------------------


FORMATS = ("json", "form", "multipart")


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_service_pushed_by_the_sandbox_is_stored_in_every_format(
        receiver: Receiver, sandbox: Sandbox, mensatek_client: MensatekClient, fmt: str) -> None:
    # The sandbox starts over for each test, message ids included: a day apart, the reports differ.
    sandbox.clock.advance(86_400 * (1 + FORMATS.index(fmt)))
    sandbox.configure_reports(receiver.url, format=fmt, user=USER, password=PASSWORD, timeout=60)
    certified = mensatek_client.send_certified_email("yo@empresa.example", ["read.ana@example.com"], "Asunto",
                                                     "Mensaje", reference=f"ce-{fmt}").message_ids[0]
    sms = mensatek_client.send_sms("MIEMPRESA", "34600000001", "Hola", reference=f"sms-{fmt}").message_id
    email = mensatek_client.send_email("info@empresa.example", [{"Email": "read@cliente.example"}], "Asunto",
                                       html="<p>Hola</p>").message_ids[0]
    rcs = mensatek_client.send_rcs("1234568", [{"Telefono": "34600000001", "variables": {"Codigo": "X"}}]
                                   ).message_ids[0]
    for _ in range(4):
        sandbox.clock.advance(60)
        sandbox.reports.flush(timeout=120)
    sandbox.reports.inject_inbound_sms(f"Sí, acepto ({fmt})", sender="34600000001", reply_to=sms)
    sandbox.reports.flush(timeout=120)

    attempts = sandbox.reports.attempts
    assert {a["service"] for a in attempts} == {"EMAILCERTIFICADO", "SMSMASIVO", "EMAILTRANSACCIONAL", "RCS",
                                                SMS_INBOUND}
    assert {a["outcome"] for a in attempts} == {"delivered"} and {a["http_status"] for a in attempts} == {200}
    stored = {row["dedupe_key"]: row for row in receiver.inbox.reports()}
    # This test's rows are its attempts' keys (the sandbox's message ids repeat from test to test).
    mine = [stored[dedupe_key_of(attempt["payload"])] for attempt in attempts]
    for attempt, row in zip(attempts, mine, strict=True):
        assert row["parsed"] and row["service"] == attempt["service"]
        assert bytes(row["body"]) and row["content_type"].split(";")[0] == {
            "json": "application/json", "form": "application/x-www-form-urlencoded",
            "multipart": "multipart/form-data"}[fmt]
        assert row["code"] == (attempt["code"] or None)
    by_message = {m: [r for r in mine if r["message_id"] == str(m) and r["channel"] != "sms_inbound"]
                  for m in (certified, sms, email, rcs)}
    assert [r["code"] for r in by_message[certified]] == ["2", "10", "14", "11"]
    assert {r["channel"] for r in by_message[certified]} == {"certified_email"}
    assert {r["channel"] for r in by_message[sms]} == {"sms"} and {r["channel"] for r in by_message[email]} == {"email"}
    assert {r["channel"] for r in by_message[rcs]} == {"rcs"}
    reply = [r for r in mine if r["channel"] == "sms_inbound"]
    assert len(reply) == 1 and reply[0]["message_id"] == str(sms)
    assert reply[0]["normalised"]["reply_text"] == f"Sí, acepto ({fmt})"


def test_a_duplicate_is_answered_like_the_original_without_a_second_row(receiver: Receiver) -> None:
    payload = unique_sms()
    first = post(receiver.url, payload)
    again = post(receiver.url, payload)
    as_form = post(receiver.url, "&".join(f"{k}={v}" for k, v in payload.items()),
                   content_type="application/x-www-form-urlencoded")
    assert (first.status_code, again.status_code, as_form.status_code) == (200, 200, 200)
    assert first.content == again.content == as_form.content
    rows = receiver.inbox.reports("message_id = :m", m=payload["idMensaje"])
    assert len(rows) == 1 and rows[0]["advanced"]


def test_concurrent_duplicates_store_one_row_and_all_get_200(receiver: Receiver) -> None:
    payloads = [unique_sms(code) for code in ("2", "11")]
    for payload in payloads[1:]:
        payload["idMensaje"] = payloads[0]["idMensaje"]
    barrier = threading.Barrier(16)
    statuses: list[int] = []

    def send(payload: dict[str, str]) -> None:
        barrier.wait()
        statuses.append(post(receiver.url, payload).status_code)

    threads = [threading.Thread(target=send, args=(payloads[i % 2],)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 16
    rows = receiver.inbox.reports("message_id = :m", m=payloads[0]["idMensaje"])
    assert sorted(r["code"] for r in rows) == ["11", "2"]
    [state] = receiver.inbox.states("sms", payloads[0]["idMensaje"])
    assert state["code"] == "11"


def test_a_late_delivered_after_certified_is_stored_but_does_not_regress_the_state(receiver: Receiver) -> None:
    certified = unique_sms("14", Fecha="2024-03-01 10:05:00")
    late = dict(certified, Resultado="11", Fecha="2024-03-01 10:01:00")
    assert post(receiver.url, certified).status_code == 200
    assert post(receiver.url, late).status_code == 200
    rows = receiver.inbox.reports("message_id = :m", m=certified["idMensaje"])
    assert [(r["code"], bool(r["advanced"])) for r in rows] == [("14", True), ("11", False)]
    [state] = receiver.inbox.states("sms", certified["idMensaje"])
    assert state["code"] == "14" and state["report_id"] == rows[0]["id"]
    # Each phone of one SMS idMensaje is its own part: a second phone's report does not compete.
    other_phone = dict(late, Movil="34600000002")
    assert post(receiver.url, other_phone).status_code == 200
    assert sorted(s["code"] for s in receiver.inbox.states("sms", certified["idMensaje"])) == ["11", "14"]


def test_an_unknown_service_and_an_unparseable_body_are_kept_and_answered_200(receiver: Receiver) -> None:
    unknown = {"Servicio": "FAXCERTIFICADO", "Resultado": "7", "idMensaje": "fax-1", "Dato": "x"}
    assert post(receiver.url, unknown).status_code == 200
    garbage = b'{"Servicio": "SMSMASIVO", "Resultado": "11", "idMensaje": '  # cut short
    assert post(receiver.url, garbage).status_code == 200
    assert post(receiver.url, b"\x00\x01binary", content_type="application/octet-stream").status_code == 200
    [fax] = receiver.inbox.reports("service = 'FAXCERTIFICADO'")
    assert fax["parsed"] and fax["channel"] == "unknown" and fax["code"] == "7" and fax["event_state"] == "none"
    raw = [r for r in receiver.inbox.reports("parsed = :p", p=False) if bytes(r["body"]) in (
        garbage, b"\x00\x01binary")]
    assert len(raw) == 2 and all(r["dedupe_key"].startswith("raw:v1:") for r in raw)
    assert sorted(r["parse_error"].split(" (")[0] for r in raw) == [
        "the body is not JSON", "unsupported Content-Type 'application/octet-stream': reports are JSON or form data"]
    assert post(receiver.url, garbage).status_code == 200  # the same bytes again: one row
    assert len([r for r in receiver.inbox.reports("parsed = :p", p=False) if bytes(r["body"]) == garbage]) == 1


# -- the body cap ---------------------------------------------------------------------------------------------------


def raw_post(receiver: Receiver, headers: list[bytes], body: bytes, *, chunked: bool = False,
             content_length: int | None = None) -> int:
    """A POST written byte by byte on a socket; the status code answered."""
    port = receiver.deployment.port
    lines = [b"POST /mensatek/reports HTTP/1.1", f"Host: 127.0.0.1:{port}".encode(),
             b"Content-Type: application/json", b"Connection: close", *headers]
    if chunked:
        lines.append(b"Transfer-Encoding: chunked")
        size = 16 * 1024
        payload = b"".join(f"{len(body[i:i + size]):x}\r\n".encode() + body[i:i + size] + b"\r\n"
                           for i in range(0, len(body), size)) + b"0\r\n\r\n"
    else:
        lines.append(f"Content-Length: {len(body) if content_length is None else content_length}".encode())
        payload = body
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(b"\r\n".join(lines) + b"\r\n\r\n")
        try:
            sock.sendall(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the receiver answered and closed before reading it all
        answer = b""
        while b"\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    return int(answer.split(b" ", 2)[1])


def big_report(size: int) -> bytes:
    return json.dumps(unique_sms(Referencia="x" * size)).encode()


@pytest.mark.parametrize("how", ["content-length", "chunked without content-length", "lying content-length"])
def test_a_body_over_the_cap_is_refused_with_413_and_not_stored(receiver: Receiver, how: str) -> None:
    auth = [b"Authorization: " + basic().encode()]
    body = big_report(70 * 1024)
    before = len(receiver.inbox.reports())
    if how == "content-length":
        status = raw_post(receiver, auth, body)
    elif how == "chunked without content-length":
        status = raw_post(receiver, auth, body, chunked=True)
    else:
        # Claims a small body, sends a big one: the server reads only what was declared, as HTTP says;
        # the declared part is an incomplete report, stored raw. What follows is no request of ours.
        status = raw_post(receiver, auth, body, content_length=100)
        assert status == 200
        [row] = [r for r in receiver.inbox.reports("parsed = :p", p=False) if bytes(r["body"]) == body[:100]]
        assert row["parse_error"].startswith("the body is not JSON")
        return
    assert status == 413
    assert len(receiver.inbox.reports()) == before
    small = big_report(1024)
    assert raw_post(receiver, auth, small, chunked=True) == 200  # under the cap, chunked is fine
    assert receiver.inbox.reports("body = :b", b=small)


def test_an_unauthenticated_big_body_gets_401_before_its_size_is_looked_at(receiver: Receiver) -> None:
    assert raw_post(receiver, [], big_report(70 * 1024)) == 401


# -- secrets -----------------------------------------------------------------------------------------------------


def test_neither_credential_nor_any_encoding_of_it_reaches_a_log(receiver: Receiver,
                                                                 make_traffic: Callable[[], Any]) -> None:
    make_traffic()
    logs = receiver.log_text()
    assert "mensatek/reports" in logs  # the access log is there, and was read
    for secret in (PASSWORD, PREVIOUS_PASSWORD, basic()[6:], basic(password=PREVIOUS_PASSWORD)[6:]):
        assert secret not in logs


@pytest.fixture
def make_traffic(receiver: Receiver) -> Callable[[], None]:
    def run() -> None:
        post(receiver.url, unique_sms())
        post(receiver.url, unique_sms(), authorization=basic(password=PASSWORD + "x"))
        post(receiver.url, SAMPLES["SMSMASIVO"])
        post(receiver.url, b"{broken")
    return run
