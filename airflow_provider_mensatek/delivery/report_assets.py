"""The Airflow Assets that Mensatek's real-time reports update: one per channel, named here once.

The receiver (``webhooks/``) emits an Asset event for every report it stores, on
the Asset of the report's channel; DAGs schedule on those Assets
(``webhooks/assets.py`` has them as ready ``airflow.sdk.Asset`` objects) and the
sensors in webhook mode read the Asset's state store (``delivery/inbox.py``).
All three must agree on the name *and* the URI (Airflow looks an Asset up by
both), so they come from this Airflow-free table.

What an event carries (:func:`event_extra`): the report as
:meth:`DeliveryReport.to_dict` lays it out (without personal data unless the
receiver's connection says ``personal_data``), plus ``report_id`` (the row in the
receiver's table, for ``reports list --id``) and ``advanced`` (whether this
report moved its message's latest status; a late or repeated status does not).
A consumer reads it back with :func:`report_from_event`.

The partition key (:func:`partition_key`) is the vendor's message id, so a DAG
scheduled with ``PartitionedAssetTimetable`` gets one run per message. A received
SMS that answers nothing (``SMSRECIBIDO`` without ``idM``) has no message id: its
key is ``report:<report_id>``, one run per received SMS.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from airflow_provider_mensatek.clients.mensatek.reports import CHANNEL_BY_SERVICE

if TYPE_CHECKING:
    # DeliveryReport brings delivery.statuses and, through it, the vendor clients: DAG files import this
    # module (through webhooks/assets.py) at every parse, and only the table above is needed there.
    from airflow_provider_mensatek.delivery.report import DeliveryReport

#: The URI scheme of the report Assets (no normaliser is registered: Airflow only lowercases it).
URI_SCHEME = "mensatek"
NAME_PREFIX = "mensatek_reports_"
#: Partition key of a report without a message id (an SMS received that answers nothing).
REPORT_KEY_PREFIX = "report:"
#: Airflow's ``asset_event.partition_key`` column is 250 characters.
MAX_PARTITION_KEY = 250


@dataclass(frozen=True)
class ReportAsset:
    """The Asset of one channel: ``name`` and ``uri`` exactly as the receiver emits them."""

    channel: str
    name: str
    uri: str


#: Channel (``certified_email``, ``email``, ``sms``, ``sms_inbound``, ``rcs``) -> its Asset.
REPORT_ASSETS: Mapping[str, ReportAsset] = MappingProxyType({
    channel: ReportAsset(channel=channel, name=f"{NAME_PREFIX}{channel}", uri=f"{URI_SCHEME}://reports/{channel}")
    for channel in CHANNEL_BY_SERVICE.values()
})


def report_asset(channel: str) -> ReportAsset:
    """The Asset of ``channel``; ``ValueError`` naming the known channels otherwise."""
    try:
        return REPORT_ASSETS[channel]
    except KeyError:
        raise ValueError(f"no report Asset for channel {channel!r}; channels: {', '.join(REPORT_ASSETS)}") from None


def partition_key(message_id: str | None, report_id: int) -> str:
    """The partition key of a report's event: its message id, else ``report:<report_id>``."""
    if message_id:
        if len(message_id) > MAX_PARTITION_KEY:
            raise ValueError(f"a message id longer than {MAX_PARTITION_KEY} characters is no partition key")
        return message_id
    return f"{REPORT_KEY_PREFIX}{report_id}"


def event_extra(report: DeliveryReport, *, report_id: int, advanced: bool, personal: bool) -> dict[str, Any]:
    """The ``extra`` of the report's Asset event (module docstring)."""
    return {**report.to_dict(personal=personal), "report_id": report_id, "advanced": advanced}


def report_from_event(extra: Mapping[str, Any]) -> DeliveryReport:
    """The report an event carries (``event.extra`` of a ``triggering_asset_events`` entry)."""
    from airflow_provider_mensatek.delivery.report import DeliveryReport

    return DeliveryReport.from_dict(extra)


__all__ = [
    "MAX_PARTITION_KEY",
    "NAME_PREFIX",
    "REPORT_ASSETS",
    "REPORT_KEY_PREFIX",
    "URI_SCHEME",
    "ReportAsset",
    "event_extra",
    "partition_key",
    "report_asset",
    "report_from_event",
]
