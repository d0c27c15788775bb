"""One sync client per Airflow connection, shared by every trigger of the process.

A trigger used to build a client of its own: ten thousand deferred waits held
ten thousand ``requests`` sessions, each with its own keep-alive socket to the
vendor. Triggers of one connection now share one client (the same connection
settings give the same client; an edited connection gets a new one), whose
session keeps as many connections as the trigger thread pool has threads; the
client is closed when its last trigger ends. The clients are safe to share
between threads: the campaign sender already sends from several at once.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from typing import Any

from airflow_provider_mensatek.triggers.thread_pool import configured_threads


@dataclass
class _Entry:
    client: Any
    users: int


_entries: dict[tuple[str, str, str], _Entry] = {}
_lock = threading.Lock()


def _hook(vendor: str, conn_id: str) -> Any:
    if vendor == "mensatek":
        from airflow_provider_mensatek.hooks.mensatek import MensatekHook

        return MensatekHook(mensatek_conn_id=conn_id)
    from airflow_provider_mensatek.hooks.legallymail import LegallyMailHook

    return LegallyMailHook(legallymail_conn_id=conn_id)


def _fingerprint(conn: Any) -> str:
    # A digest, so the cache key never holds the credential itself.
    fields = [conn.conn_type, conn.host, conn.login, conn.password, conn.schema, conn.port, conn.extra]
    return hashlib.sha256(json.dumps(fields, default=str).encode()).hexdigest()


def _connections_for_every_thread(client: Any) -> None:
    from airflow_provider_mensatek.clients._http.deadline import DeadlineAdapter

    threads = configured_threads()
    for prefix in ("https://", "http://"):
        client.transport.session.mount(prefix, DeadlineAdapter(pool_connections=threads, pool_maxsize=threads))


def acquire(vendor: str, conn_id: str) -> Any:
    """The shared client of ``conn_id`` (reads the connection; call it from the trigger pool)."""
    hook = _hook(vendor, conn_id)
    conn = hook.get_connection(conn_id)
    key = (vendor, conn_id, _fingerprint(conn))
    with _lock:
        entry = _entries.get(key)
        if entry is not None:
            entry.users += 1
            return entry.client
    client = hook.client_for(conn)
    _connections_for_every_thread(client)
    with _lock:
        entry = _entries.get(key)
        if entry is None:
            _entries[key] = _Entry(client, 1)
            return client
        entry.users += 1
    client.close()  # another trigger built the same one meanwhile
    return entry.client


def release(client: Any) -> None:
    """One trigger is done with ``client``; the last one closes it."""
    with _lock:
        for key, entry in _entries.items():
            if entry.client is client:
                entry.users -= 1
                if entry.users:
                    return
                del _entries[key]
                break
        else:
            return
    client.close()
