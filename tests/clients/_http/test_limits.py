"""Bounded answers and an overall deadline, against a loopback server that misbehaves on purpose.

The sandbox answers like the vendors; it cannot send 300 MB, never end a
chunked answer, send a gzip bomb or drip. ``tests/hostile_http.py`` does, and
counts what it managed to write: a bounded client stops reading, so most of
the answer is never written. Memory is checked with tracemalloc's peak. How the
deadline bounds a call's retries: ``test_call_deadline.py``.
"""

from __future__ import annotations

import io
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from airflow_provider_mensatek.clients import MensatekClient, RetrySettings, Timeouts
from airflow_provider_mensatek.clients._http.limits import DEFAULT_MAX_RESPONSE_BYTES
from airflow_provider_mensatek.clients.errors import (
    AmbiguousSendError,
    CertificateError,
    MensatekError,
    TransientError,
)
from tests.conftest import MENSATEK_TOKEN, MENSATEK_USER
from tests.hostile_http import MB, Answer, HostileServer, drip, endless_chunks, gzip_bomb, zeros

HUGE = 300 * MB
JSON = ("Content-Type", "application/json")


def client_for(server: HostileServer, **timeouts: float) -> MensatekClient:
    return MensatekClient(MENSATEK_USER, MENSATEK_TOKEN, base_url=server.url,
                          timeouts=Timeouts(**timeouts) if timeouts else None,
                          retry=RetrySettings(max_attempts=1))


def read(client: MensatekClient) -> Any:
    return client.get_credits()


def send(client: MensatekClient) -> Any:
    return client.send_certified_email("avisos@example.com", "ana@example.com", "s", "m", reference="ref-9")


def peak_during(call: Callable[[], Any]) -> tuple[BaseException, int]:
    tracemalloc.start()
    try:
        with pytest.raises(MensatekError) as info:
            call()
        return info.value, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


HUGE_ANSWERS = {
    "declared 300 MB": Answer([JSON, ("Content-Length", str(HUGE))], zeros(HUGE)),
    "undeclared 300 MB": Answer([JSON], zeros(HUGE)),  # ends when the server closes
    "endless chunked": Answer([JSON, ("Transfer-Encoding", "chunked")], endless_chunks),
}


@pytest.mark.parametrize("answer", HUGE_ANSWERS.values(), ids=HUGE_ANSWERS.keys())
def test_a_huge_answer_to_a_read_stops_at_the_cap(answer: Answer) -> None:
    with HostileServer(answer) as server:
        error, peak = peak_during(lambda: read(client_for(server)))
        assert server.state.finished.wait(30)
    assert type(error) is MensatekError and error.code == "too-large"
    assert "max_response_bytes" in str(error)
    # The client stopped reading at the 8 MB default: the rest was never even written.
    assert server.state.written < DEFAULT_MAX_RESPONSE_BYTES + 32 * MB < HUGE
    assert peak < 3 * DEFAULT_MAX_RESPONSE_BYTES


@pytest.mark.parametrize("answer", HUGE_ANSWERS.values(), ids=HUGE_ANSWERS.keys())
def test_a_huge_answer_to_a_send_is_an_ambiguous_send(answer: Answer) -> None:
    with HostileServer(answer) as server:
        error, _ = peak_during(lambda: send(client_for(server)))
        assert server.state.finished.wait(30)
    assert isinstance(error, AmbiguousSendError) and error.code == "too-large"
    assert error.reference == "ref-9" and "NOT retried" in str(error)
    assert server.state.requests == 1
    assert server.state.written < DEFAULT_MAX_RESPONSE_BYTES + 32 * MB


def test_a_gzip_bomb_is_decoded_only_up_to_the_cap() -> None:
    bomb = gzip_bomb(100 * MB)  # 100 MB of zeros in about 100 KB
    answer = Answer([JSON, ("Content-Encoding", "gzip"), ("Content-Length", str(len(bomb)))], lambda: iter([bomb]))
    with HostileServer(answer) as server:
        error, peak = peak_during(lambda: read(client_for(server)))
    assert error.code == "too-large"
    assert peak < 3 * DEFAULT_MAX_RESPONSE_BYTES  # never inflated whole


def test_a_gzip_bomb_streamed_as_a_certificate_stops_at_the_download_cap() -> None:
    bomb = gzip_bomb(100 * MB, prefix=b"PK\x03\x04")
    answer = Answer([("Content-Type", "application/zip"), ("Content-Encoding", "gzip"),
                     ("Content-Length", str(len(bomb)))], lambda: iter([bomb]))

    class Sink(io.RawIOBase):
        def writable(self) -> bool:
            return True

        def write(self, b: Any) -> int:
            return len(b)

    with HostileServer(answer) as server:
        client = client_for(server)
        error, peak = peak_during(
            lambda: client.download_certified_email_certificates(1, Sink(), max_bytes=4 * MB))  # type: ignore[arg-type]
    assert isinstance(error, CertificateError) and error.code == "too-large"
    assert peak < 16 * MB


DRIP_TOTAL = 300 * 1024


def dripping() -> Answer:
    """A 300 KB answer at about 100 KB/s: each piece arrives well within any read timeout."""
    return Answer([JSON, ("Content-Length", str(DRIP_TOTAL))], drip(DRIP_TOTAL, 1024), pause=0.01)


def test_a_slow_drip_read_ends_at_the_deadline_as_a_transient_error() -> None:
    with HostileServer(dripping()) as server:
        with pytest.raises(TransientError) as info:
            read(client_for(server, connect=2, read=5, deadline=0.5))
        assert server.state.finished.wait(30)
    assert info.value.code == "deadline" and "deadline" in str(info.value)
    assert server.state.written < DRIP_TOTAL  # the client hung up before the answer was complete


def test_a_slow_drip_on_a_send_ends_at_the_deadline_as_an_ambiguous_send() -> None:
    with HostileServer(dripping()) as server:
        with pytest.raises(AmbiguousSendError) as info:
            send(client_for(server, connect=2, read=5, deadline=0.5))
        assert server.state.finished.wait(30)
    assert info.value.code == "deadline" and info.value.reference == "ref-9"
    assert server.state.written < DRIP_TOTAL


def test_headers_that_never_end_are_cut_by_the_deadline_too() -> None:
    answer = Answer([], lambda: iter(()), pause=0.02, endless_headers=True)
    with HostileServer(answer) as server:
        with pytest.raises(AmbiguousSendError) as info:
            send(client_for(server, connect=2, read=5, deadline=0.5))
        assert server.state.finished.wait(30)
    assert info.value.code == "deadline"


def chunks_of(data: bytes) -> Callable[[], Iterator[bytes]]:
    return lambda: iter([data])


def test_an_answer_within_the_cap_is_read_whole_even_when_compressed() -> None:
    import gzip

    body = gzip.compress(b'[{"Res": "1", "Cred": "1234.5"}]')
    answer = Answer([JSON, ("Content-Encoding", "gzip"), ("Content-Length", str(len(body)))], chunks_of(body))
    with HostileServer(answer) as server:
        assert read(client_for(server)) == 1234.5


def test_finished_deadlines_do_not_pile_up_until_they_expire() -> None:
    from airflow_provider_mensatek.clients._http.deadline import Exchange, _Watchdog

    watchdog = _Watchdog()
    for _ in range(20_000):  # a busy campaign: every exchange done long before its 300 s deadline
        exchange = Exchange(300.0)
        watchdog.watch(exchange)
        exchange.finish()
    assert len(watchdog._heap) <= 4096
