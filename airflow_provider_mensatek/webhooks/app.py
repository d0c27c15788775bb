"""The receiver's FastAPI app, mounted by the plugin at ``/mensatek`` on Airflow's api-server.

Routes (every one authenticates, ``webhooks/auth.py``):

``POST /mensatek/reports``
    A report from the vendor panel. 401 (``WWW-Authenticate: Basic``, no detail)
    without the connection's credential; 413 for a body over ``max_body_bytes``
    (from ``Content-Length`` before reading, and while reading a body without
    one); otherwise the body is stored durably (``webhooks/store.py``) and only
    then answered 200, also for a duplicate and for a body that does not parse.
    503 with ``Retry-After`` when the database cannot store it (down, locked past
    Airflow's wait, pool exhausted, tables not migrated) or the connection is missing.
``GET`` / ``HEAD /mensatek/reports``
    200 with an empty body: the panel's URL check (anonymous when the
    connection says ``anonymous_url_check``).

No OpenAPI document or docs pages: the app is not part of Airflow's API.
Airflow's error handlers do not apply inside a mounted app, so this one maps its
own, and never echoes a body, a header or a database error to the caller or the log.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timezone

from fastapi import FastAPI, Request, Response
from fastapi.responses import PlainTextResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from airflow_provider_mensatek.hooks.mensatek_reports import ReceiverSettings
from airflow_provider_mensatek.webhooks.auth import NotConfigured, SettingsCache, authorised, first_authorization
from airflow_provider_mensatek.webhooks.intake import read_body
from airflow_provider_mensatek.webhooks.store import receive
from airflow_provider_mensatek.webhooks.tables import report_table

log = logging.getLogger("airflow_provider_mensatek.webhooks")

#: Seconds the vendor is asked to wait before sending again after a 503.
RETRY_AFTER_SECONDS = 30
#: Seconds between two log lines about the same kind of failure (a dead database must not flood the log).
LOG_EVERY = 30.0
_CHALLENGE = 'Basic realm="Mensatek reports", charset="UTF-8"'


class _Throttle:
    """One log line per kind of failure (its words included) every LOG_EVERY seconds, with a count of the rest."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._skipped: dict[str, int] = {}

    def log(self, kind: str, message: str, *args: object) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last.get(kind, float("-inf")) < LOG_EVERY:
                self._skipped[kind] = self._skipped.get(kind, 0) + 1
                return
            if len(self._last) > 100:  # failure texts vary a little (ports, pids): never grow without bound
                self._last.clear()
            self._last[kind] = now
            skipped = self._skipped.pop(kind, 0)
        log.error(message + (f" ({skipped} more since the last message)" if skipped else ""), *args)


def create_app(settings: SettingsCache | None = None) -> FastAPI:
    """The receiver app; ``settings`` reads the ``mensatek_reports_default`` connection unless given."""
    cache = settings or SettingsCache()
    throttle = _Throttle()
    app = FastAPI(title="Mensatek reports receiver", docs_url=None, redoc_url=None, openapi_url=None,
                  lifespan=_lifespan)

    async def current_settings() -> ReceiverSettings | Response:
        try:
            return await run_in_threadpool(cache.get)
        except NotConfigured:
            return _unavailable()
        except SQLAlchemyError as exc:
            reason = _reason(exc)
            throttle.log(f"db {reason}", "Mensatek reports receiver: cannot read its connection from the database "
                         "(%s); answering 503", reason)
            return _unavailable()

    @app.api_route("/reports", methods=["GET", "HEAD"], include_in_schema=False)
    async def url_check(request: Request) -> Response:
        found = await current_settings()
        if isinstance(found, Response):
            return found
        if not found.anonymous_url_check and not authorised(first_authorization(request.scope["headers"]), found):
            return _unauthorised()
        return Response(status_code=200)

    @app.post("/reports", include_in_schema=False)
    async def post_report(request: Request) -> Response:
        found = await current_settings()
        if isinstance(found, Response):
            return found
        if not authorised(first_authorization(request.scope["headers"]), found):
            return _unauthorised()
        body = await _read_capped(request, found.max_body_bytes)
        if body is None:
            log.debug("Mensatek reports: a body over %s bytes refused", found.max_body_bytes)
            return Response(status_code=413, headers={"Connection": "close"})
        try:
            intake = read_body(body, request.headers.get("content-type"), datetime.now(timezone.utc),
                               max_bytes=found.max_body_bytes)
            stored = await run_in_threadpool(receive, intake, found)
        except SQLAlchemyError as exc:
            if _missing_tables(exc):
                throttle.log("tables", "Mensatek reports receiver: its tables do not exist; run `airflow db migrate` "
                             "(answering 503 until then)")
            else:
                reason = _reason(exc)
                throttle.log(f"db {reason}", "Mensatek reports receiver: the database cannot store reports (%s); "
                             "answering 503 with Retry-After: %s", reason, RETRY_AFTER_SECONDS)
            return _unavailable()
        except Exception as exc:  # never a traceback with a value from the body in it
            throttle.log("bug", "Mensatek reports receiver: %s while storing a report, answering 500:\n%s",
                         type(exc).__name__, "".join(traceback.format_tb(exc.__traceback__)))
            return Response(status_code=500)
        log.debug("Mensatek reports: report %s %s (event %s, advanced %s)", stored.report_id,
                  "duplicate" if stored.duplicate else "stored", stored.event_state, stored.advanced)
        return PlainTextResponse("OK")

    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    try:
        exists = await run_in_threadpool(_tables_exist)
    except Exception as exc:
        log.warning("Mensatek reports receiver: cannot check its tables at start (%s)", type(exc).__name__)
    else:
        if not exists:
            log.error("Mensatek reports receiver: table %s does not exist; run `airflow db migrate` "
                      "(reports are answered 503 until then)", report_table.name)
    yield


def _tables_exist() -> bool:
    from airflow import settings
    from sqlalchemy import inspect

    if settings.engine is None:
        raise RuntimeError("no database engine")
    return bool(inspect(settings.engine).has_table(report_table.name))


async def _read_capped(request: Request, limit: int) -> bytes | None:
    """The body, or None as soon as it is known to be over ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                return None
        except ValueError:
            return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _unauthorised() -> Response:
    log.debug("Mensatek reports: a request without the receiver's credential refused")
    return Response(status_code=401, headers={"WWW-Authenticate": _CHALLENGE})


def _unavailable() -> Response:
    return Response(status_code=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def _reason(exc: SQLAlchemyError) -> str:
    """The driver's own words (``database is locked``, ``connection refused``), never the statement or its values."""
    original = getattr(exc, "orig", None)
    text = str(original).splitlines()[0][:200] if original is not None and str(original) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _missing_tables(exc: SQLAlchemyError) -> bool:
    original = getattr(exc, "orig", None)
    return getattr(original, "pgcode", None) == "42P01" or "no such table" in str(original)


__all__ = ["RETRY_AFTER_SECONDS", "create_app"]
