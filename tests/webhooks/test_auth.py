"""Basic authentication on bytes, in constant time, and the receiver's connection checked field by field."""

from __future__ import annotations

import base64
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_mensatek.clients.errors import ValidationError
from airflow_provider_mensatek.hooks.mensatek_reports import ReceiverSettings, receiver_settings
from airflow_provider_mensatek.webhooks.auth import authorised, basic_credentials, first_authorization

SETTINGS = ReceiverSettings(user="panel", password="pässwörd-1", previous_password="old-secret")


def header(text: str) -> bytes:
    return b"Basic " + base64.b64encode(text.encode("utf-8"))


@pytest.mark.parametrize(("value", "expected"), [
    (header("panel:pässwörd-1"), (b"panel", "pässwörd-1".encode())),
    (b"basic " + base64.b64encode(b"panel:a:b"), (b"panel", b"a:b")),  # the password may hold colons
    (b"  Basic   " + base64.b64encode(b"u:p") + b"  ", (b"u", b"p")),
    (header("no-colon"), None),
    (b"Basic !!!", None),
    (b"Basic " + base64.b64encode(b"u:p") + b"\xff", None),
    (b"Bearer " + base64.b64encode(b"u:p"), None),
    (b"Basic", None),
    (b"", None),
    (None, None),
    (b"Basic " + base64.b64encode(b"u:" + b"p" * 5000), None),  # over the header cap
])
def test_basic_credentials_are_read_from_bytes(value: bytes | None, expected: tuple[bytes, bytes] | None) -> None:
    assert basic_credentials(value) == expected


def test_only_the_configured_user_with_one_of_its_passwords_is_authorised() -> None:
    assert authorised(header("panel:pässwörd-1"), SETTINGS)
    assert authorised(header("panel:old-secret"), SETTINGS)
    assert not authorised(header("Panel:pässwörd-1"), SETTINGS)
    assert not authorised(header("panel:passwoerd-1"), SETTINGS)
    assert not authorised(header("other:old-secret"), SETTINGS)
    assert not authorised(header("panel:"), SETTINGS)
    assert not authorised("Basic panel:pässwörd-1".encode(), SETTINGS)
    assert not authorised(header("panel:old-secret"), ReceiverSettings(user="panel", password="pässwörd-1"))


def test_the_first_authorization_header_wins() -> None:
    headers = [(b"host", b"x"), (b"Authorization", b"Basic first"), (b"authorization", b"Bearer appended")]
    assert first_authorization(headers) == b"Basic first"
    assert first_authorization([(b"host", b"x")]) is None


def conn(login: Any = "panel", password: Any = "s3cret", **extra: Any) -> SimpleNamespace:
    return SimpleNamespace(login=login, password=password, extra_dejson=extra)


def test_the_connection_gives_the_receivers_settings_with_defaults() -> None:
    settings = receiver_settings(conn())
    assert (settings.max_body_bytes, settings.asset_events, settings.personal_data, settings.anonymous_url_check) \
        == (65536, "partitioned", False, False)
    assert settings.passwords == ("s3cret",)
    full = receiver_settings(conn(previous_password="old", max_body_bytes="4096", asset_events="plain",
                                  personal_data="true", anonymous_url_check=True))
    assert (full.passwords, full.max_body_bytes, full.asset_events, full.personal_data, full.anonymous_url_check) \
        == (("s3cret", "old"), 4096, "plain", True, True)
    assert "s3cret" not in repr(full) and "old" not in repr(full)


@pytest.mark.parametrize(("connection", "message"), [
    (conn(login=None), "needs a login and a password"),
    (conn(password=""), "needs a login and a password"),
    (conn(login="pa:nel"), "must not contain ':'"),
    (conn(asset_events="both"), "'asset_events' must be one of partitioned, plain, off"),
    (conn(max_body_bytes=0), "'max_body_bytes' must be a finite whole number above zero"),
    (conn(max_body_bytes=10**9), "'max_body_bytes' must be at most 1048576"),
    (conn(personal_data="yes"), "'personal_data' must be true or false"),
    (conn(previous_password=123), "'previous_password' must be text"),
])
def test_a_bad_connection_is_refused_by_field(connection: SimpleNamespace, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as caught:
        receiver_settings(connection)
    assert "s3cret" not in str(caught.value)


def test_with_asset_events_off_no_event_is_registered() -> None:
    from airflow_provider_mensatek.clients.mensatek.reports import parse_report
    from airflow_provider_mensatek.delivery.report import DeliveryReport
    from airflow_provider_mensatek.webhooks.publish import emit_event
    from tests.clients.mensatek.test_reports import SAMPLES

    report = DeliveryReport.from_mensatek(parse_report("application/json", SAMPLES["SMSMASIVO"].encode()))
    off = ReceiverSettings(user="panel", password="x", asset_events="off")
    sink: list[Any] = []
    # No session and no Asset needed: "off" decides before either is touched.
    assert emit_event(None, None, report, report_id=1, advanced=True, settings=off, sink=sink) == "off"  # type: ignore[arg-type]
    assert sink == []
