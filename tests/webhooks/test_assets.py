"""The Assets DAG authors schedule on are the ones the receiver emits on."""

from __future__ import annotations

from airflow.sdk import Asset

from airflow_provider_mensatek.delivery.report_assets import REPORT_ASSETS
from airflow_provider_mensatek.webhooks import assets


def test_every_channel_asset_matches_the_receivers_name_and_uri() -> None:
    assert set(assets.ASSETS) == set(REPORT_ASSETS)
    for channel, asset in assets.ASSETS.items():
        assert isinstance(asset, Asset)
        assert (asset.name, asset.uri) == (REPORT_ASSETS[channel].name, REPORT_ASSETS[channel].uri)
    assert assets.CERTIFIED_EMAIL_REPORTS == assets.ASSETS["certified_email"]
    assert assets.SMS_INBOUND_REPORTS.uri == "mensatek://reports/sms_inbound"
