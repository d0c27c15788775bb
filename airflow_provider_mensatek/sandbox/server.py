"""The sandbox HTTP server: a real loopback server that hosts both vendor emulators.

Layout of URLs (``{url}`` is ``http://127.0.0.1:{port}``)::

    {url}/mensatek/v7/<Function>      Mensatek API v7 (see sandbox/mensatek.py)
    {url}/legallymail/api/<path>      LegallyMail REST API (see sandbox/legallymail.py)
    {url}/_sandbox/...                control routes for tests and demos (loopback only)

Report pushes (the vendor's real-time reports, POSTed to a URL you configure) are an
add-on: sandbox/reports.py, ``sandbox.configure_reports(...)`` or ``/_sandbox/reports``.

Everything a client sends is recorded (method, path, headers, parsed
parameters) so tests assert on what the vendor *received*; the log keeps the
latest requests only and shows them without credentials (sandbox/request_log.py).
Requests the server cannot trust (bad framing, over ``max_body_bytes``) are
answered 4xx before any emulator sees them (sandbox/request_body.py), and a
connection idle for ``idle_timeout`` seconds is closed. Faults can be
injected per function: drop the connection after accepting, answer a status
(e.g. 503 / 429 with Retry-After), or reply slowly. Time is a :class:`Clock`
that tests move by hand and demos run fast.
"""

from __future__ import annotations

import base64
import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import urlsplit

from airflow_provider_mensatek.sandbox import control_params as check

# Clock and MADRID lived here; the emulators and tests still import them from this module.
from airflow_provider_mensatek.sandbox.clock import MADRID as MADRID
from airflow_provider_mensatek.sandbox.clock import Clock

# The emulators import these three from here, where they used to be defined.
from airflow_provider_mensatek.sandbox.messages import Fault, RecordedRequest, SandboxResponse
from airflow_provider_mensatek.sandbox.request_body import (
    DEFAULT_MAX_BODY_BYTES,
    RequestRefused,
    body_length,
    parse_params,
    parse_query,
    read_body,
)
from airflow_provider_mensatek.sandbox.request_log import (
    DEFAULT_MAX_LOGGED_BYTES,
    DEFAULT_MAX_LOGGED_REQUESTS,
    RequestLog,
    scrub_log_line,
)

log = logging.getLogger("airflow_provider_mensatek.sandbox")

DEFAULT_MENSATEK_USER = "sandbox-user"
DEFAULT_MENSATEK_TOKEN = "sandbox-mensatek-token"
DEFAULT_LEGALLYMAIL_TOKEN = "sandbox-legallymail-token"
#: Seconds a connection may stay silent (before a request, or half-way through one)
#: before the server closes it. Generous for a person typing into nc, short enough that
#: forgotten sockets do not pile up threads.
DEFAULT_IDLE_TIMEOUT = 60.0


class VendorApp(Protocol):
    prefix: str

    def handle(self, request: RecordedRequest) -> SandboxResponse: ...

    def reset(self) -> None: ...


