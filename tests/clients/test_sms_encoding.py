"""SMS encoding, parts and cost, with hand-computed cases (no network)."""

from __future__ import annotations

import pytest

from airflow_provider_mensatek.clients.errors import ValidationError
from airflow_provider_mensatek.clients.sms_encoding import (
    GSM,
    UNICODE,
    analyse_sms,
    check_sender,
    estimate_cost,
    normalise_phone,
    truncate_to_segments,
)


@pytest.mark.parametrize(
    ("length", "segments"),
    [(1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3), (460, 4)],
)
def test_gsm_segments_160_then_153(length: int, segments: int) -> None:
    result = analyse_sms("a" * length)
    assert (result.encoding, result.units, result.segments) == (GSM, length, segments)


def test_euro_counts_double_in_gsm() -> None:
    assert analyse_sms("Hola €").units == 7  # 5 + 2 for the escape pair
    assert analyse_sms("a" * 158 + "€").segments == 1  # 160 septets
    result = analyse_sms("a" * 159 + "€")  # 161 septets
    assert (result.encoding, result.segments, result.extension_characters) == (GSM, 2, ["€"])


def test_extension_character_is_never_split_across_parts() -> None:
    # 306 septets would be 2 parts, but the € would straddle the 153 boundary: it moves whole.
    assert analyse_sms("a" * 152 + "€" + "a" * 152).segments == 3


def test_gsm_accents_stay_gsm_but_closed_accents_force_unicode() -> None:
    cafe = analyse_sms("Café")
    assert (cafe.encoding, cafe.unicode_characters) == (GSM, [])
    adios = analyse_sms("Adiós, señora Martínez")
    assert adios.encoding == UNICODE
    assert adios.unicode_characters == ["ó", "í"]
    assert "Unicode forced by 'óí'" in adios.describe()


@pytest.mark.parametrize(
    ("length", "segments"), [(70, 1), (71, 2), (134, 2), (135, 3)],
)
def test_unicode_segments_70_then_67(length: int, segments: int) -> None:
    result = analyse_sms("á" * length)
    assert (result.encoding, result.segments) == (UNICODE, segments)


def test_emoji_is_unicode_and_takes_two_units() -> None:
    single = analyse_sms("a" * 68 + "👍")
    assert (single.encoding, single.units, single.segments) == (UNICODE, 70, 1)
    assert analyse_sms("a" * 69 + "👍").segments == 2
    assert analyse_sms("👍").unicode_characters == ["👍"]


def test_unicode_false_keeps_gsm_price_for_foreign_characters() -> None:
    result = analyse_sms("á" * 160, unicode=False)
    assert (result.encoding, result.segments, result.unicode_characters) == (GSM, 1, ["á"])
    assert analyse_sms("abc", unicode=True).encoding == UNICODE


def test_cost_is_parts_times_recipients() -> None:
    estimate = estimate_cost("a" * 161, 3)
    assert estimate.credits == 6
    assert estimate_cost("a" * 161, 3, credits_per_segment=0.5).credits == 3
    assert estimate.to_dict()["analysis"]["segments"] == 2


def test_truncate_to_one_gsm_part_keeps_gsm() -> None:
    cut = truncate_to_segments("a" * 400, 1)
    assert cut == "a" * 157 + "..."
    assert analyse_sms(cut).encoding == GSM
    assert truncate_to_segments("short", 1) == "short"


def test_truncate_unicode_text() -> None:
    cut = truncate_to_segments("á" * 200, 1)
    assert cut == "á" * 69 + "…"
    assert analyse_sms(cut).segments == 1


@pytest.mark.parametrize("sender", ["MIEMPRESA", "Caf&_1", "ABCDEFGHIJK", "+34600000000", "123456789012345"])
def test_valid_senders(sender: str) -> None:
    assert check_sender(sender) == sender


@pytest.mark.parametrize(
    ("sender", "message"),
    [
        ("MiEmpresaSL12", "13 characters; operators accept at most 11"),
        ("1234567890123456", "16 digits; the limit is 15"),
        ("Mi Empresa", "contains ' '"),
        ("Peña", "contains 'ñ'"),
        (34600000000, "got int"),
    ],
)
def test_invalid_senders_say_why(sender: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        check_sender(sender)


@pytest.mark.parametrize("sender", [None, "", "   "])
def test_a_blank_sender_is_the_accounts_default_sender(sender: object) -> None:
    # mensatek-sms.txt, Remitente: "If left blank, the sender will be the mobile phone or default
    # sender registered by the user"; the parameter is required, so it goes out empty.
    assert check_sender(sender) == ""


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("+34 600 00 00 00", "34600000000"), ("0034600000000", "34600000000"), ("34-600-000-000", "34600000000"),
     (34600000000, "34600000000")],
)
def test_phone_normalisation(raw: object, expected: str) -> None:
    assert normalise_phone(raw) == expected


@pytest.mark.parametrize("raw", ["600000", "0600000000", "phone", "+34 600 000 000 000 00", ""])
def test_bad_phone_numbers_are_refused(raw: str) -> None:
    with pytest.raises(ValidationError, match=r"international number|required"):
        normalise_phone(raw)
