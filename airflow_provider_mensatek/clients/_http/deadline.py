"""An overall deadline per HTTP exchange, so a slow-drip answer ends when the deadline says.

requests' read timeout bounds each ``recv()``: a server that sends a byte a
second never trips a 60 s read timeout, and holds a send (and a worker slot)
for as long as it likes. Here every exchange (connect, request, headers, body)
gets a deadline; one watchdog thread shuts the socket of an exchange whose
deadline passed, which ends the blocked read at once, and the transport
reports the deadline instead of the broken read. The transport gives each
exchange what is left of its call's deadline (see :mod:`.retry`), so the
deadline bounds the whole call, retries included.

The socket is found through urllib3's own connection classes (a subclass
registers itself with the exchange running in its thread when a request
starts on it). A connection handed to another exchange since is left alone.
"""

from __future__ import annotations

import heapq
import itertools
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_LOCK = threading.Lock()  # guards every exchange <-> connection link
_CURRENT = threading.local()


class Exchange:
    """One request/response exchange under a deadline (``expired`` once the watchdog fired)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expires = time.monotonic() + seconds
        self.expired = False
        self._done = False
        self._connection: Any = None

    def attach(self, connection: Any) -> None:
        with _LOCK:
            connection._mensatek_exchange = self
            self._connection = connection
            late = self.expired
        if late:
            _shut(connection)

    def expire(self) -> None:
        with _LOCK:
            if self._done:
                return
            self.expired = True
            connection = self._connection
            if connection is None or getattr(connection, "_mensatek_exchange", None) is not self:
                return
        _shut(connection)

    @property
    def done(self) -> bool:
        return self._done

    def finish(self) -> None:
        with _LOCK:
            self._done = True
            if self._connection is not None and getattr(self._connection, "_mensatek_exchange", None) is self:
                self._connection._mensatek_exchange = None
            self._connection = None


def _shut(connection: Any) -> None:
    # http.client drops ``sock`` once a "Connection: close" answer owns the socket: use the one we kept.
    sock = getattr(connection, "sock", None) or getattr(connection, "_mensatek_sock", None)
    if sock is None:
        return
    try:
        # The plain socket's shutdown: an SSLSocket's own would also drop its TLS state under the reader.
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except (OSError, TypeError):
        pass


class _Watchdog:
    """One daemon thread for every deadline of the process (a heap of expiry times)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Exchange]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None
        self._compact_at = 4096

    def watch(self, exchange: Exchange) -> None:
        with self._cond:
            if len(self._heap) >= self._compact_at:
                # Most exchanges finish long before their deadline: drop them rather than hold them until then.
                self._heap = [entry for entry in self._heap if not entry[2].done]
                heapq.heapify(self._heap)
                self._compact_at = max(4096, 2 * len(self._heap))
            heapq.heappush(self._heap, (exchange.expires, next(self._order), exchange))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="mensatek-deadlines", daemon=True)
                self._thread.start()
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap:
                    self._cond.wait()
                expires, _, exchange = self._heap[0]
                delay = expires - time.monotonic()
                if delay > 0:
                    self._cond.wait(delay)
                    continue
                heapq.heappop(self._heap)
            exchange.expire()


_WATCHDOG = _Watchdog()


def _after_fork() -> None:
    # A forked worker inherits the heap and a lock possibly held by a thread that does not exist there.
    global _WATCHDOG, _LOCK
    _WATCHDOG = _Watchdog()
    _LOCK = threading.Lock()


os.register_at_fork(after_in_child=_after_fork)


@contextmanager
def deadline(seconds: float) -> Iterator[Exchange]:
    """Arm a deadline for the exchanges this thread starts inside the block.

    The caller ends it with :meth:`Exchange.finish` (a streamed body is read
    after the block, so leaving the block does not disarm it).
    """
    exchange = Exchange(seconds)
    _WATCHDOG.watch(exchange)
    previous = getattr(_CURRENT, "exchange", None)
    _CURRENT.exchange = exchange
    try:
        yield exchange
    finally:
        _CURRENT.exchange = previous


def _attach_current(connection: Any) -> None:
    exchange = getattr(_CURRENT, "exchange", None)
    if exchange is not None:
        exchange.attach(connection)


class _DeadlineHTTPConnection(HTTPConnection):
    def connect(self) -> None:
        _attach_current(self)
        super().connect()
        self._mensatek_sock = self.sock
        _attach_current(self)  # shuts the new socket at once when the deadline passed while connecting

    def request(self, *args: Any, **kwargs: Any) -> None:
        _attach_current(self)
        super().request(*args, **kwargs)


class _DeadlineHTTPSConnection(HTTPSConnection):
    def connect(self) -> None:
        _attach_current(self)
        super().connect()
        self._mensatek_sock = self.sock
        _attach_current(self)  # shuts the new socket at once when the deadline passed while connecting

    def request(self, *args: Any, **kwargs: Any) -> None:
        _attach_current(self)
        super().request(*args, **kwargs)


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _DeadlineHTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _DeadlineHTTPSConnection


class DeadlineAdapter(HTTPAdapter):
    """requests' adapter whose connections honour :func:`deadline`."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        # A proxy (connection extra) gets a pool manager of its own: its connections must honour deadlines too.
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}
        return manager
