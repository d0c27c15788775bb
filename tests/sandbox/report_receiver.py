"""A small loopback HTTP receiver for the sandbox's report pushes: it records what it got and answers as told."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from airflow_provider_mensatek.clients.mensatek.reports import MensatekReport, parse_report

#: A safety net, never a measure: a test whose pushes never come fails here instead of hanging.
GIVE_UP_AFTER = 30.0


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    @property
    def report(self) -> MensatekReport:
        return parse_report(self.content_type, self.body)


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client closing its kept-alive connection is no error of the receiver


class Receiver:
    """Records every request; answers the statuses in ``answers`` first, then 200."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.answers: deque[int] = deque()
        #: Cleared, every request waits for it before answering (a slow receiver); ``entered`` says one is waiting.
        self.release = threading.Event()
        self.release.set()
        self.entered = threading.Event()
        self._changed = threading.Condition()
        self._server = _QuietServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/mensatek/reports"

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()

    def wait_for(self, count: int) -> list[Received]:
        """The first ``count`` requests, once they are in."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.received) >= count, GIVE_UP_AFTER):
                raise AssertionError(f"the receiver got {len(self.received)} of {count} pushes")
            return list(self.received)

    def codes(self) -> list[str | None]:
        return [r.report.code for r in self.received]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.entered.set()
                receiver.release.wait(GIVE_UP_AFTER)
                with receiver._changed:
                    status = receiver.answers.popleft() if receiver.answers else 200
                    receiver.received.append(Received(self.command, self.path,
                                                      {k.lower(): v for k, v in self.headers.items()}, body))
                    receiver._changed.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"OK")

        return Handler


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    receiver = Receiver().start()
    try:
        yield receiver
    finally:
        receiver.stop()
