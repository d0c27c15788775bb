"""Speaking HTTP to the sandbox over a bare socket: what a broken or hostile client sends."""

from __future__ import annotations

import json
import socket
from typing import Any

from airflow_provider_mensatek.sandbox import Sandbox

#: A safety net, never a measure: a test whose connection the server fails to close
#: fails here instead of hanging the suite.
GIVE_UP_AFTER = 30.0


def connect(sandbox: Sandbox) -> socket.socket:
    return socket.create_connection((sandbox.host, sandbox.port), timeout=GIVE_UP_AFTER)


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except ConnectionResetError:
        pass  # a close with our unread bytes still queued arrives as a reset; what came before counts
    return b"".join(chunks)


def exchange(sandbox: Sandbox, data: bytes, *, end_of_input: bool = False) -> bytes:
    """Send ``data`` on a fresh connection and read until the server closes it."""
    with connect(sandbox) as sock:
        sock.sendall(data)
        if end_of_input:
            sock.shutdown(socket.SHUT_WR)
        return read_until_closed(sock)


def status_of(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1."), answer[:80]
    return int(answer.split(b" ", 2)[1])


def json_of(answer: bytes) -> Any:
    return json.loads(answer.partition(b"\r\n\r\n")[2])


def post_bytes(path: str, body: bytes, *headers: str) -> bytes:
    head = "".join(f"{h}\r\n" for h in headers)
    return f"POST {path} HTTP/1.1\r\nHost: sandbox\r\n{head}\r\n".encode() + body
