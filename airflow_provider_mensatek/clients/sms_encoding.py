"""SMS text rules checked before anything is sent: sender, phone numbers, encoding, segments, cost.

Airflow-free and network-free. The numbers follow the Mensatek SMS document
(Appendix 2, "Character Sets"):

* GSM 03.38 (``Unicode=0``, the default): one SMS holds 160 characters; a
  longer text is split into parts of 153 (the rest of each part carries the
  concatenation header). Characters of the GSM *extension* table (``€ ^ { } [
  ] ~ | \\`` and form feed) are sent as an escape plus a character, so they
  count double ("the € takes up two characters").
* Unicode (``Unicode=1``): 70 characters in one SMS, then parts of 67.
  Characters outside the Basic Multilingual Plane (most emoji) take two UTF-16
  code units and therefore count double; that is how UCS-2 handsets and
  operators count them (assumption: the document only says "characters").

A character outside both GSM tables *forces* Unicode if it must arrive
intact: with ``Unicode=0`` the vendor replaces it with "the most similar
character" (``á`` -> ``a``). :func:`analyse_sms` says which characters did it,
so a user can decide to drop them and pay the GSM price instead.

A part is never split in the middle of a character (an escape pair or a
surrogate pair moves whole to the next part), so the part count is exact.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from airflow_provider_mensatek.clients.errors import ValidationError
from airflow_provider_mensatek.clients.phone_numbers import normalise_phone

GSM = "GSM"
UNICODE = "UNICODE"

#: GSM 03.38 basic table (the escape 0x1B itself is not a printable character).
GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
#: GSM 03.38 extension table: each costs two septets (escape + character).
GSM_EXTENSION = frozenset("€^{}[]~|\\\f")

GSM_SINGLE, GSM_PART = 160, 153
UNICODE_SINGLE, UNICODE_PART = 70, 67

# Vendor appendix: "Letters, numbers, & and underscore character only, up to 11".
_ALPHA_SENDER_RE = re.compile(r"^[A-Za-z0-9&_]{1,11}$")
_NUMERIC_SENDER_RE = re.compile(r"^\+?[0-9]{1,15}$")

MAX_ALPHA_SENDER = 11
MAX_NUMERIC_SENDER = 15


def check_sender(value: Any) -> str:
    """The ``Remitente`` as the vendor accepts it, or :class:`ValidationError` saying why not.

    Numeric senders (a phone in international format, optional ``+``) take up
    to 15 digits; alphanumeric ones up to 11 letters, digits, ``&`` or ``_``.
    None or a blank text is ``""``: the document says a blank ``Remitente``
    sends from "the mobile phone or default sender registered by the user", and
    marks the parameter required, so it is sent, empty.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return ""
    if not isinstance(value, str):
        raise ValidationError(f"SMS sender must be a name of up to {MAX_ALPHA_SENDER} letters/digits, a phone "
                              f"number of up to {MAX_NUMERIC_SENDER} digits, or blank for the account's "
                              f"default sender (got {type(value).__name__})")
    sender = value.strip()
    digits = sender.lstrip("+")
    if digits.isdigit():
        if not _NUMERIC_SENDER_RE.match(sender):
            raise ValidationError(
                f"Numeric SMS sender {sender!r} has {len(digits)} digits; the limit is {MAX_NUMERIC_SENDER}"
            )
        return sender
    if len(sender) > MAX_ALPHA_SENDER:
        raise ValidationError(
            f"Alphanumeric SMS sender {sender!r} is {len(sender)} characters; operators accept at most "
            f"{MAX_ALPHA_SENDER}"
        )
    if not _ALPHA_SENDER_RE.match(sender):
        bad = sorted({c for c in sender if not (c.isascii() and (c.isalnum() or c in "&_"))})
        raise ValidationError(
            f"SMS sender {sender!r} contains {''.join(bad)!r}: use only letters A-Z, digits, '&' or '_'"
        )
    return sender


def char_units(char: str, encoding: str) -> int:
    """How many units one character takes in ``encoding`` (GSM septets or UTF-16 code units)."""
    if encoding == GSM:
        return 2 if char in GSM_EXTENSION else 1
    return 2 if ord(char) > 0xFFFF else 1


def non_gsm_characters(text: str) -> list[str]:
    """Characters of ``text`` outside both GSM tables, in order of first appearance."""
    seen: dict[str, None] = {}
    for char in text:
        if char not in GSM_BASIC and char not in GSM_EXTENSION:
            seen.setdefault(char)
    return list(seen)