class AddOn(Protocol):
    """A feature beside the emulators, one per sandbox, forgotten by reset() and closed by stop()."""

    def reset(self) -> None: ...

    def close(self) -> None: ...


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
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        max_logged_requests: int = DEFAULT_MAX_LOGGED_REQUESTS,
        max_logged_bytes: int = DEFAULT_MAX_LOGGED_BYTES,
        reports: Mapping[str, Any] | None = None,
    ) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("The sandbox only listens on loopback")
        self.idle_timeout = check.number("idle_timeout", idle_timeout, minimum=0.001, maximum=86_400)
        self.max_body_bytes = check.integer("max_body_bytes", max_body_bytes, minimum=0, maximum=2**62)
        self._log: RequestLog[RecordedRequest] = RequestLog(
            check.integer("max_logged_requests", max_logged_requests, minimum=1, maximum=2**62),
            check.integer("max_logged_bytes", max_logged_bytes, minimum=1, maximum=2**62))
        self.host = host
        self.port = port
        self.clock = clock or Clock()
        self.step_seconds = check.number("step_seconds", step_seconds, minimum=0.001, maximum=check.MAX_CLOCK_STEP)
        self.mensatek_user = mensatek_user
        self.mensatek_token = mensatek_token
        self.legallymail_token = legallymail_token
        self._faults: dict[str, deque[Fault]] = {}
        self._lock = threading.RLock()
        self._idle = threading.Condition()
        self._busy = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.apps: list[VendorApp] = []
        for factory in _APP_FACTORIES:
            self.apps.append(factory(self))
        self.add_ons: dict[str, AddOn] = {name: factory(self) for name, factory in _ADD_ONS.items()}
        if reports is not None:
            # A setting of the server, like the limits above: reset() comes back to it.
            self.reports.set_default(reports)

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
        for add_on in self.add_ons.values():
            add_on.close()
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

    @property
    def reports(self) -> Any:
        """Report pushes like the vendor panel's (sandbox/reports.py)."""
        return self.add_ons["reports"]

    def configure_reports(self, url: str, **options: Any) -> Any:
        """POST a report to ``url`` on every status change; ``options`` as in sandbox/report_config.py."""
        return self.reports.configure(url, **options)

    @property
    def requests(self) -> list[RecordedRequest]:
        """The latest requests received, oldest first (see ``max_logged_requests``)."""
        return self._log.entries

    @property
    def dropped_requests(self) -> int:
        """Requests dropped from the log since the last reset to keep it bounded."""
        return self._log.dropped

    @property
    def secrets(self) -> tuple[str, ...]:
        """The sandbox's own credentials, in every form the log must hide."""
        basic = base64.b64encode(f"{self.mensatek_user}:{self.mensatek_token}".encode()).decode()
        return (self.mensatek_token, self.legallymail_token, basic)

    # -- test helpers --------------------------------------------------------

    def requests_to(self, function: str) -> list[RecordedRequest]:
        """Recorded requests whose path ends with ``function`` (e.g. "EnviarEMAILCERTIFICADO")."""
        with self._lock:
            return [r for r in self.requests if r.path.rstrip("/").endswith(function)]

    def inject(self, function: str, fault: Fault, times: int = 1) -> None:
        """Apply ``fault`` to the next ``times`` requests whose path ends with ``function``."""
        check.text("function", function)
        times = check.integer("times", times, minimum=1, maximum=check.MAX_FAULT_TIMES)
        with self._lock:
            queue = self._faults.setdefault(function, deque())
            queue.extend([fault] * times)

    def clear_requests(self) -> None:
        with self._lock:
            self._log.clear()

    def reset(self, wait: float = 10.0) -> None:
        """Forget everything, after letting requests still being answered finish.

        A slow reply from one test (a ``delay`` fault outliving the client's
        timeout) must not land in the next test's fresh state.
        """
        with self._idle:
            self._idle.wait_for(lambda: self._busy == 0, timeout=wait)
        with self._lock:
            self._log.clear()
            self._faults.clear()
            # Add-ons first: nothing is pushed about the messages the emulators are about to forget.
            for add_on in self.add_ons.values():
                add_on.reset()
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
            self._log.append(request)

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
        if route not in _CONTROL_ROUTES:
            return SandboxResponse.json({"error": "unknown control route"}, status=404)
        methods, names = _CONTROL_ROUTES[route]
        if request.method not in methods:
            return SandboxResponse.json({"error": f"/_sandbox/{route} takes {', '.join(methods)}"}, status=405,
                                        headers={"Allow": ", ".join(methods)})
        try:
            check.check_names(request.params, names, f"/_sandbox/{route}")
            return self._control_route(route, request)
        except check.ControlError as error:
            return SandboxResponse.json({"error": str(error)}, status=400)

    def _control_route(self, route: str, request: RecordedRequest) -> SandboxResponse:
        handler = _CONTROL_HANDLERS.get(route)
        if handler is not None:
            return handler(self, request)
        if route == "requests":
            with self._lock:
                shown = [r.to_dict(self.secrets) for r in self.requests]
                counts = {"X-Sandbox-Requests-Dropped": str(self._log.dropped),
                          "X-Sandbox-Requests-Limit": str(self._log.max_requests)}
            return SandboxResponse.json(shown, headers=counts)
        if route == "faults":
            fault = Fault(kind=request.param("kind"), status=request.param("status", 503),
                          retry_after=request.param("retry_after"), delay=request.param("delay", 0),
                          body=request.param("body", ""))
            self.inject(request.param("function"), fault, request.param("times", 1))
            return SandboxResponse.json({"ok": True})
        if route == "reset":
            self.reset()
            return SandboxResponse.json({"ok": True})
        if request.method == "POST":
            self._move_clock(request.param("advance"), request.param("speed"))
        return SandboxResponse.json({"now": self.clock.now().isoformat()})

    def _move_clock(self, advance: Any, speed: Any) -> None:
        # Both are checked before either applies: a refused request leaves the clock alone.
        step = None if advance is None else check.number(
            "advance", advance, minimum=-check.MAX_CLOCK_STEP, maximum=check.MAX_CLOCK_STEP)
        rate = None if speed is None else check.number("speed", speed, minimum=0, maximum=check.MAX_CLOCK_SPEED)
        if step is not None:
            try:
                self.clock.advance(step)
            except OverflowError:
                raise check.ControlError(f"advance={step:g} moves the clock past the calendar") from None
        if rate is not None:
            self.clock.set_speed(rate)


