"""The report Assets as ``airflow.sdk.Asset`` objects, for DAGs that run on Mensatek's reports.

The receiver emits an event on the Asset of each stored report's channel (names and
URIs in ``delivery/report_assets.py``). Schedule a DAG on one of these::

    from airflow.sdk import DAG, PartitionedAssetTimetable
    from airflow_provider_mensatek.webhooks.assets import CERTIFIED_EMAIL_REPORTS

    with DAG("on_certified", schedule=PartitionedAssetTimetable(assets=CERTIFIED_EMAIL_REPORTS)):
        ...

With the receiver's default ``asset_events: partitioned`` each event's partition key
is the message id (one run per message); with ``plain``, use ``schedule=[Asset]``
and loop over ``triggering_asset_events`` (one run can absorb many events).
"""

from __future__ import annotations

from airflow.sdk import Asset

from airflow_provider_mensatek.delivery.report_assets import REPORT_ASSETS


def _asset(channel: str) -> Asset:
    spec = REPORT_ASSETS[channel]
    return Asset(name=spec.name, uri=spec.uri)


CERTIFIED_EMAIL_REPORTS = _asset("certified_email")
EMAIL_REPORTS = _asset("email")
SMS_REPORTS = _asset("sms")
#: SMSRECIBIDO: replies to your SMS (partition key: the id of the SMS answered) and new messages.
SMS_INBOUND_REPORTS = _asset("sms_inbound")
RCS_REPORTS = _asset("rcs")

#: Channel -> its Asset.
ASSETS: dict[str, Asset] = {channel: _asset(channel) for channel in REPORT_ASSETS}

__all__ = [
    "ASSETS",
    "CERTIFIED_EMAIL_REPORTS",
    "EMAIL_REPORTS",
    "RCS_REPORTS",
    "SMS_INBOUND_REPORTS",
    "SMS_REPORTS",
]