def count_segments(text: str, encoding: str) -> int:
    """Parts needed for ``text`` in ``encoding`` (0 for an empty text)."""
    units = [char_units(c, encoding) for c in text]
    single, part = (GSM_SINGLE, GSM_PART) if encoding == GSM else (UNICODE_SINGLE, UNICODE_PART)
    total = sum(units)
    if total <= single:
        return 1 if total else 0
    segments, used = 1, 0
    for size in units:
        if used + size > part:
            segments += 1
            used = 0
        used += size
    return segments


@dataclass(frozen=True)
class SmsAnalysis:
    """What one SMS text costs, computed locally before sending."""

    encoding: str
    length: int
    units: int
    segments: int
    unicode_characters: list[str]
    extension_characters: list[str]

    @property
    def unicode(self) -> bool:
        return self.encoding == UNICODE

    @property
    def per_segment(self) -> int:
        if self.encoding == GSM:
            return GSM_SINGLE if self.segments <= 1 else GSM_PART
        return UNICODE_SINGLE if self.segments <= 1 else UNICODE_PART

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "unicode": self.unicode, "per_segment": self.per_segment}

    def describe(self) -> str:
        why = ""
        if self.unicode_characters:
            why = f"; Unicode forced by {''.join(self.unicode_characters)!r}"
        return f"{self.segments} SMS part(s), {self.encoding}, {self.units} units{why}"


def analyse_sms(text: str, *, unicode: bool | None = None) -> SmsAnalysis:
    """Encoding and part count of ``text``.

    ``unicode=None`` chooses like a careful sender: GSM when every character
    fits, Unicode otherwise. ``unicode=False`` keeps GSM even with foreign
    characters (the vendor substitutes them, each counted as one septet);
    ``unicode=True`` forces Unicode.
    """
    if not isinstance(text, str):
        raise ValidationError(f"SMS message must be text, got {type(text).__name__}")
    foreign = non_gsm_characters(text)
    encoding = UNICODE if unicode or (unicode is None and foreign) else GSM
    units = sum(char_units(c, encoding) for c in text)
    extension = sorted({c for c in text if c in GSM_EXTENSION}) if encoding == GSM else []
    return SmsAnalysis(
        encoding=encoding, length=len(text), units=units, segments=count_segments(text, encoding),
        unicode_characters=foreign, extension_characters=extension,
    )


def truncate_to_segments(text: str, max_segments: int, *, unicode: bool | None = None,
                         ellipsis: str = "…") -> str:
    """``text`` cut so that it fits ``max_segments`` parts (with ``ellipsis`` when cut).

    The ellipsis is dropped to "..." when the text is otherwise GSM, so cutting
    never flips a cheap GSM message into Unicode.
    """
    if max_segments < 1:
        raise ValidationError(f"max_segments must be at least 1, got {max_segments}")
    if analyse_sms(text, unicode=unicode).segments <= max_segments:
        return text
    if unicode is not True and not non_gsm_characters(text) and non_gsm_characters(ellipsis):
        ellipsis = "..."
    low, high = 0, len(text)
    while low < high:  # longest prefix that still fits, with the ellipsis appended
        mid = (low + high + 1) // 2
        if analyse_sms(text[:mid] + ellipsis, unicode=unicode).segments <= max_segments:
            low = mid
        else:
            high = mid - 1
    return text[:low] + ellipsis


@dataclass(frozen=True)
class SmsCostEstimate:
    """Credits a campaign will use: parts per message x recipients x price per part."""

    analysis: SmsAnalysis
    recipients: int
    credits_per_segment: float
    credits: float

    def to_dict(self) -> dict[str, Any]:
        return {"analysis": self.analysis.to_dict(), "recipients": self.recipients,
                "credits_per_segment": self.credits_per_segment, "credits": self.credits}


def estimate_cost(text: str, recipients: int, *, unicode: bool | None = None,
                  credits_per_segment: float = 1.0) -> SmsCostEstimate:
    """Estimate the credits of sending ``text`` to ``recipients`` numbers.

    ``credits_per_segment`` is 1 by default: the vendor charges per SMS part
    and the price of a part depends on the account and destination country
    (assumption; the document gives no tariff). Per-recipient variables change
    the length; estimate with the longest rendered text when they matter.
    """
    analysis = analyse_sms(text, unicode=unicode)
    if recipients < 0:
        raise ValidationError(f"recipients must be >= 0, got {recipients}")
    credits = analysis.segments * recipients * credits_per_segment
    return SmsCostEstimate(analysis=analysis, recipients=recipients,
                           credits_per_segment=credits_per_segment, credits=credits)


__all__ = [
    "GSM",
    "GSM_BASIC",
    "GSM_EXTENSION",
    "UNICODE",
    "SmsAnalysis",
    "SmsCostEstimate",
    "analyse_sms",
    "check_sender",
    "count_segments",
    "estimate_cost",
    "non_gsm_characters",
    "normalise_phone",
    "truncate_to_segments",
]
