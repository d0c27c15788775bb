"""An egress proxy and a CA bundle, named by the connection; the environment's proxies stay ignored.

The path is real: the client speaks https to a TLS front of the sandbox
(``tests/tls_proxy.py``: a certificate signed by a CA of the test's own), through
a loopback CONNECT proxy that records what it carried.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_mensatek.clients import LegallyMailClient, MensatekClient, RetrySettings, Timeouts
from airflow_provider_mensatek.clients.errors import MensatekError, TransientError, ValidationError
from airflow_provider_mensatek.hooks.legallymail import LegallyMailHook
from airflow_provider_mensatek.hooks.mensatek import MensatekHook
from airflow_provider_mensatek.sandbox import Sandbox
from tests.conftest import LEGALLYMAIL_TOKEN, MENSATEK_TOKEN, MENSATEK_USER
from tests.hostile_http import Answer, HostileServer, drip
from tests.tls_proxy import ConnectProxy, TlsFront, make_ca_and_server_cert

ONE_TRY = RetrySettings(max_attempts=1)


@pytest.fixture
def pki(tmp_path: Path) -> tuple[Path, Path, Path]:
    return make_ca_and_server_cert(tmp_path)


@pytest.fixture
def front(sandbox: Sandbox, pki: tuple[Path, Path, Path]) -> Iterator[TlsFront]:
    with TlsFront(sandbox.port, pki[1], pki[2]) as tls:
        yield tls


@pytest.fixture
def proxy() -> Iterator[ConnectProxy]:
    with ConnectProxy() as forward:
        yield forward


def https(front: TlsFront, path: str = "/mensatek/v7") -> str:
    return f"https://127.0.0.1:{front.port}{path}"


def test_requests_go_through_the_proxy_which_sees_only_the_tunnel(
    sandbox: Sandbox, front: TlsFront, proxy: ConnectProxy, pki: tuple[Path, Path, Path]
) -> None:
    mensatek = MensatekClient(MENSATEK_USER, MENSATEK_TOKEN, base_url=https(front), retry=ONE_TRY,
                              proxy=proxy.url, ca_bundle=str(pki[0]))
    legallymail = LegallyMailClient(LEGALLYMAIL_TOKEN, base_url=https(front, "/legallymail/api"), retry=ONE_TRY,
                                    proxy=proxy.url, ca_bundle=pki[0])

    assert mensatek.get_credits() == 1000.0
    assert legallymail.get_info().email

    assert {line.rsplit(" ", 1)[0] for line in proxy.request_lines} == {f"CONNECT 127.0.0.1:{front.port}"}
    assert [r.path for r in sandbox.requests] == ["/mensatek/v7/GetCreditos", "/legallymail/api/info"]
    assert sandbox.requests[0].basic_auth == (MENSATEK_USER, MENSATEK_TOKEN)
    assert sandbox.requests[1].bearer_token == LEGALLYMAIL_TOKEN
    basic = base64.b64encode(f"{MENSATEK_USER}:{MENSATEK_TOKEN}".encode())
    for secret in (b"uthorization", MENSATEK_TOKEN.encode(), LEGALLYMAIL_TOKEN.encode(), basic, b"GetCreditos"):
        assert secret not in proxy.seen  # the proxy carried TLS only


def test_a_connection_names_its_proxy_and_ca_bundle_in_its_extras(
    sandbox: Sandbox, front: TlsFront, proxy: ConnectProxy, pki: tuple[Path, Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    extra = {"proxy": proxy.url, "ca_bundle": str(pki[0]), "max_retries": 1}
    monkeypatch.setenv("AIRFLOW_CONN_MENSATEK_DEFAULT", json.dumps({
        "conn_type": "mensatek", "login": MENSATEK_USER, "password": MENSATEK_TOKEN, "host": https(front),
        "extra": extra}))
    monkeypatch.setenv("AIRFLOW_CONN_LEGALLYMAIL_DEFAULT", json.dumps({
        "conn_type": "legallymail", "password": LEGALLYMAIL_TOKEN, "host": https(front, "/legallymail/api"),
        "extra": extra}))

    assert MensatekHook().test_connection()[0] and LegallyMailHook().test_connection()[0]

    assert len(proxy.request_lines) == 2 and len(sandbox.requests) == 2


def test_the_environment_proxy_is_ignored(sandbox: Sandbox, front: TlsFront, proxy: ConnectProxy,
                                          pki: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, proxy.url)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki[0]))  # ignored too: without the extra, TLS fails
    client = MensatekClient(MENSATEK_USER, MENSATEK_TOKEN, base_url=https(front), retry=ONE_TRY)
    with pytest.raises(MensatekError, match="CERTIFICATE_VERIFY_FAILED"):
        client.get_credits()
    trusting = MensatekClient(MENSATEK_USER, MENSATEK_TOKEN, base_url=https(front), retry=ONE_TRY,
                              ca_bundle=pki[0])
    assert trusting.get_credits() == 1000.0
    assert proxy.request_lines == [] and len(sandbox.requests) == 1


def test_without_the_ca_bundle_the_gateway_certificate_is_refused(sandbox: Sandbox, front: TlsFront,
                                                                  proxy: ConnectProxy) -> None:
    client = MensatekClient(MENSATEK_USER, MENSATEK_TOKEN, base_url=https(front), retry=ONE_TRY, proxy=proxy.url)
    with pytest.raises(TransientError, match="CERTIFICATE_VERIFY_FAILED"):
        client.get_credits()
    assert len(proxy.request_lines) == 1 and front.handshakes == 0 and sandbox.requests == []


def test_the_deadline_still_cuts_an_answer_that_drips_through_the_proxy(
    proxy: ConnectProxy, pki: tuple[Path, Path, Path]
) -> None:
    """The proxy's connections get a pool of their own: it must honour deadlines as the direct one does."""
    total = 3 * 1024 * 1024
    slow = Answer([("Content-Type", "application/json"), ("Content-Length", str(total))],
                  drip(total, 1024), pause=0.01)  # about 30 s in all
    with HostileServer(slow) as server, TlsFront(server.port, pki[1], pki[2]) as tls:
        client = MensatekClient(MENSATEK_USER, MENSATEK_TOKEN, base_url=https(tls), retry=ONE_TRY,
                                timeouts=Timeouts(connect=2, read=5, deadline=0.5), proxy=proxy.url,
                                ca_bundle=pki[0])
        with pytest.raises(TransientError) as info:
            client.get_credits()
        assert server.state.finished.wait(30)
    assert server.state.written < total  # cut at the deadline, not read to the end
    assert info.value.code == "deadline" and len(proxy.request_lines) == 1


