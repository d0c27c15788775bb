"""``/_sandbox/requests``: always JSON, bounded, and never showing a credential."""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Callable
from urllib.parse import quote, quote_plus

import pytest
import requests

from airflow_provider_mensatek.sandbox import Sandbox
from tests.conftest import LEGALLYMAIL_TOKEN, MENSATEK_TOKEN, MENSATEK_USER

#: A token that is not the sandbox's: what a user who points a real connection at it sends.
LIVE = "live+5f0c/3e9a=7b1d"
HIDDEN = [LIVE, quote(LIVE, safe=""), quote_plus(LIVE), MENSATEK_TOKEN, LEGALLYMAIL_TOKEN,
          base64.b64encode(f"{MENSATEK_USER}:{MENSATEK_TOKEN}".encode()).decode(),
          base64.b64encode(f"{MENSATEK_USER}:{LIVE}".encode()).decode()]


def logged(sandbox: Sandbox) -> requests.Response:
    response = requests.get(f"{sandbox.url}/_sandbox/requests", timeout=10)
    assert response.status_code == 200
    return response


def test_a_multipart_upload_is_logged_as_name_size_and_sha256(sandbox: Sandbox) -> None:
    content = b"%PDF-1.4 library file\n" * 50
    answer = requests.post(f"{sandbox.mensatek_url}/CargarFichero", auth=(MENSATEK_USER, MENSATEK_TOKEN),
                           data={"Tipo": "FILES", "Resp": "JSON"}, files={"Fichero": ("terms.pdf", content)},
                           timeout=10).json()[0]
    assert answer["Res"] == "1"  # the emulator still got the bytes
    (entry,) = logged(sandbox).json()
    assert entry["params"]["Fichero"] == {"filename": "terms.pdf", "size": len(content),
                                          "sha256": hashlib.sha256(content).hexdigest()}
    assert entry["params"]["Tipo"] == "FILES" and entry["path"] == "/mensatek/v7/CargarFichero"
    assert entry["body_size"] == len(sandbox.requests[0].body) and entry["seq"] == 1
    assert sandbox.requests[0].params["Fichero"]["content"] == content  # in-process tests still see the bytes


def test_the_historical_fields_are_all_still_there(sandbox: Sandbox) -> None:
    requests.post(f"{sandbox.mensatek_url}/GetCreditos?Resp=JSON", json={"Resp": "JSON"}, timeout=10)
    (entry,) = logged(sandbox).json()
    assert {"method", "path", "query", "headers", "params", "at", "content_type"} <= set(entry)
    assert (entry["method"], entry["path"], entry["query"]) == ("POST", "/mensatek/v7/GetCreditos", {"Resp": "JSON"})
    assert entry["content_type"] == "application/json" and entry["headers"]["content-type"] == "application/json"


def test_no_credential_is_shown_in_any_form_or_field(sandbox: Sandbox) -> None:
    mensatek, legallymail = sandbox.mensatek_url, sandbox.legallymail_url
    requests.post(f"{mensatek}/GetCreditos", auth=(MENSATEK_USER, MENSATEK_TOKEN), data={"Resp": "JSON"}, timeout=10)
    requests.post(f"{mensatek}/GetCreditos", auth=(MENSATEK_USER, LIVE), timeout=10,
                  data={"Resp": "JSON", "Mensaje": f"pasted by mistake: {LIVE}"})
    requests.get(f"{legallymail}/info", headers={"Authorization": f"Bearer {LEGALLYMAIL_TOKEN}"}, timeout=10)
    requests.get(f"{legallymail}/info", headers={"Authorization": LIVE}, timeout=10)
    requests.get(f"{legallymail}/info", params={"token": LIVE}, timeout=10,
                 headers={"Referer": f"https://example.com/cb?token={quote(LIVE, safe='')}", "X-Api-Key": LIVE})
    requests.post(f"{legallymail}/send", json={"token": LIVE, "subject": f"re {LIVE}", "nested": [{"token": "x"}]},
                  timeout=10)
    response = logged(sandbox)
    for secret in HIDDEN:
        assert secret not in response.text
    entries = response.json()
    assert [e["headers"].get("authorization") for e in entries] == [
        f"Basic {MENSATEK_USER}:<redacted>", f"Basic {MENSATEK_USER}:<redacted>", "Bearer <redacted>",
        "<redacted>", None, None]
    assert entries[1]["params"]["Mensaje"] == "pasted by mistake: <redacted>"
    assert entries[4]["query"] == {"token": "<redacted>"} and entries[4]["headers"]["x-api-key"] == "<redacted>"
    assert entries[5]["params"]["nested"] == [{"token": "<redacted>"}]
    # Tests in the process still assert on what was really sent, but a failing assert prints no secret.
    assert sandbox.requests[1].basic_auth == (MENSATEK_USER, LIVE)
    for request in sandbox.requests:
        assert not any(secret in repr(request) for secret in HIDDEN)


def test_server_log_lines_show_no_query_string_or_token(sandbox: Sandbox, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="airflow_provider_mensatek.sandbox")
    requests.get(f"{sandbox.legallymail_url}/info", params={"token": LIVE}, timeout=10)
    requests.get(f"{sandbox.legallymail_url}/info?token={LEGALLYMAIL_TOKEN}", timeout=10)
    assert "/legallymail/api/info?<redacted>" in caplog.text
    for secret in HIDDEN:
        assert secret not in caplog.text


def test_the_log_keeps_the_latest_requests_and_counts_the_dropped(own_sandbox: Callable[..., Sandbox]) -> None:
    sandbox = own_sandbox(max_logged_requests=3)
    for n in range(5):
        requests.post(f"{sandbox.mensatek_url}/GetCreditos", data={"Resp": "JSON", "n": str(n)}, timeout=10)
    response = logged(sandbox)
    assert [(e["seq"], e["params"]["n"]) for e in response.json()] == [(3, "2"), (4, "3"), (5, "4")]
    assert response.headers["X-Sandbox-Requests-Dropped"] == "2"
    assert response.headers["X-Sandbox-Requests-Limit"] == "3"
    assert sandbox.dropped_requests == 2 and len(sandbox.requests) == 3
    requests.post(f"{sandbox.url}/_sandbox/reset", timeout=10)
    assert logged(sandbox).headers["X-Sandbox-Requests-Dropped"] == "0" and sandbox.requests == []


def test_the_log_keeps_at_most_its_byte_budget_of_bodies(own_sandbox: Callable[..., Sandbox]) -> None:
    sandbox = own_sandbox(max_logged_bytes=1000)
    for n in range(3):
        requests.post(f"{sandbox.mensatek_url}/GetCreditos", data={"Resp": "JSON", "n": str(n) * 400}, timeout=10)
    assert [r.seq for r in sandbox.requests] == [2, 3] and sandbox.dropped_requests == 1
    big = {"Resp": "JSON", "n": "x" * 2000}
    requests.post(f"{sandbox.mensatek_url}/GetCreditos", data=big, timeout=10)
    assert [r.seq for r in sandbox.requests] == [4]  # the newest stays, even alone over the budget
