"""The credential in every form it takes on the wire never reaches an error, a log, XCom, a repr or a pickle.

A vendor or gateway error page may echo the request: the raw token, the
Authorization header (``Basic base64(user:token)``, ``Bearer token``), URL- or
JSON-escaped copies, a base64 dump of the body, a header cut short; and, less
exactly, the token in another letter case or cut short, HTML character
references, quoted-printable, base64 wrapped over lines. The sandbox answers
such pages (a ``status`` fault with that body); the checks use an oracle of
their own (:func:`leaks`), not the provider's list of forms.
"""

from __future__ import annotations

import base64
import copy
import html
import json
import logging
import pickle
import quopri
import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_mensatek.clients import LegallyMailClient, MensatekClient, RetrySettings
from airflow_provider_mensatek.clients.errors import AmbiguousSendError, InvalidRequestError, MensatekError
from airflow_provider_mensatek.hooks.legallymail import LegallyMailHook
from airflow_provider_mensatek.hooks.mensatek import MensatekHook
from airflow_provider_mensatek.operators.certified_email import MensatekSendCertifiedEmailOperator
from airflow_provider_mensatek.sandbox import Clock, Fault, Sandbox
from tests.operator_support import FakeTaskStateStore, context

USER = "api-user"
#: Characters that make every encoding differ: URL (/ + = &), JSON (/ as \/ in PHP), base64 alignment.
TOKEN = "s3cr3t/T0k+en=&x9Q"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _base64_decodings(text: str) -> list[str]:
    """What every base64-looking run of ``text`` decodes to (at each alignment, both alphabets), lines joined."""
    out = []
    for run in re.findall(r"[A-Za-z0-9+/_-]{8,}={0,2}", re.sub(r"\r?\n", "", text)):
        for start in range(4):
            chunk = run[start:].rstrip("=")
            chunk = chunk[: len(chunk) - len(chunk) % 4]
            for alphabet in (None, b"-_"):
                try:
                    out.append(base64.b64decode(chunk, altchars=alphabet).decode("latin-1"))
                except ValueError:
                    pass
    return out


def leaks(text: str, token: str = TOKEN) -> list[str]:
    """Every way ``text`` still carries the token, or part of it (6+ characters, any case), in any encoding."""
    found = []
    pieces = {token[i:i + 6].lower() for i in range(len(token) - 5)}
    candidates = [text, text.replace("\\/", "/"), text.replace("&amp;", "&"), html.unescape(text),
                  quopri.decodestring(text.encode("utf-8")).decode("latin-1")]
    candidates += [re.sub(r"%[0-9a-fA-F]{2}", lambda m: chr(int(m.group(0)[1:], 16)), t) for t in list(candidates)]
    candidates += [t.replace("+", " ") for t in candidates]
    decoded = _base64_decodings(text)
    candidates += decoded + [again for once in decoded for again in _base64_decodings(once)]  # a dump of a header
    for candidate in map(str.lower, candidates):
        found += [p for p in pieces if p in candidate or p.replace("+", " ") in candidate]
    return sorted(set(found))


def echo_forms(user: str | None, token: str) -> dict[str, str]:
    """What an error page echoing the request may show, one form per entry."""
    basic = b64(f"{user}:{token}") if user is not None else b64(token)
    body_dump = b64(json.dumps({"recipient": "a@example.com", "token": token}))
    return {
        "raw token": f"Invalid token {token} for this account",
        "basic header": f"<pre>Authorization: Basic {basic}</pre>",
        "basic value": f"credentials {basic} refused",
        "bearer header": f'{{"headers": {{"authorization": "Bearer {token}"}}}}',
        "bearer value": f"curl -H 'X: Bearer {token}'",
        "url-encoded": f"GET /api?token={quote(token, safe='')}",
        "url-encoded lower": "token=" + re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), quote(token, safe="")),
        "form-encoded": f"token={quote_plus(token)}&to=a",
        "json (php) escaped": json.dumps({"token": token}).replace("/", "\\/"),
        "base64 body dump": f"body={body_dump}",
        "truncated header": f"Authorization: Basic {basic[:28]}",
    }


