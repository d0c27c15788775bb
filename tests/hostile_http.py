"""A loopback HTTP server that answers the way the sandbox cannot: huge, endless, compressed or slow.

It counts what it managed to write, so a test can tell that the client stopped
reading (a bounded client leaves most of a 300 MB answer unwritten) without
timing anything. One request per connection; every answer is raw bytes on the
socket, so chunked encoding and dripping are exactly what the test asks for.
"""

from __future__ import annotations

import functools
import socket
import socketserver
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

MB = 1024 * 1024
_BLOCK = b"\0" * (64 * 1024)


@functools.cache
def gzip_bomb(decoded_bytes: int, prefix: bytes = b"") -> bytes:
    """A gzip body of ``prefix`` + ``decoded_bytes`` zeros (about a thousandth of that on the wire)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = b"\0" * MB
    parts = [packer.compress(prefix)] + [packer.compress(block) for _ in range(decoded_bytes // MB)]
    return b"".join(parts) + packer.flush()


@dataclass
class Answer:
    """How to answer: a status line + headers, then the body pieces ``body()`` yields, ``pause`` s apart."""

    headers: list[tuple[str, str]]
    body: Callable[[], Iterator[bytes]]
    status: str = "200 OK"
    pause: float = 0.0
    #: Dribble the header block itself, ``pause`` seconds per line, without ever ending it.
    endless_headers: bool = False


@dataclass
class Hostile:
    answer: Answer
    requests: int = 0
    written: int = 0
    finished: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def wrote(self, n: int) -> None:
        with self._lock:
            self.written += n


def _read_request(conn: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(rest) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return
        rest += chunk


def _serve(state: Hostile, conn: socket.socket) -> None:
    answer = state.answer
    try:
        _read_request(conn)
        with state._lock:
            state.requests += 1
        if answer.endless_headers:
            conn.sendall(f"HTTP/1.1 {answer.status}\r\n".encode())
            n = 0
            while True:
                time.sleep(answer.pause)
                line = f"X-Drip-{n}: x\r\n".encode()
                conn.sendall(line)
                state.wrote(len(line))
                n += 1
        head = f"HTTP/1.1 {answer.status}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in answer.headers)
        conn.sendall((head + "Connection: close\r\n\r\n").encode())
        for piece in answer.body():
            if answer.pause:
                time.sleep(answer.pause)
            conn.sendall(piece)
            state.wrote(len(piece))
    except OSError:
        pass  # the client hung up: exactly what a bounded client does
    finally:
        state.finished.set()
        conn.close()


class HostileServer:
    """``with HostileServer(answer) as server:`` then point a client at ``server.url``."""

    def __init__(self, answer: Answer) -> None:
        self.state = Hostile(answer)
        state = self.state

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                # A small send buffer keeps "written" close to what the client actually read.
                self.request.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
                _serve(state, self.request)

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/api"

    def __enter__(self) -> HostileServer:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()


def zeros(total: int | None) -> Callable[[], Iterator[bytes]]:
    """``total`` zero bytes (None: forever) in 64 KB pieces."""

    def body() -> Iterator[bytes]:
        sent = 0
        while total is None or sent < total:
            piece = _BLOCK if total is None else _BLOCK[: min(len(_BLOCK), total - sent)]
            sent += len(piece)
            yield piece

    return body


def endless_chunks() -> Iterator[bytes]:
    while True:
        yield b"%x\r\n" % len(_BLOCK) + _BLOCK + b"\r\n"


def drip(total: int, piece: int) -> Callable[[], Iterator[bytes]]:
    def body() -> Iterator[bytes]:
        for _ in range(total // piece):
            yield b" " * piece

    return body
