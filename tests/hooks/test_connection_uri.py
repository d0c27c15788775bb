"""Connections in URI form keep their port, path and scheme; the plain-http guard parses as urllib3 connects.

The URIs are parsed by Airflow itself (``AIRFLOW_CONN_*`` and ``Connection(uri=...)``);
reaching the sandbox on its port and path proves nothing was lost. Tricky base
URLs are refused before any request: a listener on the port urllib3 would
really have connected to counts the connections it got.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from airflow.sdk import Connection

from airflow_provider_mensatek.clients import MensatekClient
from airflow_provider_mensatek.clients.errors import ValidationError
from airflow_provider_mensatek.hooks.legallymail import LegallyMailHook
from airflow_provider_mensatek.hooks.mensatek import MensatekHook
from airflow_provider_mensatek.sandbox import Sandbox
from tests.conftest import LEGALLYMAIL_TOKEN, MENSATEK_TOKEN, MENSATEK_USER


def mensatek_uris(port: int) -> dict[str, str]:
    auth = f"{MENSATEK_USER}:{MENSATEK_TOKEN}"
    return {
        "scheme as a query extra": f"mensatek://{auth}@127.0.0.1:{port}/mensatek/v7?scheme=http",
        "Airflow's protocol-in-host form": f"mensatek://http://{auth}@127.0.0.1:{port}/mensatek/v7",
        "localhost": f"mensatek://{auth}@localhost:{port}/mensatek/v7?scheme=http",
        "__extra__ json": f"mensatek://{auth}@127.0.0.1:{port}/mensatek%2Fv7?__extra__=%7B%22scheme%22%3A%22http%22%7D",
    }


@pytest.mark.parametrize("form", mensatek_uris(0))
def test_a_mensatek_uri_from_the_environment_reaches_the_sandbox_on_its_port_and_path(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, form: str
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_MENSATEK_URI", mensatek_uris(sandbox.port)[form])
    client = MensatekHook("mensatek_uri").get_conn()
    assert client.get_credits() == 1000.0
    (request,) = sandbox.requests
    assert request.path == "/mensatek/v7/GetCreditos"
    assert request.basic_auth == (MENSATEK_USER, MENSATEK_TOKEN)
    assert client.base_url.endswith(f":{sandbox.port}/mensatek/v7")


def test_a_legallymail_uri_from_the_environment_reaches_the_sandbox(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_LEGALLYMAIL_URI",
                       f"legallymail://:{LEGALLYMAIL_TOKEN}@127.0.0.1:{sandbox.port}/legallymail/api?scheme=http")
    assert LegallyMailHook("legallymail_uri").get_conn().get_info().remaining_emails == 100
    assert [(r.method, r.path) for r in sandbox.requests] == [("GET", "/legallymail/api/info")]


def test_connection_objects_built_from_uris_keep_port_path_and_scheme(sandbox: Sandbox, monkeypatch) -> None:
    # The same parse Airflow applies to a URI stored in a secrets backend or typed into the CLI.
    conn = Connection(conn_id="x", uri=mensatek_uris(sandbox.port)["Airflow's protocol-in-host form"])
    assert (conn.host, conn.port, conn.schema) == ("http://127.0.0.1", sandbox.port, "mensatek/v7")
    monkeypatch.setattr(MensatekHook, "get_connection", classmethod(lambda cls, conn_id: conn))
    assert MensatekHook("x").get_conn().base_url == f"http://127.0.0.1:{sandbox.port}/mensatek/v7"


@pytest.mark.parametrize(("uri", "base_url"), [
    ("mensatek://u:t@api.example.com:8443/v8", "https://api.example.com:8443/v8"),
    ("mensatek://u:t@api.example.com", "https://api.example.com/v7"),  # the vendor's path by default
    ("mensatek://u:t@127.0.0.1:18765/mensatek/v7", "https://127.0.0.1:18765/mensatek/v7"),  # https unless asked
])
def test_uri_forms_default_to_https_and_keep_what_they_say(monkeypatch, uri: str, base_url: str) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_MENSATEK_FORMS", uri)
    assert MensatekHook("mensatek_forms").get_conn().base_url == base_url


@pytest.mark.parametrize(("uri", "error"), [
    ("mensatek://u:t@api.example.com:8443/v8?scheme=http", "clear text"),
    ("mensatek://u:t@api.example.com/v8?scheme=ftp", "scheme"),
    ("mensatek://https://u:t@127.0.0.1:1/v7?scheme=http", "says https"),
])
def test_uri_forms_that_would_weaken_or_contradict_are_refused(monkeypatch, uri: str, error: str) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_MENSATEK_BADFORM", uri)
    with pytest.raises(ValidationError, match=error):
        MensatekHook("mensatek_badform").get_conn()


@pytest.fixture
def other_host() -> Iterator[dict[str, Any]]:
    """A listener standing for the host a mis-parsed URL would really reach; it counts connections."""
    seen = {"connections": 0}
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.1)
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            seen["connections"] += 1
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    seen["port"] = listener.getsockname()[1]
    yield seen
    stop.set()
    thread.join(2)
    listener.close()


TRICKY = [
    # urllib.parse sees 127.0.0.1:9 (loopback: the old guard let http through); urllib3 connects to 127.1:PORT.
    "http://127.1:{port}\\@127.0.0.1:9/mensatek/v7",
    "http://127.1:{port}\\\\@127.0.0.1:9/mensatek/v7",
    "http://127.0.0.1:{port}\\@localhost:9/mensatek/v7",
    # Resolver forms of 127.0.0.1 that are not literal loopback to a reader.
    "http://127.1:{port}/mensatek/v7",
    "http://0x7f.0.0.1:{port}/mensatek/v7",
    "http://2130706433:{port}/mensatek/v7",
    # User info, a fragment, a space, an empty or padded port, dot segments.
    "http://user:pw@127.0.0.1:{port}/mensatek/v7",
    "http://127.0.0.1:{port}#@127.0.0.1:9/mensatek/v7",
    "http://127.0.0.1:{port} @127.0.0.1:9/mensatek/v7",
    "http://127.0.0.1:0{port}/mensatek/v7",
    "http://127.0.0.1:{port}/mensatek/../v7",
    "http://localhost.:{port}/mensatek/v7",
]


@pytest.mark.parametrize("template", TRICKY)
def test_tricky_base_urls_are_refused_before_any_request(other_host: dict[str, Any], template: str) -> None:
    url = template.format(port=other_host["port"])
    with pytest.raises(ValidationError):
        client = MensatekClient(MENSATEK_USER, MENSATEK_TOKEN, base_url=url)
        client.get_credits()
    assert other_host["connections"] == 0


@pytest.mark.parametrize("template", TRICKY[:3])
def test_tricky_hosts_in_a_connection_are_refused_before_any_request(
    other_host: dict[str, Any], monkeypatch: pytest.MonkeyPatch, template: str
) -> None:
    import json

    monkeypatch.setenv("AIRFLOW_CONN_MENSATEK_TRICKY", json.dumps({
        "conn_type": "mensatek", "login": MENSATEK_USER, "password": MENSATEK_TOKEN,
        "host": template.format(port=other_host["port"])}))
    assert MensatekHook("mensatek_tricky").test_connection()[0] is False
    with pytest.raises(ValidationError):
        MensatekHook("mensatek_tricky").get_conn()
    assert other_host["connections"] == 0
