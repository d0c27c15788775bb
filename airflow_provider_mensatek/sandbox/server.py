"""The sandbox HTTP server: a real loopback server that hosts both vendor emulators.

Layout of URLs (``{url}`` is ``http://127.0.0.1:{port}``)::

    {url}/mensatek/v7/<Function>      Mensatek API v7 (see sandbox/mensatek.py)
    {url}/legallymail/api/<path>      LegallyMail REST API (see sandbox/legallymail.py)
    {url}/_sandbox/...                control routes for tests and demos (loopback only)

Everything a client sends is recorded (method, path, headers, parsed
parameters) so tests assert on what the vendor *received*. Faults can be
injected per function: drop the connection after accepting, answer a status
(e.g. 503 / 429 with Retry-After), or reply slowly. Time is a :class:`Clock`
that tests move by hand and demos run fast.
"""

from __future__ import annotations

import base64
import json
import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

log = logging.getLogger("airflow_provider_mensatek.sandbox")

MADRID = ZoneInfo("Europe/Madrid")

DEFAULT_MENSATEK_USER = "sandbox-user"
DEFAULT_MENSATEK_TOKEN = "sandbox-mensatek-token"
DEFAULT_LEGALLYMAIL_TOKEN = "sandbox-legallymail-token"


class Clock:
    """Sandbox time. ``speed`` simulated seconds pass per real second; tests use speed 0 and ``advance``."""

    def __init__(self, start: datetime | None = None, *, speed: float = 0.0) -> None:
        self._lock = threading.Lock()
        self._base = (start or datetime.now(tz=MADRID)).astimezone(MADRID)
        self._real_base = time.monotonic()
        self.speed = speed

    def now(self) -> datetime:
        with self._lock:
            elapsed = (time.monotonic() - self._real_base) * self.speed
            return self._base + timedelta(seconds=elapsed)

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            self._base += timedelta(seconds=seconds)
            return self._base

    def set(self, when: datetime) -> None:
        with self._lock:
            self._base = when.astimezone(MADRID)
            self._real_base = time.monotonic()


