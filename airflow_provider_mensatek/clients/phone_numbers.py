"""Phone numbers in the international form the vendors expect, and when a number has a country code.

The Mensatek documents write numbers as digits starting with the country
code, without ``+`` (``"Movil": "34600000001"``); LegallyMail's samples write
``+34600000000``. A Spanish mobile written nationally, ``600000001``, looks
just as international to a naive check and would be sent to +60 (Malaysia).
So "has a country code" is decided here, once, for every channel:

* ``+34 600 000 001`` and ``0034600000001`` say so explicitly: accepted.
* Digits only, as the documents write them, are read as international from
  11 digits up. Every Spanish number with its country code has 11 digits, and
  so have the numbers of most countries; the national numbers that would be
  misread stop at 10 digits (Spanish 9; US, Italian and Indian mobiles 10),
  so 8 to 10 digits without ``+`` / ``00`` may be national and are refused.
  A few countries' international numbers have 10 digits or fewer (Denmark,
  Norway, Singapore …): write those with ``+``.
* Except 11 digits starting with ``1``: that is how a North American number
  is dialled at home (trunk ``1`` + 10 digits), indistinguishable from +1, and
  it is also a whole national number elsewhere (every Chinese mobile, 138…;
  a São Paulo mobile, 11 9…). Sending it as +1 would guess, so it is refused
  like a short number: written ``+1 …`` or with ``default_country_code="1"``
  it is kept as it is.
* A single leading ``0`` is a national trunk prefix. Whether it belongs in the
  international number differs by country (Italy keeps it, France drops it),
  so it is refused rather than guessed at.

``default_country_code`` makes the refused short numbers national numbers of
that country: ``600000001`` with ``"34"`` becomes ``34600000001``. A number of
11 digits or more must then begin with that code (the documents' own form,
kept as it is): a foreign number written without ``+`` next to national ones
is ambiguous and is refused instead of being given the wrong country.
"""

from __future__ import annotations

import re
from typing import Any

from airflow_provider_mensatek.clients.errors import ValidationError

_PHONE_NOISE_RE = re.compile(r"[\s\-.()/]")
# E.164 allows at most 15 digits; fewer than 8 cannot hold a country code and a subscriber number.
_PHONE_RE = re.compile(r"^[1-9][0-9]{7,14}$")
_COUNTRY_CODE_RE = re.compile(r"^[1-9][0-9]{0,2}$")

#: Digits-only numbers shorter than this may be national numbers (see the module docstring).
MIN_BARE_INTERNATIONAL_DIGITS = 11
#: North America's country code and its trunk prefix: a bare ``1`` + 10 digits may be either (see above).
_NANP = "1"


def check_default_country_code(value: Any) -> str | None:
    """``"34"``, ``"+34"``, ``"0034"`` or ``34`` as ``"34"``; None or blank as None."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValidationError(f"default_country_code must be a country calling code such as '34', got {value!r}")
    text = str(value).strip()
    text = text[1:] if text.startswith("+") else text[2:] if text.startswith("00") else text
    if not _COUNTRY_CODE_RE.match(text):
        raise ValidationError(f"default_country_code must be a country calling code of 1 to 3 digits such as "
                              f"'34' (Spain), got {value!r}")
    return text


def normalise_phone(value: Any, *, what: str = "phone number", default_country_code: Any = None) -> str:
    """A phone number in the vendor's international format: digits only, country code first.

    ``+34 600-00-00-00`` and ``0034600000000`` become ``34600000000``;
    ``34600000000`` stays. ``600000000`` is refused unless
    ``default_country_code`` is given (``"34"`` makes it ``34600000000``).
    Nothing that may lack its country code is ever guessed at.
    """
    country = check_default_country_code(default_country_code)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{what} is required (got {value!r})")
    text = _PHONE_NOISE_RE.sub("", value.strip())
    explicit = text.startswith(("+", "00"))
    text = text[1:] if text.startswith("+") else text[2:] if text.startswith("00") else text
    if not explicit and text.startswith("0") and text.isdigit():
        raise ValidationError(
            f"{what} {value!r} is not an international number: it starts with a national trunk prefix 0. "
            "Write it with the country code, without that 0 where the country drops it (e.g. +34 600 000 000)"
        )
    if (not explicit and country is None and text.isdigit() and len(text) == MIN_BARE_INTERNATIONAL_DIGITS
            and text.startswith(_NANP)):
        raise ValidationError(
            f"{what} {value!r} may lack its country code (11 digits starting with 1, without + or 00: a North "
            "American number dialled at home, or a national number elsewhere such as a Chinese mobile): write "
            "it as +1 202 555 0123 (or +86 …), or give default_country_code (e.g. '1') for such numbers"
        )
    if not explicit and text.isdigit() and len(text) < MIN_BARE_INTERNATIONAL_DIGITS:
        if country is None and _PHONE_RE.match(text):
            raise ValidationError(
                f"{what} {value!r} may lack its country code ({len(text)} digits without + or 00): write it "
                "as +34600000000 or 34600000000, or give default_country_code (e.g. '34') to read such "
                "numbers as national numbers of that country"
            )
        text = (country or "") + text
    elif not explicit and country is not None and text.isdigit() and not text.startswith(country):
        raise ValidationError(
            f"{what} {value!r} does not start with the default country code {country}: a foreign number "
            "must be written with + or 00 (e.g. +44 7700 900123) when national numbers are expected"
        )
    if not _PHONE_RE.match(text):
        raise ValidationError(
            f"{what} {value!r} is not an international number: give the country code and the number, "
            "digits only, 8 to 15 digits (e.g. 34600000000 or +34 600 000 000)"
        )
    return text


__all__ = ["MIN_BARE_INTERNATIONAL_DIGITS", "check_default_country_code", "normalise_phone"]
