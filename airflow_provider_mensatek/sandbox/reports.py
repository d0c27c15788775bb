"""Report pushes: the sandbox POSTs Mensatek's real-time reports to a URL, as the vendor panel does.

"By enabling the option to receive reports in real time in a script on your server
from your user panel, you will receive a POST request with the indicated format each
time each sent message changes status" (every Mensatek document). Configure it with
``sandbox.configure_reports(url, format="json", user=..., password=..., ...)`` or
``POST /_sandbox/reports`` (options in ``sandbox/report_config.py``); from then on
every status change of every message the sandbox holds (certified email, email, SMS,
RCS) is one POST, in the documents' shape (``sandbox/report_sources.py``). Messages
sent before the configuration are reported from their next change on, as the panel
would. ``inject_inbound_sms`` (``POST /_sandbox/sms_inbound``) pushes an
``SMSRECIBIDO``: a reply to a sent SMS, or a message nobody replied to.

Two background threads do the work, so a slow or dead receiver never slows the
vendor API emulation: a scanner notices changes (every ``SCAN_INTERVAL`` real
seconds, whatever moved the clock: ``advance``, a running clock, a cancel), and a
sender POSTs reports one at a time, in order unless a fault says otherwise. Every
attempt and its outcome is in a bounded log (``GET /_sandbox/reports``), without the
password. :meth:`ReportPusher.flush` (``POST /_sandbox/reports/flush``) scans at once
and waits until every report that is due has been sent, for tests and demos.
"""

from __future__ import annotations

import base64
import json
import logging
import random
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import requests

from airflow_provider_mensatek.clients.mensatek.reports import SMS_INBOUND
from airflow_provider_mensatek.sandbox import control_params as check
from airflow_provider_mensatek.sandbox.messages import RecordedRequest, SandboxResponse
from airflow_provider_mensatek.sandbox.report_config import MAX_REAL_WAIT, ROUTE_PARAMETERS, ReportConfig
from airflow_provider_mensatek.sandbox.report_sources import Tracked, candidates, inbound_sms_payload
from airflow_provider_mensatek.sandbox.request_log import scrub_log_line
from airflow_provider_mensatek.sandbox.server import register_add_on, register_control_route

if TYPE_CHECKING:
    from airflow_provider_mensatek.sandbox.server import Sandbox

log = logging.getLogger("airflow_provider_mensatek.sandbox.reports")

#: Real seconds between two looks for status changes.
SCAN_INTERVAL = 0.05
#: Reports waiting to be sent; past this the newest are lost (and counted), not the process's memory.
MAX_PENDING = 1_000_000
#: How long stopping waits for a POST in progress before leaving it to finish on its own.
STOP_WAIT = 0.5
_POLL = 0.02


@dataclass(frozen=True)
class _Push:
    number: int
    service: str
    payload: dict[str, str]
    #: The status change's time on the sandbox clock, and when it was queued in real time.
    when: datetime
    queued: float
    dropped: bool


@dataclass
class _Seen:
    item: Tracked
    #: What could change the message's timeline when it was last looked at.
    timeline: Hashable
    state: Hashable | None
    at: datetime
    #: The first time after ``at`` where the status may change.
    next_change: datetime | None
    settled: bool


