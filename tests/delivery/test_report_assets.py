"""The report Assets: one per channel, the same name and URI everywhere, and what their events carry."""

from __future__ import annotations

import json

import pytest

from airflow_provider_mensatek.clients.mensatek.reports import CHANNEL_BY_SERVICE, parse_report
from airflow_provider_mensatek.delivery.report import DeliveryReport
from airflow_provider_mensatek.delivery.report_assets import (
    REPORT_ASSETS,
    event_extra,
    partition_key,
    report_asset,
    report_from_event,
)
from tests.clients.mensatek.test_reports import SAMPLES


def test_every_channel_has_one_asset_with_a_stable_name_and_uri() -> None:
    assert set(REPORT_ASSETS) == set(CHANNEL_BY_SERVICE.values())
    certified = report_asset("certified_email")
    assert (certified.name, certified.uri) == ("mensatek_reports_certified_email", "mensatek://reports/certified_email")
    assert report_asset("sms_inbound").uri == "mensatek://reports/sms_inbound"
    assert len({a.name for a in REPORT_ASSETS.values()}) == len({a.uri for a in REPORT_ASSETS.values()}) == 5
    with pytest.raises(ValueError, match="channels: certified_email"):
        report_asset("unknown")


def test_the_names_survive_airflows_own_asset_rules() -> None:
    from airflow.sdk import Asset

    for asset in REPORT_ASSETS.values():
        built = Asset(name=asset.name, uri=asset.uri)
        assert (built.name, built.uri) == (asset.name, asset.uri)


def test_the_partition_key_is_the_message_id_or_the_report() -> None:
    assert partition_key("10573758", 12) == "10573758"
    assert partition_key(None, 12) == "report:12"
    with pytest.raises(ValueError, match="250"):
        partition_key("9" * 251, 1)


@pytest.mark.parametrize("personal", [False, True])
def test_an_events_extra_reads_back_as_the_report(personal: bool) -> None:
    report = DeliveryReport.from_mensatek(parse_report("application/json", SAMPLES["SMSRECIBIDO"].encode()))
    extra = event_extra(report, report_id=42, advanced=True, personal=personal)
    assert extra["report_id"] == 42 and extra["advanced"] is True
    json.dumps(extra)
    back = report_from_event(extra)
    assert (back.channel, back.message_id, back.dedupe_key) == (report.channel, report.message_id, report.dedupe_key)
    assert (back.reply_text is not None) is personal and ("34600000000" in json.dumps(extra)) is personal
