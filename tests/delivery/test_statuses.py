"""Vendor status codes -> DeliveryStatus."""

from __future__ import annotations

import logging

import pytest

from airflow_provider_mensatek.clients.errors import ValidationError
from airflow_provider_mensatek.delivery.statuses import (
    CHANNELS,
    FAILURE_STATUSES,
    MENSATEK_SMS,
    DeliveryStatus,
    classify,
    parse_target,
)

# Every code of the Resultado table in mensatek-sms.txt, in the document's order.
SMS_DOC_CODES = [
    0, 1, 2, 10, 11, 13, 14, 15, 16, 17, 50, 51, 52, 53, 54, 55, 70, 101, 102, 103, 104, 106, 110, 111, 112, 113,
    120, 121, 122, 130, 123, 124, 125, 126, 131, 132, 133, 134, 135, 136, 137, 140, 141, 150, 160, 161, 162, 163,
    180, 181, 190, 195, 1000, 1001, 1002, 1003, 5000,
]


def test_the_whole_sms_table_is_mapped() -> None:
    # Plus 3, the assumed "cancelled" (the table has none; the cancel function exists).
    assert sorted(int(c) for c in MENSATEK_SMS) == sorted([*SMS_DOC_CODES, 3])


@pytest.mark.parametrize(("code", "status", "failure"), [
    (50, DeliveryStatus.FAILED, True),
    (53, DeliveryStatus.EXPIRED, True),
    (54, DeliveryStatus.REJECTED, True),
    (190, DeliveryStatus.REJECTED, True),
    (195, DeliveryStatus.EXPIRED, True),
    (134, DeliveryStatus.PENDING, False),  # Mensatek keeps retrying
    (11, DeliveryStatus.DELIVERED, False),
    (181, DeliveryStatus.SIGNED, False),
])
def test_sms_codes(code: int, status: DeliveryStatus, failure: bool) -> None:
    vendor = classify("mensatek.sms", str(code), "texto del proveedor")
    assert vendor.status is status
    assert vendor.failure is failure
    assert vendor.text == "texto del proveedor"
    assert vendor.known


def test_certified_email_11_satisfies_delivered_read_and_certified() -> None:
    vendor = classify("mensatek.certified_email", 11, "Mensaje entregado, abierto, leído y certificado")
    for target in ("delivered", "read", "certified"):
        assert vendor.has_reached(parse_target(target))
    assert vendor.terminal
    assert not vendor.failure


def test_certified_email_14_is_certified_but_not_read_and_not_final() -> None:
    vendor = classify("mensatek.certified_email", "14")
    assert vendor.has_reached(DeliveryStatus.CERTIFIED)
    assert not vendor.has_reached(DeliveryStatus.READ)
    assert not vendor.terminal


def test_every_failure_is_terminal_everywhere() -> None:
    for channel, table in CHANNELS.items():
        for code, rule in table.items():
            if rule.status in FAILURE_STATUSES:
                assert rule.terminal, (channel, code)
                assert classify(channel, code).failure


def test_legallymail_words_are_case_insensitive_and_kept_verbatim() -> None:
    vendor = classify("legallymail.email", "Bounced", None)
    assert vendor.status is DeliveryStatus.BOUNCED
    assert vendor.code == "Bounced"
    sms = classify("legallymail.sms", "delivered", certified=True)
    assert sms.has_reached(DeliveryStatus.CERTIFIED)
    assert classify("legallymail.signature", "signed").has_reached(DeliveryStatus.SIGNED)


def test_unknown_codes_are_kept_verbatim_non_terminal_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="airflow_provider_mensatek.delivery.statuses"):
        vendor = classify("mensatek.sms", 777, "Nuevo estado")
    assert vendor.status is DeliveryStatus.UNKNOWN
    assert (vendor.code, vendor.text, vendor.terminal, vendor.failure, vendor.known) == (
        "777", "Nuevo estado", False, False, False)
    assert "777" in caplog.text


def test_targets() -> None:
    assert parse_target(DeliveryStatus.SIGNED) is DeliveryStatus.SIGNED
    assert parse_target(" Certified ") is DeliveryStatus.CERTIFIED
    for bad in ("bounced", "pending", "nonsense", None):
        with pytest.raises(ValidationError):
            parse_target(bad)
    with pytest.raises(ValidationError):
        classify("fax", 1)


@pytest.mark.parametrize("code", ["17", "160", "181"])
def test_email_contract_codes_are_certified(code: str) -> None:
    # mensatek-certified-email.txt, certificate download: "17, 160 or 181 -contract signed/perfected and
    # certified- in the case of EMAIL Contract".
    vendor = classify("mensatek.certified_email", code)
    assert vendor.known and not vendor.failure
    for target in ("delivered", "read", "certified", "accepted", "signed"):
        assert vendor.has_reached(parse_target(target))


def test_every_code_the_certified_email_document_names_is_mapped() -> None:
    from airflow_provider_mensatek.delivery.statuses import MENSATEK_CERTIFIED_EMAIL

    # 11 (report sample), 14, 17, 160, 181 (certificate download section).
    assert {"11", "14", "17", "160", "181"} <= set(MENSATEK_CERTIFIED_EMAIL)
