"""When a phone number has its country code (one rule for SMS, RCS, campaigns and LegallyMail)."""

from __future__ import annotations

import io
import json

import pytest

from airflow_provider_mensatek.campaigns.input import rows_from_csv
from airflow_provider_mensatek.campaigns.recipients import RecipientReader
from airflow_provider_mensatek.clients import LegallyMailClient, MensatekClient
from airflow_provider_mensatek.clients.errors import ValidationError
from airflow_provider_mensatek.clients.legallymail.checks import check_phone
from airflow_provider_mensatek.clients.phone_numbers import check_default_country_code, normalise_phone
from airflow_provider_mensatek.sandbox import Sandbox
from tests.clients.mensatek.test_rcs import WELCOME
from tests.conftest import LEGALLYMAIL_TOKEN

VARIABLES = {"Destinatario": "Ana", "Importe": "1"}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("34600000001", "34600000001"),       # the vendor documents' own form
        ("+34 600 000 001", "34600000001"),
        ("0034600000001", "34600000001"),
        ("+45 32 12 34 56", "4532123456"),    # a short international number, written with +
        ("447700900123", "447700900123"),
        ("+1 202 555 0123", "12025550123"),  # North America, written with +
        ("0012025550123", "12025550123"),
        ("120255501234", "120255501234"),   # 12 digits: not the ambiguous 1 + 10 digits
    ],
)
def test_numbers_with_their_country_code(raw: object, expected: str) -> None:
    assert normalise_phone(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "600000001",      # Spanish mobile: would be +60 (Malaysia)
        "600 000 001",
        "3123456789",     # Italian mobile: would be +31 (Netherlands)
        "2125550123",     # US number: would be +212 (Morocco)
        "12025550123",    # US number dialled at home (trunk 1), or a national number elsewhere
        12025550123,
        "13812345678",    # Chinese mobile: would be +1 381 (North America)
        "1-202-555-0123",
    ],
)
def test_numbers_that_may_lack_the_country_code_are_refused(raw: str) -> None:
    with pytest.raises(ValidationError, match=r"may lack its country code.*default_country_code"):
        normalise_phone(raw)


def test_a_trunk_prefix_is_never_guessed_at() -> None:
    for country in (None, "33", "39"):
        with pytest.raises(ValidationError, match="trunk prefix 0"):
            normalise_phone("0612345678", default_country_code=country)


@pytest.mark.parametrize(
    ("raw", "country", "expected"),
    [
        ("600000001", "34", "34600000001"),
        ("600 000 001", "+34", "34600000001"),
        ("600000001", 34, "34600000001"),
        ("34600000001", "34", "34600000001"),      # already international: kept
        ("+44 7700 900123", "34", "447700900123"),  # explicit: kept
        ("3931234567", "39", "393931234567"),       # an Italian mobile that begins with 39 is national
        ("2125550123", "1", "12125550123"),
        ("12025550123", "1", "12025550123"),       # North American numbers with their default country
        ("1 (202) 555-0123", "1", "12025550123"),
    ],
)
def test_a_default_country_makes_short_numbers_national(raw: str, country: object, expected: str) -> None:
    assert normalise_phone(raw, default_country_code=country) == expected


def test_with_a_default_country_a_foreign_number_needs_its_plus() -> None:
    for raw in ("447700900123", "12025550123"):
        with pytest.raises(ValidationError, match="does not start with the default country code 34"):
            normalise_phone(raw, default_country_code="34")


@pytest.mark.parametrize("country", ["0", "034x", "1234", "+", True, 3.4])
def test_bad_default_country_codes_are_refused(country: object) -> None:
    with pytest.raises(ValidationError, match="default_country_code"):
        check_default_country_code(country)


def test_legallymail_phones_follow_the_same_rule() -> None:
    assert check_phone("34600000001") == "+34600000001"
    assert check_phone("+1 202 555 0123") == "+12025550123"
    for raw in ("3123456789", "12025550123"):
        with pytest.raises(ValidationError, match="may lack its country code"):
            check_phone(raw)


def test_sms_campaign_planning_refuses_numbers_without_country_code() -> None:
    reader = RecipientReader("sms", None, max_invalid=None)
    valid = list(reader.recipients(rows_from_csv(io.StringIO("phone\n34600000001\n600000001\n12025550123\n"))))
    assert [r.vendor["Movil"] for r in valid] == ["34600000001"]
    assert [(r.line, "may lack its country code" in r.reason) for r in reader.first_rejected] == [(3, True),
                                                                                               (4, True)]
    usa = RecipientReader("sms", None, max_invalid=None, default_country_code="1")
    valid = list(usa.recipients(rows_from_csv(io.StringIO("phone\n12025550123\n2025550124\n"))))
    assert [r.vendor["Movil"] for r in valid] == ["12025550123", "12025550124"]


def test_a_bare_north_american_number_reaches_neither_vendor(
    sandbox: Sandbox, mensatek_client: MensatekClient
) -> None:
    """SMS, RCS and LegallyMail SMS refuse ``12025550123`` before any request; with ``default_country_code="1"``
    (Mensatek) the vendor receives it as it is."""
    with pytest.raises(ValidationError, match="recipient #1 phone '12025550123' may lack its country code"):
        mensatek_client.send_sms("MIEMPRESA", "12025550123", "Hola")
    with pytest.raises(ValidationError, match="may lack its country code"):
        mensatek_client.send_rcs(WELCOME, [{"Telefono": "12025550123", "variables": VARIABLES}])
    with LegallyMailClient(LEGALLYMAIL_TOKEN, base_url=sandbox.legallymail_url) as legallymail, \
            pytest.raises(ValidationError, match="may lack its country code"):
        legallymail.send_certified_sms("12025550123", "Your code is 1234")
    assert sandbox.requests == []

    mensatek_client.send_sms("MIEMPRESA", "12025550123", "Hola", default_country_code="1")
    mensatek_client.send_rcs(WELCOME, [{"Telefono": "12025550123", "variables": VARIABLES}],
                             default_country_code="1")
    assert json.loads(sandbox.requests_to("EnviarSMS")[0].param("Destinatarios")) == [{"Movil": "12025550123"}]
    assert json.loads(sandbox.requests_to("EnviarRCS")[0].param("Destinatarios"))[0]["Telefono"] == "12025550123"
