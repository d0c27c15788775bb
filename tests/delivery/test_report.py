"""DeliveryReport: one type for webhook reports and poll observations, JSON without personal data by default."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_mensatek.clients import MensatekClient
from airflow_provider_mensatek.clients.mensatek.reports import parse_report
from airflow_provider_mensatek.clients.validation import MADRID
from airflow_provider_mensatek.delivery.fetchers import mensatek_certified_email, mensatek_sms
from airflow_provider_mensatek.delivery.rank import TIER_INFO, TIER_UNKNOWN, tier
from airflow_provider_mensatek.delivery.report import (
    CHANNEL_UNKNOWN,
    POLL_KEY_PREFIX,
    SOURCE_POLL,
    SOURCE_WEBHOOK,
    DeliveryReport,
)
from airflow_provider_mensatek.delivery.statuses import DeliveryStatus
from airflow_provider_mensatek.delivery.waiting import Observation
from airflow_provider_mensatek.sandbox import Sandbox
from tests.clients.mensatek.test_reports import EMAIL_SAMPLE, SAMPLES, SMS_INBOUND_SAMPLE

S = DeliveryStatus


def webhook(sample: str, **changes: str) -> DeliveryReport:
    body = json.dumps({**json.loads(sample), **changes}).encode()
    return DeliveryReport.from_mensatek(parse_report("application/json", body))


@pytest.mark.parametrize(("service", "channel", "status", "reached"), [
    ("EMAILCERTIFICADO", "certified_email", S.READ, {S.CERTIFIED, S.READ, S.DELIVERED}),
    ("EMAILTRANSACCIONAL", "email", S.DELIVERED, {S.DELIVERED, S.OPENED}),  # Aperturas 1
    ("SMSMASIVO", "sms", S.DELIVERED, {S.DELIVERED}),
    ("SMSRECIBIDO", "sms_inbound", S.INFO, set()),
    ("RCS", "rcs", S.DELIVERED, {S.DELIVERED}),
])
def test_every_documented_report_maps_to_the_shared_vocabulary(service: str, channel: str, status: DeliveryStatus,
                                                                 reached: set[DeliveryStatus]) -> None:
    parsed = parse_report("application/json", SAMPLES[service].encode())
    report = DeliveryReport.from_mensatek(parsed)
    assert (report.channel, report.vendor, report.source, report.service) == (channel, "mensatek", SOURCE_WEBHOOK,
                                                                              service)
    assert report.status.status is status and reached <= report.status.reached
    assert report.dedupe_key == parsed.dedupe_key
    assert report.message_id == parsed.message_id and report.reference == parsed.reference
    assert report.occurred_at is not None and report.occurred_at.tzinfo is not None


def test_a_received_sms_is_dated_by_its_timestamp_and_names_the_sms_it_answers() -> None:
    report = webhook(SMS_INBOUND_SAMPLE)
    assert tier(report.status) == TIER_INFO and report.status.code is None
    assert report.occurred_at == datetime.fromtimestamp(1664795529, tz=timezone.utc)
    assert (report.message_id, report.reply_text, report.reply_sender, report.original_certified) == \
        ("78334454", "MIEMPRESA", "MIEMPRESA", True)


def test_unknown_services_and_codes_are_kept_verbatim_below_every_known_status() -> None:
    odd = DeliveryReport.from_mensatek(parse_report("application/json",
                                                    b'{"Servicio": "WHATSAPP", "Estado": "7", "idMensaje": "5"}'))
    assert (odd.channel, odd.status.code, odd.status.status, odd.status.known) == \
        (CHANNEL_UNKNOWN, "7", S.UNKNOWN, False)
    assert tier(odd.status) == TIER_UNKNOWN
    code = webhook(SAMPLES["SMSMASIVO"], Resultado="4242")
    assert (code.channel, code.status.code, code.status.status, code.status.known) == ("sms", "4242", S.UNKNOWN, False)
    assert webhook(SAMPLES["SMSMASIVO"], Resultado="1").rank > code.rank


def test_an_email_opening_is_a_later_status_than_its_delivery() -> None:
    opened, delivered = webhook(EMAIL_SAMPLE), webhook(EMAIL_SAMPLE, Aperturas="0")
    assert opened.status.has_reached(S.OPENED) and not delivered.status.has_reached(S.OPENED)
    assert opened.status.code == delivered.status.code == "11"
    assert opened.rank > delivered.rank


@pytest.mark.parametrize("service", list(SAMPLES))
def test_to_dict_is_json_without_personal_data_unless_asked(service: str) -> None:
    report = webhook(SAMPLES[service])
    shown = json.dumps(report.to_dict())
    fields = json.loads(SAMPLES[service])
    for name in ("Destinatario", "Movil", "Mensaje", "Remitente" if service == "SMSRECIBIDO" else "Destinatario",
                 "IP"):
        if name in fields:
            assert f'"{fields[name]}"' not in shown, name
    assert DeliveryReport.from_dict(json.loads(shown)) == replace(report, recipient=None, reply_text=None,
                                                                  reply_sender=None)
    full = json.loads(json.dumps(report.to_dict(personal=True)))
    assert DeliveryReport.from_dict(full) == report
    assert full["rank"] == report.rank and full["dedupe_key"] == report.dedupe_key


@pytest.mark.parametrize("broken", [
    {}, {"version": 2}, {"version": 1, "status": "11"},
    {"version": 1, "status": {"channel": "mensatek.sms", "status": "nonsense"}, "channel": "sms", "source": "webhook",
     "dedupe_key": "k", "vendor": "mensatek"},
    {"version": 1, "status": {"channel": "mensatek.sms", "status": "delivered"}, "channel": "sms", "source": "email",
     "dedupe_key": "k", "vendor": "mensatek"},
    {"version": 1, "status": {"channel": "mensatek.sms", "status": "delivered"}, "channel": "sms", "source": "poll",
     "dedupe_key": "k", "vendor": "mensatek", "occurred_at": "2024-01-01T10:00:00"},  # naive
    {"version": 1, "status": {"channel": "mensatek.sms", "status": "delivered"}, "channel": 5, "source": "poll",
     "dedupe_key": "k", "vendor": "mensatek"},
])
def test_from_dict_refuses_what_is_not_a_report(broken: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        DeliveryReport.from_dict(broken)


def test_a_poll_of_a_certified_email_becomes_the_same_type(sandbox: Sandbox, mensatek_client: MensatekClient) -> None:
    [mid] = mensatek_client.send_certified_email("sender@example.com", ["ana@example.com"], "Asunto", "Mensaje",
                                                 reference="ref-1").message_ids
    fetch = mensatek_certified_email(mensatek_client)

    def poll() -> DeliveryReport:
        [(key, observation)] = list(fetch([str(mid)]))
        assert key == str(mid) and isinstance(observation, Observation)
        return DeliveryReport.from_observation(observation, observed_at=sandbox.clock.now())

    first, again = poll(), poll()
    assert (first.channel, first.vendor, first.source, first.message_id) == ("certified_email", "mensatek",
                                                                             SOURCE_POLL, str(mid))
    assert first.recipient == "ana@example.com" and first.status.code == "2"
    assert first.dedupe_key.startswith(POLL_KEY_PREFIX) and again.dedupe_key == first.dedupe_key
    sandbox.clock.advance(3 * sandbox.step_seconds)
    certified = poll()
    assert certified.status.code == "14" and certified.dedupe_key != first.dedupe_key
    assert certified.supersedes(first) and not first.supersedes(certified)
    assert "ana@example.com" not in json.dumps(certified.to_dict())
    # The vendor's real-time report of the same send ranks with the poll, whichever came first.
    pushed = webhook(SAMPLES["EMAILCERTIFICADO"], idMensaje=str(mid), Resultado="10",
                     Fecha=(sandbox.clock.now() - timedelta(minutes=2)).strftime("%Y-%m-%d %H:%M:%S"))
    assert certified.supersedes(pushed) and not pushed.supersedes(certified)


def test_a_poll_of_an_sms_names_its_phone_only_when_it_has_one(sandbox: Sandbox,
                                                                 mensatek_client: MensatekClient) -> None:
    one = mensatek_client.send_sms("SANDBOX", ["34600000001"], "Hola").message_id
    two = mensatek_client.send_sms("SANDBOX", ["34600000002", "34600000404"], "Hola").message_id
    sandbox.clock.advance(2 * sandbox.step_seconds)
    seen = dict(mensatek_sms(mensatek_client)([str(one), str(two)]))
    now = datetime.now(tz=MADRID)
    single, both = (DeliveryReport.from_observation(seen[str(k)], observed_at=now) for k in (one, two))
    assert (single.recipient, single.status.code, single.status.status) == ("34600000001", "11", S.DELIVERED)
    assert both.recipient is None and both.status.failure  # the failed phone fails the send
    with pytest.raises(ValueError, match="aware"):
        DeliveryReport.from_observation(seen[str(one)], observed_at=now.replace(tzinfo=None))