def inexact_forms(user: str | None, token: str) -> dict[str, str]:
    """Echoes that are not an exact wire form, which Airflow's exact-match masker cannot see."""
    header = f"Basic {b64(f'{user}:{token}')}" if user is not None else f"Bearer {token}"
    dump = b64(f"POST /api HTTP/1.1\r\nAuthorization: {header}\r\nContent-Type: application/json\r\n\r\n{{}}")
    return {
        "html numeric references": "".join(f"&#{ord(c)};" for c in token),
        "html named and hex references": token.replace("&", "&amp;").replace("+", "&plus;").replace(
            "/", "&#x2F;").replace("=", "&#61;"),
        "upper case": f"INVALID TOKEN {token.upper()}",
        "lower case": f"invalid token {token.lower()}",
        # The documented rule: 12 characters, or half a token shorter than 24 (this one has 18).
        "token cut short": f"token '{token[: (len(token) + 1) // 2]}...'",
        "base64 dump wrapped at 76": "\n".join(dump[i:i + 76] for i in range(0, len(dump), 76)),
        "base64 token wrapped at 4": "\n".join(b64(token)[i:i + 4] for i in range(0, len(b64(token)), 4)),
        "quoted-printable": quopri.encodestring(f"X-Auth={header}; token={token}; {'pad ' * 20}".encode()).decode(),
    }


EXACT_FORMS = echo_forms(USER, TOKEN)
FORMS = EXACT_FORMS | inexact_forms(USER, TOKEN)


def texts_of(error: BaseException) -> list[str]:
    copy_ = pickle.loads(pickle.dumps(error))
    return [str(error), repr(error), *map(str, error.args), repr(getattr(error, "details", {})),
            repr(copy_.__dict__), str(copy_)]


def assert_clean(texts: list[str]) -> None:
    for text in texts:
        assert not leaks(text), (leaks(text), text)


@pytest.fixture
def mensatek(sandbox: Sandbox) -> Iterator[MensatekClient]:
    client = MensatekClient(USER, TOKEN, base_url=sandbox.mensatek_url, retry=RetrySettings(max_attempts=1))
    yield client
    client.close()


@pytest.fixture
def legallymail(sandbox: Sandbox) -> Iterator[LegallyMailClient]:
    client = LegallyMailClient(TOKEN, base_url=sandbox.legallymail_url, retry=RetrySettings(max_attempts=1))
    yield client
    client.close()


def test_the_oracle_sees_every_form_it_is_given() -> None:
    for name, page in FORMS.items():
        assert leaks(page), name


@pytest.mark.parametrize("form", FORMS)
def test_a_mensatek_error_page_echoing_the_credential_is_redacted(
    mensatek: MensatekClient, sandbox: Sandbox, caplog: pytest.LogCaptureFixture, form: str
) -> None:
    caplog.set_level(logging.DEBUG)
    sandbox.inject("GetCreditos", Fault("status", status=400, body=FORMS[form]))
    sandbox.inject("EnviarEMAILCERTIFICADO", Fault("status", status=200, body=f"<html>{FORMS[form]}</html>"))
    with pytest.raises(InvalidRequestError) as read:
        mensatek.get_credits()
    with pytest.raises(AmbiguousSendError) as send:
        mensatek.send_certified_email("avisos@example.com", "ana@example.com", "s", "m", reference="r-1")
    assert "refused the request (HTTP 400)" in str(read.value) and "could not be read" in str(send.value)
    assert_clean([*texts_of(read.value), *texts_of(send.value), caplog.text])
    assert sandbox.requests[0].basic_auth == (USER, TOKEN)  # it really travelled in that header


@pytest.mark.parametrize("form", [f for f in FORMS if f not in ("basic header", "basic value")])
def test_a_legallymail_error_page_echoing_the_token_is_redacted(
    legallymail: LegallyMailClient, sandbox: Sandbox, caplog: pytest.LogCaptureFixture, form: str
) -> None:
    caplog.set_level(logging.DEBUG)
    page = (echo_forms(None, TOKEN) | inexact_forms(None, TOKEN))[form]
    sandbox.inject("/api/info", Fault("status", status=400, body=json.dumps({"success": False, "message": page})))
    sandbox.inject("/api/send", Fault("status", status=200, body=f"<html>{page}</html>"))
    with pytest.raises(InvalidRequestError) as read:
        legallymail.get_info()
    with pytest.raises(AmbiguousSendError) as send:
        legallymail.send_certified_email(["a@example.com"], "S", "m")
    assert_clean([*texts_of(read.value), *texts_of(send.value), caplog.text])


