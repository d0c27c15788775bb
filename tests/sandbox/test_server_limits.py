"""The sandbox as a server users run: malformed requests get an answer, bodies a cap, idle sockets a timeout."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests

from airflow_provider_mensatek.sandbox import Sandbox
from tests.conftest import MENSATEK_TOKEN, MENSATEK_USER
from tests.sandbox.raw_http import connect, exchange, json_of, post_bytes, read_until_closed, status_of

CREDITS = "/mensatek/v7/GetCreditos"
BASIC = (MENSATEK_USER, MENSATEK_TOKEN)


def credits_answer(sandbox: Sandbox) -> dict:
    response = requests.post(f"{sandbox.mensatek_url}/GetCreditos", auth=(MENSATEK_USER, MENSATEK_TOKEN),
                             data={"Resp": "JSON"}, timeout=10)
    assert response.status_code == 200
    return response.json()[0]


@pytest.mark.parametrize("length", ["abc", "-1", "1_0", "+5", "0x10", "5, 5", "\u0665"])
def test_a_content_length_that_is_not_a_plain_number_gets_400(sandbox: Sandbox, length: str) -> None:
    answer = exchange(sandbox, post_bytes(CREDITS, b"Resp=JSON", f"Content-Length: {length}"))
    assert status_of(answer) == 400
    assert "Content-Length" in json_of(answer)["error"]
    assert sandbox.requests == []  # refused before any emulator saw it
    assert credits_answer(sandbox)["Res"] == "1"  # and the server is none the worse


def test_conflicting_content_lengths_get_400(sandbox: Sandbox) -> None:
    answer = exchange(sandbox, post_bytes(CREDITS, b"Resp=JSON", "Content-Length: 9", "Content-Length: 4"))
    assert status_of(answer) == 400 and "conflicting" in json_of(answer)["error"]


def test_a_body_shorter_than_its_content_length_gets_400_and_is_not_processed(sandbox: Sandbox) -> None:
    answer = exchange(sandbox, post_bytes(CREDITS, b"Resp", "Content-Length: 9"), end_of_input=True)
    assert status_of(answer) == 400 and "4 of the 9 bytes" in json_of(answer)["error"]
    assert sandbox.requests == []


@pytest.mark.parametrize(("content_type", "body", "what"), [
    ("application/x-www-form-urlencoded", b"Resp=JSON&Nombre=\xff\xfe", "form body"),
    ("application/x-www-form-urlencoded", b"Resp=JSON&Nombre=%FF%FE", "form body"),
    ("multipart/form-data; boundary=b", b'--b\r\nContent-Disposition: form-data; name="Nombre"\r\n\r\n'
                                        b"\xff\xfe\r\n--b--\r\n", "'Nombre'"),
])
def test_invalid_utf8_in_a_form_gets_400(sandbox: Sandbox, content_type: str, body: bytes, what: str) -> None:
    answer = exchange(sandbox, post_bytes(CREDITS, body, f"Content-Type: {content_type}",
                                          f"Content-Length: {len(body)}"))
    assert status_of(answer) == 400
    assert what in json_of(answer)["error"] and "UTF-8" in json_of(answer)["error"]
    assert sandbox.requests == []


def test_invalid_utf8_in_the_query_string_gets_400(sandbox: Sandbox) -> None:
    answer = exchange(sandbox, f"GET {CREDITS}?Nombre=%FF HTTP/1.1\r\nHost: sandbox\r\n\r\n".encode())
    assert status_of(answer) == 400 and "query string" in json_of(answer)["error"]


def test_chunked_bodies_are_refused_with_411_and_double_framing_with_400(sandbox: Sandbox) -> None:
    chunked = exchange(sandbox, post_bytes(CREDITS, b"9\r\nResp=JSON\r\n0\r\n\r\n", "Transfer-Encoding: chunked"))
    assert status_of(chunked) == 411 and "Content-Length" in json_of(chunked)["error"]
    both = exchange(sandbox, post_bytes(CREDITS, b"9\r\nResp=JSON\r\n0\r\n\r\n", "Transfer-Encoding: chunked",
                                        "Content-Length: 20"))
    assert status_of(both) == 400
    assert sandbox.requests == []


def test_a_body_announced_over_the_default_cap_gets_413_without_being_read(sandbox: Sandbox) -> None:
    # Nothing of the terabyte is sent: the server answers from the header alone, and closes.
    answer = exchange(sandbox, post_bytes(CREDITS, b"", "Content-Length: 1000000000000"))
    assert status_of(answer) == 413
    assert str(sandbox.max_body_bytes) in json_of(answer)["error"]
    assert sandbox.max_body_bytes == 64 * 1024 * 1024


def test_bodies_up_to_the_cap_are_served_and_larger_ones_get_413(own_sandbox: Callable[..., Sandbox]) -> None:
    sandbox = own_sandbox(max_body_bytes=1024)
    url = f"{sandbox.mensatek_url}/GetCreditos"
    at_cap = b"Resp=JSON&Pad=" + b"x" * (1024 - 14)
    assert requests.post(url, data=at_cap, auth=BASIC, timeout=10).json()[0]["Res"] == "1"
    over = requests.post(url, data=at_cap + b"x" * 4096, auth=BASIC, timeout=10)
    assert over.status_code == 413 and "1024" in over.json()["error"]
    assert [len(r.body) for r in sandbox.requests] == [1024]


def test_expect_100_continue_over_the_cap_gets_413_instead_of_continue(own_sandbox: Callable[..., Sandbox]) -> None:
    sandbox = own_sandbox(max_body_bytes=1024)
    refused = exchange(sandbox, post_bytes(CREDITS, b"", "Expect: 100-continue", "Content-Length: 1025"))
    assert status_of(refused) == 413
    with connect(sandbox) as sock:
        sock.sendall(post_bytes(CREDITS, b"", "Expect: 100-continue", "Content-Length: 9", "Connection: close"))
        assert sock.recv(64).startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(b"Resp=JSON")
        assert status_of(read_until_closed(sock)) == 200


def test_idle_and_half_sent_connections_are_closed_and_others_still_served(
        own_sandbox: Callable[..., Sandbox]) -> None:
    sandbox = own_sandbox(idle_timeout=0.5)
    with connect(sandbox) as silent, connect(sandbox) as half_line, connect(sandbox) as half_body:
        half_line.sendall(b"GET /_sandbox/clo")
        half_body.sendall(post_bytes(CREDITS, b"Resp", "Content-Length: 9"))
        # Three stuck clients hold three threads; everyone else is still answered meanwhile.
        assert requests.get(f"{sandbox.url}/_sandbox/clock", timeout=10).status_code == 200
        assert credits_answer(sandbox)["Res"] == "1"
        # The server, not the client, ends each of them: read_until_closed returns only on its close.
        assert read_until_closed(silent) == b""  # nothing was asked, so nothing is answered
        assert read_until_closed(half_line) == b""
        stalled = read_until_closed(half_body)
    assert status_of(stalled) == 408 and "idle timeout" in json_of(stalled)["error"]
    assert [r.function for r in sandbox.requests] == ["GetCreditos"]  # the stalled body reached no emulator


def test_a_kept_alive_connection_is_closed_once_idle(own_sandbox: Callable[..., Sandbox]) -> None:
    sandbox = own_sandbox(idle_timeout=0.5)
    with connect(sandbox) as sock:
        sock.sendall(b"GET /_sandbox/clock HTTP/1.1\r\nHost: sandbox\r\n\r\n")
        answer = read_until_closed(sock)
    assert status_of(answer) == 200 and b"Connection: close" not in answer  # kept alive, then timed out


def test_limits_are_checked_when_the_sandbox_is_built() -> None:
    for name, value in (("idle_timeout", float("nan")), ("idle_timeout", 0), ("max_body_bytes", -1),
                        ("max_logged_requests", 0), ("max_logged_bytes", "lots"), ("step_seconds", float("inf"))):
        with pytest.raises(ValueError, match=name):
            Sandbox(**{name: value})
