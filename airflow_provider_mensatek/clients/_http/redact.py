"""Every form a credential takes on the wire, and one redaction for all of them.

A vendor or gateway error page may echo the request back: the raw token, the
``Authorization`` header (``Basic <base64(user:token)>``, ``Bearer <token>``, a
bare token), a URL- or JSON-escaped copy, or a base64 dump of the body. Each
client registers its credential here when it is built; :func:`redact` then
removes every registered form from any text, and
:class:`~airflow_provider_mensatek.clients.errors.MensatekError` runs it on its
own message, so no exception of this provider can carry a credential, whoever
builds its text. Hooks also hand :func:`secret_forms` to Airflow's secret
masker, which masks exact strings only.
"""

from __future__ import annotations

import base64
import html
import json
import re
import threading
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "***"

#: The value of an ``Authorization`` header however it is quoted, including a
#: truncated one (a log line cut at N characters still carries part of a token).
_HEADER_VALUE = re.compile(
    r"""(?ix)
    (\b(?:proxy-)?authorization\b["']?\s*[:=]\s*["']?)   # the header name, as a log or a JSON dump writes it
    (?:(?:basic|bearer|token)\s+)?                       # an optional scheme
    [^\s"',;}&<]+                                        # the credential itself
    """
)
#: ``Basic <b64>`` / ``Bearer <token>`` without a header name (an echoed value, a curl line). The value
#: must look like a credential (a digit, a base64 symbol or a lower-upper case change), so prose such
#: as "Basic Authentication" stays readable.
_SCHEME_VALUE = re.compile(
    r"\b([Bb]asic|BASIC|[Bb]earer|BEARER)(\s+)"
    r"(?=[A-Za-z0-9+/=._~%-]*(?:[0-9+/=_~%]|[a-z][A-Z]))[A-Za-z0-9+/=._~%-]{8,}"
)


#: Text every match of the patterns above holds, lower-cased ("author": case-insensitive matching of
#: "authorization" also takes the dotless and dotted i, which str.lower() does not map to "i").
_HEADER_KEYWORD = "author"
_SCHEME_KEYWORDS = ("basic", "bearer")


def _base64_cores(data: bytes) -> set[str]:
    """What any base64 text holding ``data`` at any offset must contain.

    A base64 character encodes 6 bits, so the encoding of ``data`` depends on
    its offset modulo 3; for each of the three offsets, the characters built
    only from ``data``'s own bits are the same whatever surrounds it. Those
    cores find the token inside ``base64("user:token")`` or a base64 body dump.
    """
    cores: set[str] = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + data).decode("ascii").rstrip("=")
        start = (offset * 8 + 5) // 6  # the first character free of the padding bytes
        end = ((offset + len(data)) * 8) // 6  # the last character free of what follows
        core = encoded[start:end]
        if len(core) >= 4:
            cores.add(core)
            cores.add(core.replace("+", "-").replace("/", "_"))  # base64url
    return cores


def secret_forms(secret: str, *, user: str | None = None) -> tuple[str, ...]:
    """The forms ``secret`` takes on the wire and in echoes of it, longest first."""
    if not secret:
        return ()
    raw = secret.encode("utf-8")
    forms: set[str] = {secret, quote(secret, safe=""), quote_plus(secret), html.escape(secret),
                       json.dumps(secret)[1:-1], secret.replace("/", "\\/")}
    basic = [base64.b64encode(raw).decode("ascii")]
    if user is not None:
        basic.append(base64.b64encode(f"{user}:{secret}".encode()).decode("ascii"))
    for value in basic:
        forms |= {value, quote(value, safe=""), value.replace("/", "\\/")}
    forms |= _base64_cores(raw)
    # Percent-encoding is case-insensitive (%2f == %2F): add the lower-case spelling too.
    forms |= {re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), f) for f in forms if "%" in f}
    return tuple(sorted((f for f in forms if f), key=len, reverse=True))


#: Like Airflow's secret masker (``min_length_masked_secret``): a shorter "secret" would blank out
#: ordinary words in every message of the process. A transport still redacts its own token from the
#: vendor texts it quotes, whatever its length.
MIN_REGISTERED_LENGTH = 5