def test_an_operator_run_against_an_echoing_vendor_leaks_nothing(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    with Sandbox(clock=Clock(speed=0.0), mensatek_user=USER, mensatek_token=TOKEN) as own:
        monkeypatch.setenv("AIRFLOW_CONN_MENSATEK_DEFAULT", json.dumps({
            "conn_type": "mensatek", "login": USER, "password": TOKEN, "host": own.mensatek_url,
            "extra": {"max_retries": 1}}))

        def op(task_id: str) -> MensatekSendCertifiedEmailOperator:
            return MensatekSendCertifiedEmailOperator(
                task_id=task_id, sender="avisos@example.com", recipients=[{"name": "Ana", "email": "a@example.com"}],
                subject="Aviso para {{Nombre}}", message="Texto")

        own.inject("EnviarEMAILCERTIFICADO", Fault("status", status=400, body="\n".join(FORMS.values())))
        store = FakeTaskStateStore()
        with pytest.raises(AirflowFailException) as failed:
            op("enviar").execute(context(store))
        xcom = op("enviar_bien").execute(context(FakeTaskStateStore()))  # the vendor accepts this one
        assert xcom["sent"] == 1 and own.requests[-1].basic_auth == (USER, TOKEN)
    out = capsys.readouterr()
    cause = failed.value.__cause__
    assert isinstance(cause, MensatekError)
    assert_clean([str(failed.value), repr(failed.value), *map(str, failed.value.args), *texts_of(cause),
                  json.dumps(store.data), json.dumps(xcom), caplog.text, out.out, out.err])


@pytest.mark.parametrize(("hook", "env", "fields"), [
    (MensatekHook, "AIRFLOW_CONN_MENSATEK_DEFAULT", {"conn_type": "mensatek", "login": USER, "password": TOKEN}),
    (LegallyMailHook, "AIRFLOW_CONN_LEGALLYMAIL_DEFAULT", {"conn_type": "legallymail", "password": TOKEN}),
])
def test_a_hook_registers_every_wire_form_with_airflow_secret_masker(
    monkeypatch: pytest.MonkeyPatch, hook: Callable[[], Any], env: str, fields: dict[str, str]
) -> None:
    from airflow.sdk.log import redact

    monkeypatch.setenv(env, json.dumps(fields))
    hook().get_conn()
    forms = echo_forms(fields.get("login"), TOKEN)
    # Airflow's masker matches exact strings: whole values, not a header cut short nor an inexact form.
    masked = {name: redact(page) for name, page in forms.items() if name != "truncated header"}
    assert {name: leaks(str(text)) for name, text in masked.items()} == {name: [] for name in masked}


@pytest.mark.parametrize("vendor", ["mensatek", "legallymail"])
def test_clients_transports_sessions_and_auth_refuse_pickling_and_hide_the_token(
    mensatek: MensatekClient, legallymail: LegallyMailClient, vendor: str
) -> None:
    client: Any = mensatek if vendor == "mensatek" else legallymail
    holders = [client, client.transport, client.transport.session, client.transport.session.auth]
    for holder in holders:
        with pytest.raises(TypeError, match="not picklable"):
            pickle.dumps(holder)
    assert_clean([repr(h) for h in holders] + [str(client.transport.session.auth)])
    # In-process copies (Airflow deep-copies operators) share the client rather than fail.
    assert copy.deepcopy(client) is client and copy.copy(client.transport.session.auth) is client.transport.session.auth


def test_an_answer_is_redacted_string_by_string_and_a_clean_one_is_returned_as_it_is(
    mensatek: MensatekClient,
) -> None:
    clean = {"res": "1", "destinatarios": '[{"Email": "a@example.com"}]', "cred": 3, "list": ["x", {"k": "v"}]}
    assert mensatek.transport.redact_answer(clean) is clean
    split = {"a": "see Authorization:", "b": "Basic"}  # joined they look like a header; neither alone holds one
    assert mensatek.transport.redact_answer(split) == split
    echoed = {f"key {TOKEN}": [f"value {TOKEN}", 7, {"x": f"Authorization: Basic {b64(f'{USER}:{TOKEN}')}"}],
              "ok": "plain text", "b64": b64(TOKEN)}
    redacted = mensatek.transport.redact_answer(echoed)
    assert redacted["ok"] == "plain text" and redacted["key ***"][1] == 7
    assert_clean([json.dumps(redacted)])


def test_a_token_cut_to_12_characters_is_redacted_and_a_shorter_cut_is_kept(sandbox: Sandbox) -> None:
    """The documented rule for a token of 24 characters or more: a prefix of 12 is the token; 11 are not."""
    token = "Lm9x7Kq2Pz8Wn4Rt6Yv3Bs5Hd1Fg0Jc-end"
    client = LegallyMailClient(token, base_url=sandbox.legallymail_url, retry=RetrySettings(max_attempts=1))
    page = f"token '{token[:12]}...' refused; see ticket {token[:11]}"
    sandbox.inject("/api/info", Fault("status", status=400, body=json.dumps({"success": False, "message": page})))
    with pytest.raises(InvalidRequestError) as read:
        client.get_info()
    assert "token '***...' refused" in str(read.value) and f"ticket {token[:11]}" in str(read.value)
    assert sandbox.requests[0].bearer_token == token
