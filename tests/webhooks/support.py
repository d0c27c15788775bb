"""Helpers for the receiver's tests: its credential, raw POSTs, and a reader of what the deployment stored."""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from airflow_provider_mensatek.clients.mensatek.reports import parse_report

#: The receiver's Basic credential in these tests: random per session, with a non-ASCII character (UTF-8 on the wire).
USER = "mensatek-panel"
PASSWORD = "pässwörd-" + secrets.token_urlsafe(24)
PREVIOUS_PASSWORD = "previous-" + secrets.token_urlsafe(24)
CONN_ID = "mensatek_reports_default"
#: pysqlite's wait for a lock in the failure tests' api-server (``[database] sql_alchemy_connect_args`` by path,
#: with the repository on ``PYTHONPATH``): a locked database is answered 503 after this, not after 60 s.
SQLITE_SHORT_WAIT: dict[str, Any] = {"timeout": 3}

T = TypeVar("T")


def connection_json(password: str = PASSWORD, previous: str = PREVIOUS_PASSWORD, **extra: Any) -> str:
    return json.dumps({"conn_type": "mensatek_reports", "login": USER, "password": password,
                       "extra": {"previous_password": previous, **extra}})


def receiver_connection(**extra: Any) -> dict[str, str]:
    """``AIRFLOW_CONN_MENSATEK_REPORTS_DEFAULT`` for a deployment's processes."""
    return {f"AIRFLOW_CONN_{CONN_ID.upper()}": connection_json(**extra)}


def basic(user: str = USER, password: str = PASSWORD) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def post(url: str, body: bytes | str | Mapping[str, Any], *, content_type: str = "application/json",
         authorization: str | None = None, timeout: float = 60.0, **kwargs: Any) -> requests.Response:
    """A report POST as the panel sends it (a mapping is sent as JSON), with the test credential by default."""
    if isinstance(body, Mapping):
        body = json.dumps(dict(body), ensure_ascii=False)
    data = body.encode("utf-8") if isinstance(body, str) else body
    headers = {"Content-Type": content_type, "Authorization": authorization or basic(), **kwargs.pop("headers", {})}
    return requests.post(url, data=data, headers=headers, timeout=timeout, **kwargs)


def dedupe_key_of(payload: Mapping[str, Any]) -> str:
    return parse_report("application/json", json.dumps(dict(payload)).encode()).dedupe_key


def wait_until(check: Callable[[], T | None], timeout: float = 120.0, interval: float = 0.5,
               what: str = "a condition") -> T:
    """Poll ``check`` until it returns something truthy (not a timing assert: a bound on a wait)."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:.0f} s for {what}")
        time.sleep(interval)


@dataclass
class Inbox:
    """Reads the deployment's metadata database directly, as an operator with DB access would."""

    url: str

    def __post_init__(self) -> None:
        self.engine: Engine = create_engine(self.url, pool_pre_ping=True)  # a test may restart the server

    def query(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(text(sql), params)]

    def reports(self, where: str = "1=1", **params: Any) -> list[dict[str, Any]]:
        rows = self.query(f"SELECT * FROM mensatek_report WHERE {where} ORDER BY id", **params)
        for row in rows:  # JSON is text on SQLite
            if isinstance(row["normalised"], str):
                row["normalised"] = json.loads(row["normalised"])
        return rows

    def dedupe_keys(self) -> set[str]:
        return {row["dedupe_key"] for row in self.query("SELECT dedupe_key FROM mensatek_report")}

    def states(self, channel: str, message_id: str) -> list[dict[str, Any]]:
        return self.query("SELECT s.part, s.seq, s.report_id, r.code FROM mensatek_message_state s "
                          "JOIN mensatek_report r ON r.id = s.report_id "
                          "WHERE s.channel = :c AND s.message_id = :m ORDER BY s.part", c=channel, m=message_id)

    def state_store(self, asset_name: str) -> dict[str, Any]:
        """Key -> decoded value of the Asset's state store (what readers get through the Execution API)."""
        rows = self.query("SELECT s.key, s.value, s.last_updated_by_kind FROM asset_state_store s "
                          "JOIN asset a ON a.id = s.asset_id WHERE a.name = :n", n=asset_name)
        return {row["key"]: json.loads(row["value"]) for row in rows}

    def close(self) -> None:
        self.engine.dispose()