class _Registry:
    """Process-wide: an error raised by one client must not quote another client's token either."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._forms: set[str] = set()
        self._ordered: tuple[str, ...] = ()
        self._pattern: re.Pattern[str] | None = None

    def add(self, forms: tuple[str, ...]) -> None:
        forms = tuple(f for f in forms if len(f) >= MIN_REGISTERED_LENGTH)
        with self._lock:
            if not set(forms) - self._forms:
                return
            self._forms.update(forms)
            ordered = sorted(self._forms, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(f) for f in ordered))
            self._ordered = tuple(ordered)

    @property
    def pattern(self) -> re.Pattern[str] | None:
        return self._pattern

    @property
    def forms(self) -> tuple[str, ...]:
        return self._ordered


_REGISTRY = _Registry()


def register_secret(secret: str, *, user: str | None = None) -> tuple[str, ...]:
    """Redact ``secret`` (every wire form of it) from all text this provider produces; returns the forms."""
    forms = secret_forms(secret, user=user)
    _REGISTRY.add(forms)
    return forms


def redact(text: str, own: tuple[str, ...] = ()) -> str:
    """``text`` without any registered credential form (nor ``own``), nor any Authorization header value."""
    if not text:
        return text
    for form in own:
        text = text.replace(form, MASK)
    pattern = _REGISTRY.pattern
    # The guards skip only patterns that cannot match (a long answer pays for searches, not substitutions).
    if pattern is not None and any(form in text for form in _REGISTRY.forms):
        text = pattern.sub(MASK, text)
    lowered = text.lower()
    if _HEADER_KEYWORD in lowered:
        text = _HEADER_VALUE.sub(lambda m: m.group(1) + MASK, text)
    if _SCHEME_KEYWORDS[0] in lowered or _SCHEME_KEYWORDS[1] in lowered:
        text = _SCHEME_VALUE.sub(lambda m: m.group(1) + m.group(2) + MASK, text)
    return text


def holds_credential(text: str, own: tuple[str, ...] = ()) -> bool:
    """Whether :func:`redact` would change anything in ``text``: searches only, nothing rebuilt.

    Several times cheaper than the patterns on a long text (a campaign answer
    echoes a thousand recipients): the header patterns run only when their
    keyword is present, and the credential forms are looked for as plain
    substrings, which is faster than their alternation.
    """
    lowered = text.lower()
    if _HEADER_KEYWORD in lowered and _HEADER_VALUE.search(text):
        return True
    if (_SCHEME_KEYWORDS[0] in lowered or _SCHEME_KEYWORDS[1] in lowered) and _SCHEME_VALUE.search(text):
        return True
    registered = _REGISTRY.forms
    known = set(registered)
    return any(form in text for form in (*registered, *(f for f in own if f not in known)))


#: Joins an answer's strings for one search. A form one string holds is found in the joined text (NUL is a
#: word boundary, as a string's end is); a header pattern may also match across two strings, which only
#: costs the string-by-string pass, where each string is redacted exactly as on its own.
_SEPARATOR = "\x00"


def redact_strings(value: Any, own: tuple[str, ...] = ()) -> Any:
    """A decoded answer (dicts, lists, strings, numbers) with :func:`redact` applied to every string, keys too.

    A vendor may echo the credential inside an accepted answer too (a ``message``
    quoting the request, a text field), and what a client returns reaches XCom.
    One search over the answer's strings joined decides: an answer holding no
    credential form, the usual case, is returned as it is, not rebuilt.
    """
    texts: list[str] = []
    _collect(value, texts)
    if not texts or not holds_credential(_SEPARATOR.join(texts), own):
        return value
    return _rebuilt(value, own)


def _collect(value: Any, texts: list[str]) -> None:
    if isinstance(value, str):
        texts.append(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            _collect(key, texts)
            _collect(item, texts)
    elif isinstance(value, list | tuple):
        for item in value:
            _collect(item, texts)


def _rebuilt(value: Any, own: tuple[str, ...]) -> Any:
    if isinstance(value, str):
        return redact(value, own)
    if isinstance(value, dict):
        return {_rebuilt(key, own): _rebuilt(item, own) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_rebuilt(item, own) for item in value)
    return value
