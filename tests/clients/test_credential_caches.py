"""Kerberos credential caches are never sent, whatever the allowed roots (the temp dir, a default root, holds them).

Checked on the five places the clients read a file to send it, over real HTTP:
the sandbox must have received no request at all.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from airflow_provider_mensatek.clients import LegallyMailClient, MensatekClient
from airflow_provider_mensatek.clients._credential_caches import register_credential_file
from airflow_provider_mensatek.clients.errors import ValidationError
from airflow_provider_mensatek.sandbox import Sandbox
from tests.clients.test_local_files import ENTRY_POINTS
from tests.conftest import LEGALLYMAIL_TOKEN, MENSATEK_TOKEN, MENSATEK_USER
from tests.legallymail_support import PDF, FakeTime, make_client

#: What a ticket cache file holds does not matter: its name or identity refuses it.
TICKET = PDF


@pytest.fixture
def root(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.delenv("KRB5CCNAME", raising=False)
    folder = Path(tempfile.mkdtemp(prefix="cc-root-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def clients(sandbox: Sandbox, root: Path) -> Iterator[tuple[MensatekClient, LegallyMailClient]]:
    mensatek = MensatekClient(MENSATEK_USER, MENSATEK_TOKEN, base_url=sandbox.mensatek_url, allowed_roots=[root])
    legallymail = make_client(sandbox, LEGALLYMAIL_TOKEN, FakeTime(), allowed_roots=[root])
    with mensatek, legallymail:
        yield mensatek, legallymail


def _named(name: str) -> Callable[[Path, pytest.MonkeyPatch], str]:
    def make(root: Path, monkeypatch: pytest.MonkeyPatch) -> str:
        (root / name).write_bytes(TICKET)
        return str(root / name)
    return make


def _symlink_to_default_name(root: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (root / "krb5cc_0").write_bytes(TICKET)
    (root / "nota.pdf").symlink_to(root / "krb5cc_0")
    return str(root / "nota.pdf")


def _registered(link: bool) -> Callable[[Path, pytest.MonkeyPatch], str]:
    """The file registered as ``[kerberos] ccache`` (the operators register it), or a hard link to it."""
    def make(root: Path, monkeypatch: pytest.MonkeyPatch) -> str:
        (root / "airflow_ccache").write_bytes(TICKET)
        register_credential_file(str(root / "airflow_ccache"))
        if not link:
            return str(root / "airflow_ccache")
        os.link(root / "airflow_ccache", root / "nota.pdf")
        return str(root / "nota.pdf")
    return make


def _krb5ccname(value: str, file: str) -> Callable[[Path, pytest.MonkeyPatch], str]:
    def make(root: Path, monkeypatch: pytest.MonkeyPatch) -> str:
        (root / file).parent.mkdir(parents=True, exist_ok=True)
        (root / file).write_bytes(TICKET)
        monkeypatch.setenv("KRB5CCNAME", value.format(root=root))
        return str(root / file)
    return make


#: name -> build the source (the file a template named).
CASES: dict[str, Callable[[Path, pytest.MonkeyPatch], str]] = {
    "mit_default_name": _named("krb5cc_1000"),
    "named_krb5cc_anything": _named("krb5cc"),
    "symlink_to_a_krb5cc_file": _symlink_to_default_name,
    "airflow_ccache_registered": _registered(link=False),
    "hard_link_to_the_registered_ccache": _registered(link=True),
    "krb5ccname_file": _krb5ccname("FILE:{root}/ticket", "ticket"),
    "krb5ccname_plain_path": _krb5ccname("{root}/ticket", "ticket"),
    "krb5ccname_dir_collection": _krb5ccname("DIR:{root}/cc", "cc/tkt"),
}


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
@pytest.mark.parametrize("case", sorted(CASES))
def test_a_credential_cache_inside_an_allowed_root_is_refused_before_any_request(
        sandbox: Sandbox, clients: tuple[MensatekClient, LegallyMailClient], root: Path,
        monkeypatch: pytest.MonkeyPatch, entry: str, case: str) -> None:
    source = CASES[case](root, monkeypatch)
    with pytest.raises(ValidationError, match="credential cache") as info:
        ENTRY_POINTS[entry][0](*clients, source)
    assert repr(source) in str(info.value)
    assert sandbox.requests == []


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_other_files_beside_a_cache_are_sent(sandbox: Sandbox, clients: tuple[MensatekClient, LegallyMailClient],
                                             root: Path, monkeypatch: pytest.MonkeyPatch, entry: str) -> None:
    _registered(link=False)(root, monkeypatch)
    _krb5ccname("FILE:{root}/ticket", "ticket")(root, monkeypatch)
    (root / "nota.pdf").write_bytes(PDF)
    send, received = ENTRY_POINTS[entry]
    send(*clients, str(root / "nota.pdf"))
    (request,) = sandbox.requests
    assert received(request) == PDF