@dataclass
class RecordedRequest:
    """One request as the vendor received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    params: dict[str, Any]
    at: datetime
    content_type: str = ""

    @property
    def function(self) -> str:
        return self.path.rstrip("/").rsplit("/", 1)[-1]

    @property
    def authorization(self) -> str | None:
        return self.headers.get("authorization")

    @property
    def basic_auth(self) -> tuple[str, str] | None:
        value = self.authorization or ""
        if not value.lower().startswith("basic "):
            return None
        try:
            user, _, password = base64.b64decode(value[6:]).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return user, password

    @property
    def bearer_token(self) -> str | None:
        value = self.authorization or ""
        return value[7:] if value.lower().startswith("bearer ") else None

    def param(self, name: str, default: Any = None) -> Any:
        """Case-insensitive parameter lookup (the vendors treat names case-insensitively)."""
        lowered = name.lower()
        for key, value in self.params.items():
            if key.lower() == lowered:
                return value
        return default

    def json_param(self, name: str) -> Any:
        """A parameter that may arrive JSON-encoded in a string (arrays in Mensatek)."""
        value = self.param(name)
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                return value
        return value

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method, "path": self.path, "query": self.query, "headers": self.headers,
            "params": self.params, "at": self.at.isoformat(), "content_type": self.content_type,
        }


@dataclass
class SandboxResponse:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> SandboxResponse:
        return cls(status, json.dumps(data, ensure_ascii=False).encode("utf-8"), "application/json",
                   headers or {})

    @classmethod
    def text(cls, text: str, status: int = 200) -> SandboxResponse:
        return cls(status, text.encode("utf-8"), "text/plain; charset=utf-8")


@dataclass
class Fault:
    """What to do instead of (or after) answering normally.

    kind:
      ``drop_after_accept`` process the request (state changes!) then close the
                            socket without answering: the classic ambiguous send;
      ``drop``              close the socket without processing anything;
      ``garble_after_accept`` process the request, then answer ``status`` with ``body``
                            (e.g. an HTML error page or a truncated JSON) instead of the real answer;
      ``status``            answer ``status`` (with ``retry_after`` if given) without processing;
      ``delay``             sleep ``delay`` seconds, then answer normally.
    """

    kind: str
    status: int = 503
    retry_after: float | None = None
    delay: float = 0.0
    body: str = ""


class VendorApp(Protocol):
    prefix: str

    def handle(self, request: RecordedRequest) -> SandboxResponse: ...

    def reset(self) -> None: ...


class Sandbox:
    """Both vendor emulators behind one loopback HTTP server."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        clock: Clock | None = None,
        mensatek_user: str = DEFAULT_MENSATEK_USER,
        mensatek_token: str = DEFAULT_MENSATEK_TOKEN,
        legallymail_token: str = DEFAULT_LEGALLYMAIL_TOKEN,
        step_seconds: float = 60.0,
    ) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("The sandbox only listens on loopback")
        self.host = host
        self.port = port
        self.clock = clock or Clock()
        self.step_seconds = step_seconds
        self.mensatek_user = mensatek_user
        self.mensatek_token = mensatek_token
        self.legallymail_token = legallymail_token
        self.requests: list[RecordedRequest] = []
        self._faults: dict[str, deque[Fault]] = {}
        self._lock = threading.RLock()
        self._idle = threading.Condition()
        self._busy = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.apps: list[VendorApp] = []
        for factory in _APP_FACTORIES:
            self.apps.append(factory(self))

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> Sandbox:
        handler = _make_handler(self)
        self._server = _QuietServer((self.host, self.port), handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="mensatek-sandbox",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def mensatek_url(self) -> str:
        return f"{self.url}/mensatek/v7"

    @property
    def legallymail_url(self) -> str:
        return f"{self.url}/legallymail/api"

    def app(self, prefix: str) -> Any:
        for app in self.apps:
            if app.prefix == prefix:
                return app
        raise KeyError(prefix)

    @property
    def mensatek(self) -> Any:
        return self.app("/mensatek/v7")

    # -- test helpers --------------------------------------------------------

    def requests_to(self, function: str) -> list[RecordedRequest]:
        """Recorded requests whose path ends with ``function`` (e.g. "EnviarEMAILCERTIFICADO")."""
        with self._lock:
            return [r for r in self.requests if r.path.rstrip("/").endswith(function)]

    def inject(self, function: str, fault: Fault, times: int = 1) -> None:
        """Apply ``fault`` to the next ``times`` requests whose path ends with ``function``."""
        with self._lock:
            queue = self._faults.setdefault(function, deque())
            queue.extend([fault] * times)

    def clear_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    def reset(self, wait: float = 10.0) -> None:
        """Forget everything, after letting requests still being answered finish.

        A slow reply from one test (a ``delay`` fault outliving the client's
        timeout) must not land in the next test's fresh state.
        """
        with self._idle:
            self._idle.wait_for(lambda: self._busy == 0, timeout=wait)
        with self._lock:
            self.requests.clear()
            self._faults.clear()
            for app in self.apps:
                app.reset()

    @contextmanager
    def _serving(self) -> Iterator[None]:
        with self._idle:
            self._busy += 1
        try:
            yield
        finally:
            with self._idle:
                self._busy -= 1
                self._idle.notify_all()

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for suffix, queue in self._faults.items():
                if queue and path.rstrip("/").endswith(suffix):
                    return queue.popleft()
        return None

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    # -- dispatch ------------------------------------------------------------

    def dispatch(self, request: RecordedRequest) -> SandboxResponse:
        if request.path.startswith("/_sandbox/"):
            return self._control(request)
        for app in self.apps:
            if request.path.startswith(app.prefix + "/") or request.path == app.prefix:
                return app.handle(request)
        return SandboxResponse.json({"error": f"no such route {request.path}"}, status=404)

    def _control(self, request: RecordedRequest) -> SandboxResponse:
        route = request.path[len("/_sandbox/"):].strip("/")
        if route == "requests":
            with self._lock:
                return SandboxResponse.json([r.to_dict() for r in self.requests])
        if route == "clock" and request.method == "POST":
            if request.param("advance") is not None:
                self.clock.advance(float(request.param("advance")))
            if request.param("speed") is not None:
                self.clock.speed = float(request.param("speed"))
            return SandboxResponse.json({"now": self.clock.now().isoformat()})
        if route == "clock":
            return SandboxResponse.json({"now": self.clock.now().isoformat()})
        if route == "faults" and request.method == "POST":
            fault = Fault(kind=str(request.param("kind")), status=int(request.param("status", 503)),
                          retry_after=request.param("retry_after"), delay=float(request.param("delay", 0)))
            self.inject(str(request.param("function")), fault, int(request.param("times", 1)))
            return SandboxResponse.json({"ok": True})
        if route == "reset" and request.method == "POST":
            self.reset()
            return SandboxResponse.json({"ok": True})
        return SandboxResponse.json({"error": "unknown control route"}, status=404)


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out or that a fault disconnects are part of the tests, not server errors.
        log.debug("sandbox: connection from %s ended abruptly", client_address, exc_info=True)


_APP_FACTORIES: list[Callable[[Sandbox], VendorApp]] = []


def register_app(factory: Callable[[Sandbox], VendorApp]) -> Callable[[Sandbox], VendorApp]:
    """Vendor modules register their emulator here (imported by sandbox/__init__)."""
    _APP_FACTORIES.append(factory)
    return factory


def _parse_params(content_type: str, body: bytes, query: dict[str, str]) -> dict[str, Any]:
    params: dict[str, Any] = dict(query)
    if not body:
        return params
    ctype = content_type.split(";")[0].strip().lower()
    if ctype == "application/json":
        try:
            data = json.loads(body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return params
        if isinstance(data, dict):
            params.update(data)
        else:
            params["_json"] = data
    elif ctype == "application/x-www-form-urlencoded":
        form = parse_qs(body.decode("utf-8"), keep_blank_values=True)
        params.update({k: v[0] if len(v) == 1 else v for k, v in form.items()})
    elif ctype == "multipart/form-data":
        params.update(_parse_multipart(content_type, body))
    return params


def _parse_multipart(content_type: str, body: bytes) -> dict[str, Any]:
    from email.parser import BytesParser
    from email.policy import HTTP

    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    out: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        filename = part.get_filename()
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            payload = b""
        if filename:
            out[str(name)] = {"filename": filename, "content": payload}
        else:
            out[str(name)] = payload.decode("utf-8", errors="replace")
    return out


def _make_handler(sandbox: Sandbox) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in separate writes; with Nagle on, a kept-alive
        # connection waits for the client's delayed ACK (~40 ms) on every answer.
        disable_nagle_algorithm = True
        server_version = "MensatekSandbox/1"

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("sandbox: " + format, *args)

        def _handle(self) -> None:
            if urlsplit(self.path).path.startswith("/_sandbox/"):
                self._answer()
                return
            with sandbox._serving():
                self._answer()

        def _answer(self) -> None:
            split = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            query = {k: v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
            content_type = self.headers.get("Content-Type", "")
            request = RecordedRequest(
                method=self.command,
                path=split.path,
                query=query,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
                params=_parse_params(content_type, body, query),
                at=sandbox.clock.now(),
                content_type=content_type,
            )
            is_control = split.path.startswith("/_sandbox/")
            if not is_control:
                sandbox._record(request)
            fault = None if is_control else sandbox._take_fault(split.path)
            if fault is not None and fault.kind == "drop":
                self._drop()
                return
            if fault is not None and fault.kind == "status":
                headers = {}
                if fault.retry_after is not None:
                    headers["Retry-After"] = str(int(fault.retry_after))
                self._send(SandboxResponse(fault.status, fault.body.encode(), "text/plain", headers))
                return
            if fault is not None and fault.kind == "delay":
                time.sleep(fault.delay)
            try:
                response = sandbox.dispatch(request)
            except Exception:  # the emulator must answer like a server, not die
                log.exception("sandbox route failed")
                response = SandboxResponse.text("Internal sandbox error", status=500)
            if fault is not None and fault.kind == "drop_after_accept":
                self._drop()
                return
            if fault is not None and fault.kind == "garble_after_accept":
                response = SandboxResponse(fault.status, fault.body.encode(), "text/html")
            if self.command == "HEAD":
                response = SandboxResponse(response.status, b"", response.content_type, response.headers)
            self._send(response)

        def _drop(self) -> None:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

        def _send(self, response: SandboxResponse) -> None:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            for key, value in response.headers.items():
                self.send_header(key, value)
            self.end_headers()
            if response.body:
                self.wfile.write(response.body)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

    return Handler
