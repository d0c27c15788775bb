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

Echoes are not always exact, so :func:`redact` also finds:

* any form in any letter case (``S3CR3T-T0KEN``): the forms are matched ignoring case;
* the raw token cut short, from :func:`prefix_length` characters on (12, or half of
  a token shorter than 24 characters, never fewer than 8, and only once the prefix
  no longer reads like words): "token 's3cr3t-T0ken+/...'";
* the base64 forms wrapped over lines (MIME's 76 columns, or any width);
* forms behind HTML character references (``&#43;``, ``&#x2F;``, ``&plus;``) or
  quoted-printable escapes (``=3D``, soft line breaks): such a text is decoded too,
  and when decoding reveals a form, the redacted decoded text is what remains.

Hex, UTF-16 or rot13 copies are not searched: no echo of a request takes those
forms by accident, and a guard for every transformation would cost every text.
The substring guards keep the usual case cheap: a text holding no form is
searched, never rebuilt.
"""

from __future__ import annotations

import base64
import binascii
import functools
import html
import json
import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
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


#: Like Airflow's secret masker (``min_length_masked_secret``): a shorter "secret" would blank out
#: ordinary words in every message of the process. A transport still redacts its own token from the
#: vendor texts it quotes, whatever its length.
MIN_REGISTERED_LENGTH = 5
#: A raw token cut short still counts from this many characters on (fewer for short tokens: see
#: :func:`prefix_length`): an error page quoting "token 's3cr3t-T0ken+/...'" gives most of it away.
TRUNCATED_TOKEN_CHARS = 12
#: No cut-short prefix is shorter: the redaction is process-wide, and a 5-7 character prefix of a
#: token (``another`` of ``another-token``) is an ordinary word that would vanish from every message.
MIN_PREFIX_CHARS = 8
#: A run of letters this long is no word of any language a log is written in, whatever its case.
_MAX_WORD_LETTERS = 24
#: Where prose and identifiers split words: a prefix made of letter-only words between these is text
#: someone may write, not evidence of a token.
_WORD_SEPARATORS = re.compile(r"[\s._-]+")
#: Characters of a token matched as a cut-short prefix (longer tokens are still matched whole).
_MAX_PREFIX_PATTERN = 256


def word_like(text: str) -> bool:
    """Whether ``text`` could be ordinary words: letter-only words in one case or capitalised, between
    spaces, dots, hyphens or underscores, none of :data:`_MAX_WORD_LETTERS` letters or more.

    A random token almost always holds a digit, a symbol or a mid-word case change within its first
    characters; a prefix that holds none of them is as likely to be prose ("another-tok"), so it is
    not used to redact (the whole token still is).
    """
    return all(
        piece.isascii() and piece.isalpha() and len(piece) < _MAX_WORD_LETTERS
        and (piece.islower() or piece.isupper() or piece.istitle())
        for piece in _WORD_SEPARATORS.split(text) if piece
    )


def prefix_length(token: str) -> int | None:
    """How many leading characters of ``token`` an echo must show to be redacted as the token cut short.

    :data:`TRUNCATED_TOKEN_CHARS` (12), or half the token when it is shorter than 24 characters, never
    fewer than :data:`MIN_PREFIX_CHARS`, and more while the prefix is :func:`word_like`. None when no
    prefix shorter than the token qualifies: only the whole token is redacted then.
    """
    length = max(MIN_PREFIX_CHARS, min(TRUNCATED_TOKEN_CHARS, -(-len(token) // 2)))
    while length < min(len(token), _MAX_PREFIX_PATTERN) and word_like(token[:length]):
        length += 1
    return length if length < min(len(token), _MAX_PREFIX_PATTERN) else None


@dataclass(frozen=True)
class SecretForms:
    """The forms one credential takes: exact strings, its raw value and its base64 forms.

    Iterating gives the exact strings (what Airflow's secret masker takes); :func:`redact` also
    matches the raw value cut short, and the base64 forms wrapped over lines.
    """

    literals: tuple[str, ...]
    raw: str = ""
    base64: tuple[str, ...] = ()
    #: Computed once: redaction looks these up on every call (a dataclass hashes its fields each time).
    _hash: int = field(init=False, repr=False, compare=False, default=0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash((self.literals, self.raw, self.base64)))

    def __hash__(self) -> int:
        return self._hash

    def __iter__(self) -> Iterator[str]:
        return iter(self.literals)

    def __len__(self) -> int:
        return len(self.literals)

    def masker_forms(self) -> list[str]:
        """The forms worth giving Airflow's process-wide secret masker: none shorter than
        :data:`MIN_REGISTERED_LENGTH`, and no base64 fragment that reads like words (it would mask them
        in every log line of the process; the whole encodings still carry it)."""
        return [form for form in self.literals if len(form) >= MIN_REGISTERED_LENGTH
                and not (form in self.base64 and (len(form) < MIN_PREFIX_CHARS or word_like(form)))]

    @property
    def shortest(self) -> int:
        return min((len(f) for f in (*self.literals, self.raw) if f), default=0)


def secret_forms(secret: str, *, user: str | None = None) -> SecretForms:
    """The forms ``secret`` takes on the wire and in echoes of it (exact strings longest first)."""
    if not secret:
        return SecretForms(())
    raw = secret.encode("utf-8")
    forms: set[str] = {secret, quote(secret, safe=""), quote_plus(secret), html.escape(secret),
                       json.dumps(secret)[1:-1], secret.replace("/", "\\/")}
    basic = [base64.b64encode(raw).decode("ascii")]
    if user is not None:
        basic.append(base64.b64encode(f"{user}:{secret}".encode()).decode("ascii"))
    encoded = set(basic) | _base64_cores(raw)
    for value in basic:
        forms |= {value, quote(value, safe=""), value.replace("/", "\\/")}
        # A base64 dump of a request holds the header value base64-encoded once more.
        encoded |= _base64_cores(value.encode("ascii"))
    forms |= encoded
    # Percent-encoding is case-insensitive (%2f == %2F): add the lower-case spelling too.
    forms |= {re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), f) for f in forms if "%" in f}
    return SecretForms(tuple(sorted((f for f in forms if f), key=len, reverse=True)), secret,
                       tuple(sorted(encoded, key=len, reverse=True)))


def _prefix_pattern(token: str, length: int) -> str:
    """``token``'s first ``length`` characters, then as many of the rest as follow."""
    tail = ""
    for char in reversed(token[length:_MAX_PREFIX_PATTERN]):
        tail = f"(?:{re.escape(char)}{tail})?"
    return re.escape(token[:length]) + tail


@dataclass(frozen=True)
class _Matcher:
    """A compiled search for some credentials' forms, with the cheap substring guards that skip it."""

    #: Lower-cased strings each match of ``pattern`` starts with (it matches ignoring case).
    guards: tuple[str, ...]
    #: The guards that hold no other guard: a text holding none of these cannot match.
    screen: tuple[str, ...]
    pattern: re.Pattern[str] | None
    #: ``pattern`` without the raw tokens cut short: whole forms only.
    whole: re.Pattern[str] | None
    #: The base64 forms, one of which a text holds once its line breaks are removed, for ``wrapped``.
    wrapped_guards: tuple[str, ...]
    wrapped: re.Pattern[str] | None


def _compile(all_forms: Iterable[SecretForms], min_length: int) -> _Matcher:
    whole: dict[str, int] = {}  # regex -> the longest text it matches (longest first in the alternation)
    prefixes: dict[str, int] = {}
    guards: set[str] = set()
    encoded: set[str] = set()
    for forms in all_forms:
        for literal in forms.literals:
            if len(literal) >= min_length:
                whole[re.escape(literal)] = len(literal)
                guards.add(literal.lower())
        length = prefix_length(forms.raw) if len(forms.raw) >= min_length else None
        if length is not None:
            prefixes[_prefix_pattern(forms.raw, length)] = len(forms.raw)
            guards.add(forms.raw[:length].lower())
        encoded |= {form for form in forms.base64 if len(form) >= min_length}

    def alternation(pieces: dict[str, int]) -> re.Pattern[str] | None:
        ordered = sorted(pieces, key=lambda piece: pieces[piece], reverse=True)
        return re.compile("|".join(ordered), re.IGNORECASE) if ordered else None

    wrapped = sorted(encoded, key=len, reverse=True)
    screen = tuple(g for g in guards if not any(other != g and other in g for other in guards))
    return _Matcher(
        tuple(guards), screen, alternation(whole | prefixes), alternation(whole), tuple(wrapped),
        re.compile("|".join("(?:\r?\n)?".join(map(re.escape, form)) for form in wrapped)) if wrapped else None,
    )


class _Registry:
    """Process-wide: an error raised by one client must not quote another client's token either."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._forms: set[SecretForms] = set()
        self.matcher = _compile((), MIN_REGISTERED_LENGTH)

    def add(self, forms: SecretForms) -> None:
        with self._lock:
            if forms in self._forms:
                return
            self._forms.add(forms)
            self.matcher = _compile(self._forms, MIN_REGISTERED_LENGTH)

    def covers(self, forms: SecretForms) -> bool:
        """Whether the registry alone redacts every form of ``forms`` (none is too short to register)."""
        return forms in self._forms and forms.shortest >= MIN_REGISTERED_LENGTH


_REGISTRY = _Registry()


@functools.lru_cache(maxsize=64)
def _own_matcher(forms: SecretForms) -> _Matcher:
    return _compile((forms,), 1)


def register_secret(secret: str, *, user: str | None = None) -> SecretForms:
    """Redact ``secret`` (every wire form of it) from all text this provider produces; returns the forms."""
    forms = secret_forms(secret, user=user)
    if forms.literals:
        _REGISTRY.add(forms)
    return forms


def _matchers(own: SecretForms | None) -> tuple[_Matcher, ...]:
    if own is None or not own.literals or _REGISTRY.covers(own):
        return (_REGISTRY.matcher,)
    return (_REGISTRY.matcher, _own_matcher(own))


#: Quoted-printable escapes (``=3D``) and soft line breaks.
_QUOTED_PRINTABLE = re.compile(r"=(?:[0-9A-Fa-f]{2}|\r?\n)")


def _decoded(text: str) -> str | None:
    """``text`` with HTML character references and quoted-printable escapes decoded; None if it holds neither."""
    out = html.unescape(text) if "&" in text else text
    if "=" in out and _QUOTED_PRINTABLE.search(out):
        out = binascii.a2b_qp(out.encode("utf-8")).decode("utf-8", "replace")
    return None if out == text else out


def _substitute(pattern: re.Pattern[str], guards: tuple[str, ...], text: str, lowered: str | None = None) -> str:
    """``pattern.sub(MASK, text)``, trying the pattern only where one of its guards starts.

    Every match starts with its guard (a whole form, or a token's first characters), so this is
    the same substitution; but an alternation of dozens of forms, matched ignoring case, scans a
    long text slowly, while finding the guards is a few substring searches.
    """
    lowered = text.lower() if lowered is None else lowered
    if len(lowered) != len(text):  # a character whose lower case is longer: positions differ, scan it all
        return pattern.sub(MASK, text)
    starts: set[int] = set()
    for guard in guards:
        found = lowered.find(guard)
        while found != -1:
            starts.add(found)
            found = lowered.find(guard, found + 1)
    parts: list[str] = []
    end = 0
    for start in sorted(starts):
        match = pattern.match(text, start) if start >= end else None
        if match is not None:
            parts += [text[end:start], MASK]
            end = match.end()
    return "".join(parts) + text[end:] if parts else text


def _redact_plain(text: str, matchers: tuple[_Matcher, ...]) -> str:
    for matcher in matchers:
        # The guards skip only patterns that cannot match (a long answer pays for searches, not substitutions).
        if matcher.pattern is not None:
            lowered = text.lower()
            if any(guard in lowered for guard in matcher.screen):
                text = _substitute(matcher.pattern, matcher.guards, text, lowered)
        if matcher.wrapped is not None and "\n" in text:
            joined = text.replace("\r", "").replace("\n", "")
            if any(guard in joined for guard in matcher.wrapped_guards):
                text = matcher.wrapped.sub(MASK, text)
    lowered = text.lower()
    if _HEADER_KEYWORD in lowered:
        text = _HEADER_VALUE.sub(lambda m: m.group(1) + MASK, text)
    if _SCHEME_KEYWORDS[0] in lowered or _SCHEME_KEYWORDS[1] in lowered:
        text = _SCHEME_VALUE.sub(lambda m: m.group(1) + m.group(2) + MASK, text)
    return text


def _redact_whole(text: str, matchers: tuple[_Matcher, ...]) -> str:
    for matcher in matchers:
        if matcher.whole is not None:
            text = _substitute(matcher.whole, matcher.guards, text)
    return text


def redact(text: str, own: SecretForms | None = None) -> str:
    """``text`` without any registered credential form (nor ``own``), nor any Authorization header value.

    Forms hidden behind HTML character references or quoted-printable escapes count too: when
    decoding those reveals something to redact, the redacted decoded text is returned.
    """
    if not text:
        return text
    matchers = _matchers(own)
    if _decoded(text) is not None:
        # Whole forms go first, so decoding cannot alter one (a token holding "=3D"). A token cut short and
        # a header value are judged decoded: before, they end at the first escape and leave the rest of the
        # token (``s3cr3t-T0ken&#43;...``) to be read.
        text = _redact_whole(text, matchers)
        decoded = _decoded(text)
        if decoded is not None:
            cleaned = _redact_plain(decoded, matchers)
            if cleaned != decoded:
                return cleaned
    return _redact_plain(text, matchers)


def _holds_plain(text: str, matchers: tuple[_Matcher, ...]) -> bool:
    lowered = text.lower()
    if _HEADER_KEYWORD in lowered and _HEADER_VALUE.search(text):
        return True
    if (_SCHEME_KEYWORDS[0] in lowered or _SCHEME_KEYWORDS[1] in lowered) and _SCHEME_VALUE.search(text):
        return True
    joined = text.replace("\r", "").replace("\n", "") if "\n" in text else None
    for matcher in matchers:
        if any(guard in lowered for guard in matcher.screen):
            return True
        if joined is not None and any(guard in joined for guard in matcher.wrapped_guards):
            return True
    return False


def holds_credential(text: str, own: SecretForms | None = None) -> bool:
    """Whether :func:`redact` may change anything in ``text``: searches only, nothing rebuilt.

    Several times cheaper than the patterns on a long text (a campaign answer
    echoes a thousand recipients): the header patterns run only when their
    keyword is present, and the credential forms are looked for as plain
    substrings, which is faster than their alternation.
    """
    matchers = _matchers(own)
    if _holds_plain(text, matchers):
        return True
    decoded = _decoded(text)
    return decoded is not None and _holds_plain(decoded, matchers)


#: Joins an answer's strings for one search. A form one string holds is found in the joined text (NUL is a
#: word boundary, as a string's end is); a header pattern may also match across two strings, which only
#: costs the string-by-string pass, where each string is redacted exactly as on its own.
_SEPARATOR = "\x00"


def redact_strings(value: Any, own: SecretForms | None = None) -> Any:
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


def _rebuilt(value: Any, own: SecretForms | None) -> Any:
    if isinstance(value, str):
        return redact(value, own)
    if isinstance(value, dict):
        return {_rebuilt(key, own): _rebuilt(item, own) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_rebuilt(item, own) for item in value)
    return value