#: Control route -> (methods, parameters it takes).
_CONTROL_ROUTES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "requests": (("GET", "HEAD"), ()),
    "clock": (("GET", "HEAD", "POST"), ("advance", "speed")),
    "faults": (("POST",), ("function", "kind", "status", "retry_after", "delay", "times", "body")),
    "reset": (("POST",), ()),
}


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out or that a fault disconnects are part of the tests, not server errors.
        log.debug("sandbox: connection from %s ended abruptly", client_address, exc_info=True)


_APP_FACTORIES: list[Callable[[Sandbox], VendorApp]] = []
_ADD_ONS: dict[str, Callable[[Sandbox], AddOn]] = {}
_CONTROL_HANDLERS: dict[str, Callable[[Sandbox, RecordedRequest], SandboxResponse]] = {}


def register_app(factory: Callable[[Sandbox], VendorApp]) -> Callable[[Sandbox], VendorApp]:
    """Vendor modules register their emulator here (imported by sandbox/__init__)."""
    _APP_FACTORIES.append(factory)
    return factory


def register_add_on(name: str, factory: Callable[[Sandbox], AddOn]) -> None:
    """Add-on modules register here (imported by sandbox/__init__); ``sandbox.add_ons[name]`` is the instance."""
    _ADD_ONS[name] = factory


def register_control_route(route: str, methods: tuple[str, ...], names: tuple[str, ...],
                           handler: Callable[[Sandbox, RecordedRequest], SandboxResponse]) -> None:
    """A ``/_sandbox/<route>`` of an add-on: methods and parameter names are checked as for the others."""
    _CONTROL_ROUTES[route] = (methods, names)
    _CONTROL_HANDLERS[route] = handler


def _make_handler(sandbox: Sandbox) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in separate writes; with Nagle on, a kept-alive
        # connection waits for the client's delayed ACK (~40 ms) on every answer.
        disable_nagle_algorithm = True
        server_version = "MensatekSandbox/1"
        # The socket timeout of every read and write: a client that connects and goes
        # quiet, before or half-way through a request, frees its thread after this long.
        timeout = sandbox.idle_timeout

        def log_message(self, format: str, *args: Any) -> None:
            if log.isEnabledFor(logging.DEBUG):
                log.debug("sandbox: %s", scrub_log_line(format % args, sandbox.secrets))

        def handle_expect_100(self) -> bool:
            # A client that waits for "100 Continue" learns of a refused body before sending it.
            try:
                body_length(self.headers, sandbox.max_body_bytes)
            except RequestRefused as refused:
                self._refuse(refused)
                return False
            return super().handle_expect_100()

        def _handle(self) -> None:
            try:
                request = self._read()
            except RequestRefused as refused:
                self._refuse(refused)
                return
            except TimeoutError:
                self._refuse(RequestRefused(408, f"the request stalled for {sandbox.idle_timeout:g} s, the "
                                                 "sandbox's idle timeout"))
                return
            # Control routes are not waited for by reset(), which is one of them.
            if request.path.startswith("/_sandbox/"):
                self._answer(request)
                return
            with sandbox._serving():
                self._answer(request)

        def _read(self) -> RecordedRequest:
            body = read_body(self.rfile, body_length(self.headers, sandbox.max_body_bytes))
            split = urlsplit(self.path)
            query = parse_query(split.query)
            content_type = self.headers.get("Content-Type", "")
            return RecordedRequest(
                method=self.command,
                path=split.path,
                query=query,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
                params=parse_params(content_type, body, query),
                at=sandbox.clock.now(),
                content_type=content_type,
            )

        def _answer(self, request: RecordedRequest) -> None:
            is_control = request.path.startswith("/_sandbox/")
            if not is_control:
                sandbox._record(request)
            fault = None if is_control else sandbox._take_fault(request.path)
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

        def _refuse(self, refused: RequestRefused) -> None:
            """Answer a request the server cannot trust, then close: where its body ends is unknown."""
            self._send(SandboxResponse.json({"error": refused.message}, status=refused.status,
                                            headers={"Connection": "close"}))

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