class ReportPusher:
    """One per sandbox (``sandbox.reports``)."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self._cond = threading.Condition(threading.RLock())
        self._scan_lock = threading.Lock()
        self._default: ReportConfig | None = None
        self._config: ReportConfig | None = None
        self._memory: dict[Hashable, _Seen] = {}
        self._queue: deque[_Push] = deque()
        self._log: deque[dict[str, Any]] = deque()
        self._log_dropped = 0
        self._counts: Counter[str] = Counter()
        self._number = 0
        self._in_flight = 0
        self._hold_since: float | None = None
        self._generation = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._drop_rng = random.Random()
        self._order_rng = random.Random()

    # -- configuration -------------------------------------------------------------

    @property
    def config(self) -> ReportConfig | None:
        return self._config

    def configure(self, url: str, **options: Any) -> ReportConfig:
        """Push reports to ``url`` from now on (options: :class:`ReportConfig`); replaces any earlier setting.

        Numbering for ``drop`` and the random choices restart; reports already
        waiting are sent under the new setting.
        """
        return self.apply(ReportConfig(url, **options))

    def set_default(self, options: Mapping[str, Any]) -> None:
        """The setting a reset comes back to (``Sandbox(reports={...})``), applied now."""
        self._default = ReportConfig(**options)
        self.apply(self._default)

    def disable(self) -> None:
        """No more pushes; reports still waiting are discarded. The log stays."""
        self._halt()
        with self._cond:
            self._counts["discarded"] += len(self._queue)
            self._queue.clear()
            self._config = None
        with self._scan_lock:
            self._memory.clear()

    def reset(self) -> None:
        self.disable()
        with self._cond:
            self._log.clear()
            self._log_dropped = 0
            self._counts.clear()
        if self._default is not None:
            self.apply(self._default)

    def close(self) -> None:
        self.disable()

    def apply(self, config: ReportConfig) -> ReportConfig:
        """:meth:`configure` with a checked :class:`ReportConfig`."""
        with self._cond:
            first = self._config is None
            self._config = config
            self._number = 0
            self._drop_rng = random.Random(f"drop-{config.seed}")
            self._order_rng = random.Random(f"order-{config.seed}")
            while len(self._log) > config.log_entries:
                self._log.popleft()
                self._log_dropped += 1
            self._cond.notify_all()
        if first:
            self._baseline()
            self._start()
        return config

    # -- what happened ---------------------------------------------------------------

    @property
    def attempts(self) -> list[dict[str, Any]]:
        """Every push attempt kept, oldest first: report number, copy, attempt, outcome, HTTP status, payload."""
        with self._cond:
            return [dict(entry) for entry in self._log]

    def state(self) -> dict[str, Any]:
        """What ``GET /_sandbox/reports`` shows (never the password)."""
        with self._cond:
            return {"configured": self._config is not None,
                    "config": self._config.shown() if self._config is not None else None,
                    "counts": dict(self._counts), "pending": len(self._queue) + self._in_flight,
                    "log_dropped": self._log_dropped, "attempts": [dict(e) for e in self._log]}

    # -- finding status changes -----------------------------------------------------------

    def scan(self) -> int:
        """Queue one report per status change since the last look; the number queued."""
        with self._scan_lock:
            config = self._config
            if config is None:
                return 0
            app, step, now = self.sandbox.mensatek, self.sandbox.step_seconds, self.sandbox.clock.now()
            found: list[tuple[datetime, str, dict[str, str]]] = []
            with app.lock:
                for key, owner, timeline, make in candidates(app, step):
                    seen = self._memory.get(key)
                    if seen is not None and seen.item.owner is owner:
                        quiet = seen.settled or (seen.at <= now and (seen.next_change is None
                                                                     or now < seen.next_change))
                        if seen.timeline == timeline and quiet:
                            continue  # nothing can have changed since the last look
                        item = seen.item if seen.timeline == timeline else make()
                        state, since = seen.state, seen.at
                    else:
                        item, state, since = make(), None, None
                    lower = item.created if since is None else since
                    samples = [t for t in item.changes(step) if lower < t < now]
                    if since is None and item.created < now:
                        samples.insert(0, item.created)
                    for at in [*samples, now]:
                        current = item.state_at(at)
                        if current is not None and current != state:
                            found.append((at, item.service, item.payload(current, at)))
                            state = current
                    self._memory[key] = self._seen(item, timeline, state, now, step)
            found.sort(key=lambda change: change[0])  # stable: one message's changes keep their order
            # Queued before the lock is let go: a flush() that scans next finds them waiting, not gone.
            return self._enqueue([(service, payload, at) for at, service, payload in found])

    def _baseline(self) -> None:
        """What every message shows now: reported from its next change on."""
        with self._scan_lock:
            app, step, now = self.sandbox.mensatek, self.sandbox.step_seconds, self.sandbox.clock.now()
            with app.lock:
                for key, _owner, timeline, make in candidates(app, step):
                    item = make()
                    self._memory[key] = self._seen(item, timeline, item.state_at(now), now, step)

    @staticmethod
    def _seen(item: Tracked, timeline: Hashable, state: Hashable | None, now: datetime, step: float) -> _Seen:
        upcoming = [t for t in item.changes(step) if t > now]
        return _Seen(item, timeline, state, now, min(upcoming, default=None), item.settled(now, step))

    def inject_inbound_sms(self, text: str, *, sender: str | None = None, reply_to: Any = None,
                           number: str | None = None) -> dict[str, str]:
        """Push an ``SMSRECIBIDO``: ``text`` from ``sender`` in reply to the SMS ``reply_to`` (an
        ``idMensaje``; ``sender`` defaults to its first phone), or, without ``reply_to``, a message the
        customer originated. ``number`` is your number that received it. Returns the payload."""
        config = self._config
        if config is None or SMS_INBOUND not in config.services:
            raise check.ControlError("report pushes of SMSRECIBIDO are not configured (POST /_sandbox/reports)")
        app = self.sandbox.mensatek
        now = self.sandbox.clock.now()
        with app.lock:
            payload = inbound_sms_payload(app, now, text=text, sender=sender, reply_to=reply_to, number=number)
        self._enqueue([(SMS_INBOUND, payload, now)])
        return payload

    def _enqueue(self, reports: list[tuple[str, dict[str, str], datetime]]) -> int:
        queued = 0
        with self._cond:
            config = self._config
            if config is None:
                return 0
            for service, payload, when in reports:
                if service not in config.services:
                    continue
                self._number += 1
                # One draw per report whatever the other settings, so a seed picks the same reports.
                roll = self._drop_rng.random()
                dropped = self._number in config.drop or roll < config.drop_fraction
                if len(self._queue) >= MAX_PENDING:
                    self._counts["lost"] += 1
                    continue
                self._queue.append(_Push(self._number, service, payload, when, time.monotonic(), dropped))
                self._counts["reports"] += 1
                queued += 1
            self._cond.notify_all()
        return queued

    # -- threads -----------------------------------------------------------------------

    def _start(self) -> None:
        with self._cond:
            self._generation += 1
            self._stop = stop = threading.Event()
            generation = self._generation
        self._threads = [
            threading.Thread(target=self._scan_loop, args=(stop,), name="sandbox-report-scan", daemon=True),
            threading.Thread(target=self._send_loop, args=(stop, generation), name="sandbox-report-push",
                             daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _halt(self) -> None:
        with self._cond:
            self._stop.set()
            self._generation += 1  # a POST still under way records nothing when it ends
            self._in_flight = 0
            self._cond.notify_all()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(STOP_WAIT)
        self._threads = []

    def _scan_loop(self, stop: threading.Event) -> None:
        while not stop.wait(SCAN_INTERVAL):
            try:
                self.scan()
            except Exception:  # a scan racing a reset must not end the thread
                log.exception("sandbox: looking for status changes failed")

    def flush(self, timeout: float = 30.0) -> None:
        """Scan now, then wait until every report that is due has been sent or given up (not timed:
        ``timeout`` is a safety net and raises TimeoutError). Reports a ``delay`` holds on the sandbox
        clock stay queued until the clock gets there; a real-time delay is waited for."""
        timeout = check.number("timeout", timeout, minimum=0.001, maximum=MAX_REAL_WAIT)
        deadline = time.monotonic() + timeout
        self.scan()
        with self._cond:
            while self._config is not None and (self._in_flight or self._due(self._config) or (
                    self._queue and self._config.delay_clock == "real")):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"report pushes still under way after {timeout:g} s")
                self._cond.wait(min(remaining, _POLL))

    def _due(self, config: ReportConfig, limit: int = 1) -> int:
        """How many reports at the head of the queue may be sent now (at most ``limit``)."""
        if config.delay == 0:
            return min(limit, len(self._queue))
        now_sim, now_real, count = self.sandbox.clock.now(), time.monotonic(), 0
        for push in self._queue:
            if count >= limit:
                break
            if config.delay_clock == "real":
                due = now_real >= push.queued + config.delay
            else:
                due = now_sim >= push.when + timedelta(seconds=config.delay)
            if not due:
                break
            count += 1
        return count

    def _take(self, stop: threading.Event) -> tuple[list[_Push], ReportConfig] | None:
        with self._cond:
            while not stop.is_set():
                config = self._config
                if config is None:
                    return None
                due = self._due(config, config.reorder_window)
                if due == 0:
                    self._cond.wait(_POLL if self._queue else None)
                    continue
                if due < config.reorder_window:
                    self._hold_since = self._hold_since or time.monotonic()
                    waited = time.monotonic() - self._hold_since
                    if waited < config.reorder_hold:
                        self._cond.wait(min(_POLL, config.reorder_hold - waited))
                        continue
                self._hold_since = None
                batch = [self._queue.popleft() for _ in range(due)]
                self._in_flight += len(batch)
                if len(batch) > 1:
                    self._order_rng.shuffle(batch)
                return batch, config
            return None

    def _send_loop(self, stop: threading.Event, generation: int) -> None:
        with requests.Session() as session:
            # No proxy and no .netrc from the environment: the pushes go where they are configured, as they are.
            session.trust_env = False
            while (taken := self._take(stop)) is not None:
                batch, config = taken
                for push in batch:
                    if not stop.is_set():
                        self._deliver(session, push, config, stop, generation)
                with self._cond:
                    if generation == self._generation:
                        self._in_flight -= len(batch)
                    self._cond.notify_all()

    # -- sending -------------------------------------------------------------------------

    def _deliver(self, session: requests.Session, push: _Push, config: ReportConfig, stop: threading.Event,
                 generation: int) -> None:
        if push.dropped:
            self._record(generation, push, 1, 1, "dropped", None, None)
            return
        for copy in range(1, config.copies + 1):
            for attempt in range(1, config.retries + 2):
                status, error = _post(session, config, push.payload)
                ok = status is not None and 200 <= status < 300
                retryable = status is None or status >= 500 or status == 429
                final = ok or not retryable or attempt > config.retries
                outcome = "delivered" if ok else "lost" if final else "retrying"
                self._record(generation, push, copy, attempt, outcome, status, error)
                if final or stop.wait(config.retry_delay):
                    break

    def _record(self, generation: int, push: _Push, copy: int, attempt: int, outcome: str, status: int | None,
                error: str | None) -> None:
        payload = push.payload
        entry = {"report": push.number, "copy": copy, "attempt": attempt, "service": push.service,
                 "message_id": payload.get("idMensaje") or payload.get("idM"),
                 "code": payload.get("Resultado") or payload.get("Estado"), "outcome": outcome,
                 "http_status": status, "error": error, "at": self.sandbox.clock.now().isoformat(),
                 "payload": dict(payload)}
        with self._cond:
            if generation != self._generation or self._config is None:
                return
            self._counts[outcome] += 1
            self._log.append(entry)
            while len(self._log) > self._config.log_entries:
                self._log.popleft()
                self._log_dropped += 1


def _post(session: requests.Session, config: ReportConfig, payload: dict[str, str]) -> tuple[int | None, str | None]:
    body, content_type = encode(config.format, payload)
    headers = {"Content-Type": content_type, "User-Agent": "MensatekSandbox/1 (real-time reports)"}
    if config.user is not None:
        credentials = f"{config.user}:{config.password or ''}".encode()  # RFC 7617 with charset=UTF-8
        headers["Authorization"] = "Basic " + base64.b64encode(credentials).decode("ascii")
    try:
        with session.post(config.url, data=body, headers=headers, timeout=config.timeout, allow_redirects=False,
                          stream=True) as response:
            # Read (a bounded part of) the answer so the connection can carry the next report.
            response.raw.read(64 * 1024)
            return response.status_code, None
    except requests.RequestException as error:
        # requests quotes the URL (its query may carry a token): the log shows neither it nor the password.
        text = scrub_log_line(f"{type(error).__name__}: {error}", (config.password or "",))
        return None, text[:300]


def encode(fmt: str, payload: Mapping[str, str]) -> tuple[bytes, str]:
    """A report body as the panel sends it: JSON, a form, or multipart form data (all UTF-8)."""
    if fmt == "json":
        return json.dumps(payload, ensure_ascii=False).encode("utf-8"), "application/json"
    if fmt == "form":
        return urlencode(payload).encode("ascii"), "application/x-www-form-urlencoded"
    boundary = f"sandbox-{uuid.uuid4().hex}"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
             for name, value in payload.items()]
    return ("".join(parts) + f"--{boundary}--\r\n").encode("utf-8"), f"multipart/form-data; boundary={boundary}"


# -- control routes --------------------------------------------------------------------------


def _reports_route(sandbox: Sandbox, request: RecordedRequest) -> SandboxResponse:
    pusher: ReportPusher = sandbox.reports
    if request.method == "POST":
        config = pusher.apply(ReportConfig.from_params(request.params))
        return SandboxResponse.json({"ok": True, "config": config.shown()})
    if request.method == "DELETE":
        pusher.disable()
        return SandboxResponse.json({"ok": True})
    return SandboxResponse.json(pusher.state())


def _flush_route(sandbox: Sandbox, request: RecordedRequest) -> SandboxResponse:
    try:
        sandbox.reports.flush(request.param("timeout", 30.0))
    except TimeoutError as error:
        return SandboxResponse.json({"error": str(error)}, status=504)
    state = sandbox.reports.state()
    return SandboxResponse.json({"counts": state["counts"], "pending": state["pending"]})


def _inbound_route(sandbox: Sandbox, request: RecordedRequest) -> SandboxResponse:
    payload = sandbox.reports.inject_inbound_sms(request.param("text"), sender=request.param("sender"),
                                                 reply_to=request.param("reply_to"), number=request.param("number"))
    return SandboxResponse.json({"ok": True, "payload": payload})


register_add_on("reports", ReportPusher)
register_control_route("reports", ("GET", "HEAD", "POST", "DELETE"), ROUTE_PARAMETERS, _reports_route)
register_control_route("reports/flush", ("POST",), ("timeout",), _flush_route)
register_control_route("sms_inbound", ("POST",), ("text", "sender", "reply_to", "number"), _inbound_route)