@pytest.mark.parametrize(("proxy_url", "why"), [
    ("http://ana:pr0xy-s3cret@127.0.0.1:3128", "must not hold credentials"),
    ("socks5://127.0.0.1:1080", "http:// or https:// URL"),
    ("http://127.0.0.1:3128/path", "scheme://host:port only"),
    ("http://127.1:3128\\@127.0.0.1:9", "backslash"),
    ("http://:3128", "has no host"),
])
def test_a_proxy_that_cannot_be_used_safely_is_refused_before_any_request(sandbox: Sandbox, front: TlsFront,
                                                                          proxy_url: str, why: str) -> None:
    with pytest.raises(ValidationError, match=why) as info:
        MensatekClient(MENSATEK_USER, MENSATEK_TOKEN, base_url=https(front), proxy=proxy_url)
    assert "pr0xy-s3cret" not in str(info.value) and sandbox.requests == []


def test_a_proxy_is_refused_for_a_plain_http_base_url(sandbox: Sandbox, proxy: ConnectProxy) -> None:
    with pytest.raises(ValidationError, match="only with an https:// base URL"):
        MensatekClient(MENSATEK_USER, MENSATEK_TOKEN, base_url=sandbox.mensatek_url, proxy=proxy.url)
    assert proxy.request_lines == [] and sandbox.requests == []


def test_a_ca_bundle_that_is_not_a_file_or_folder_is_refused(sandbox: Sandbox, front: TlsFront,
                                                             tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "ca.fifo")
    for bundle, why in [("ca.pem", "absolute path"), (str(tmp_path / "none.pem"), "cannot be used"),
                        (str(tmp_path / "ca.fifo"), "not a device, FIFO or socket")]:
        with pytest.raises(ValidationError, match=why):
            LegallyMailClient(LEGALLYMAIL_TOKEN, base_url=https(front, "/legallymail/api"), ca_bundle=bundle)
    assert sandbox.requests == []
