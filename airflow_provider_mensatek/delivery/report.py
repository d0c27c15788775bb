"""The one report type shared by status polls and vendor webhooks: :class:`DeliveryReport`.

A webhook report (:meth:`DeliveryReport.from_mensatek`) and what a polling fetcher
observes (:meth:`DeliveryReport.from_observation`) become the same thing: a
message's channel and id, its status in the provider's vocabulary (the
:class:`VendorStatus` of ``delivery/statuses.py``, vendor code verbatim), when it
happened, where it came from, and a dedupe key. Receivers store them, sensors
read them, and :meth:`DeliveryReport.to_dict` is what an Asset event carries.

Personal data. :meth:`to_dict` leaves out by default the recipient's address or
phone and, for a received SMS, the sending phone and the text: asset events
are readable by every Airflow user allowed to see assets, and ``airflow db
clean`` is their only retention. Everything else is the vendor's own or the
sender's (ids, codes, the reference the sender chose). ``to_dict(personal=True)``
adds them, for stores a deployment protects as it protects the reports themselves.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from airflow_provider_mensatek.clients.mensatek.reports import MensatekReport
from airflow_provider_mensatek.clients.validation import MADRID
from airflow_provider_mensatek.delivery.rank import order_key, status_rank
from airflow_provider_mensatek.delivery.statuses import DeliveryStatus, VendorStatus, classify
from airflow_provider_mensatek.delivery.waiting import Observation

SOURCE_WEBHOOK = "webhook"
SOURCE_POLL = "poll"
SOURCES = (SOURCE_WEBHOOK, SOURCE_POLL)

#: The channel of a report whose ``Servicio`` this provider does not know: stored, in no Asset.
CHANNEL_UNKNOWN = "unknown"
#: Version of the :meth:`DeliveryReport.to_dict` layout.
DICT_VERSION = 1
POLL_KEY_PREFIX = "poll:v1:"

_PERSONAL = ("recipient", "reply_sender", "reply_text")
_OPENED = frozenset({DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.OPENED})


@dataclass(frozen=True)
class DeliveryReport:
    """One status report about one message, from a webhook or a poll.

    ``channel`` is ``certified_email``, ``email``, ``sms``, ``sms_inbound`` or
    ``rcs`` (with ``vendor`` ``"mensatek"``; a LegallyMail poll gives ``vendor``
    ``"legallymail"`` and its channel), or :data:`CHANNEL_UNKNOWN`. ``message_id``
    is the vendor's id as text; for ``sms_inbound`` it is the id of the SMS the
    received one replies to (None for a message the customer originated).
    ``occurred_at`` is when the vendor says the status changed (aware), or when a
    poll saw it. ``reply_*`` and ``original_certified`` are set for ``sms_inbound`` only.
    """

    channel: str
    message_id: str | None
    status: VendorStatus
    source: str
    dedupe_key: str
    occurred_at: datetime | None = None
    reference: str | None = None
    recipient: str | None = None
    vendor: str = "mensatek"
    #: The vendor's ``Servicio`` (webhooks only).
    service: str | None = None
    campaign_id: str | None = None
    reply_text: str | None = None
    reply_sender: str | None = None
    original_certified: bool | None = None

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, not {self.source!r}")
        if self.occurred_at is not None and self.occurred_at.utcoffset() is None:
            raise ValueError("occurred_at must be an aware datetime")

    def __repr__(self) -> str:
        # No personal field: reprs end up in logs.
        return (f"DeliveryReport(channel={self.channel!r}, message_id={self.message_id!r}, "
                f"status={self.status.describe()!r}, source={self.source!r})")

    # -- ordering ---------------------------------------------------------------

    @property
    def rank(self) -> int:
        """:func:`~airflow_provider_mensatek.delivery.rank.status_rank` of the status."""
        return status_rank(self.status)

    @property
    def order_key(self) -> tuple[int, float, tuple[int, int, str], str]:
        """Rank, then time, then code, then dedupe key: the latest report of a message is the maximum."""
        return order_key(self.status, self.occurred_at, self.dedupe_key)

    def supersedes(self, other: DeliveryReport) -> bool:
        """True when this report should replace ``other`` as its message's latest status."""
        return self.order_key > other.order_key

    # -- JSON ---------------------------------------------------------------------

    def to_dict(self, *, personal: bool = False) -> dict[str, Any]:
        """JSON-able; the personal fields (module docstring) only with ``personal=True``."""
        data: dict[str, Any] = {
            "version": DICT_VERSION, "vendor": self.vendor, "channel": self.channel, "message_id": self.message_id,
            "status": self.status.to_dict(), "rank": self.rank,
            "occurred_at": self.occurred_at.isoformat() if self.occurred_at is not None else None,
            "source": self.source, "reference": self.reference, "dedupe_key": self.dedupe_key,
            "service": self.service, "campaign_id": self.campaign_id, "original_certified": self.original_certified,
        }
        if personal:
            data.update({name: getattr(self, name) for name in _PERSONAL})
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DeliveryReport:
        """Back from :meth:`to_dict` (either form; the personal fields are None when left out)."""
        if not isinstance(data, Mapping) or data.get("version") != DICT_VERSION:
            raise ValueError(f"not a version {DICT_VERSION} DeliveryReport dict")
        status = data.get("status")
        if not isinstance(status, Mapping):
            raise ValueError("status must be an object")
        occurred = data.get("occurred_at")
        return cls(
            channel=_required(data, "channel"), message_id=_optional(data, "message_id"),
            status=_status_from_dict(status), source=_required(data, "source"),
            dedupe_key=_required(data, "dedupe_key"),
            occurred_at=datetime.fromisoformat(_required(data, "occurred_at")) if occurred is not None else None,
            reference=_optional(data, "reference"), recipient=_optional(data, "recipient"),
            vendor=_required(data, "vendor"), service=_optional(data, "service"),
            campaign_id=_optional(data, "campaign_id"), reply_text=_optional(data, "reply_text"),
            reply_sender=_optional(data, "reply_sender"), original_certified=_bool(data, "original_certified"),
        )

    # -- constructors ---------------------------------------------------------------

    @classmethod
    def from_mensatek(cls, report: MensatekReport) -> DeliveryReport:
        """A webhook report. An unknown service or code becomes an ``unknown`` status, code verbatim.

        An email report counting openings (``Aperturas`` above 0) has reached
        "opened" whatever its code: the email document sends an opening as a
        report ("you will not receive the opening reports" without tracking).
        """
        channel = report.channel or CHANNEL_UNKNOWN
        if channel == "sms_inbound":
            status = VendorStatus(channel="mensatek.sms_inbound", code=None, text="SMS received",
                                  status=DeliveryStatus.INFO, terminal=False, failure=False)
            when = (datetime.fromtimestamp(report.timestamp, tz=MADRID)
                    if report.timestamp is not None and 0 <= report.timestamp < 2**33 else report.date)
            return cls(channel=channel, message_id=report.message_id, status=status, source=SOURCE_WEBHOOK,
                       dedupe_key=report.dedupe_key, occurred_at=when, reference=report.reference,
                       recipient=report.recipient, service=report.service, reply_text=report.text,
                       reply_sender=report.sender, original_certified=report.original_certified)
        if channel == CHANNEL_UNKNOWN:
            status = VendorStatus(channel=f"mensatek.{CHANNEL_UNKNOWN}", code=report.code, text=None,
                                  status=DeliveryStatus.UNKNOWN, terminal=False, failure=False, known=False)
        else:
            status = classify(f"mensatek.{channel}", report.code)
            if channel == "email" and (report.opens or 0) > 0 and status.known and not status.failure:
                status = replace(status, reached=status.reached | _OPENED)
        return cls(channel=channel, message_id=report.message_id, status=status, source=SOURCE_WEBHOOK,
                   dedupe_key=report.dedupe_key, occurred_at=report.date, reference=report.reference,
                   recipient=report.recipient, service=report.service, campaign_id=report.campaign_id)

    @classmethod
    def from_observation(cls, observation: Observation, *, observed_at: datetime) -> DeliveryReport:
        """What a polling fetcher (``delivery/fetchers.py``) saw, at ``observed_at`` (aware).

        The channel comes from the status (``mensatek.sms`` -> vendor ``mensatek``,
        channel ``sms``). The recipient is the report's own (certified email), or the
        phone of a one-phone SMS. A poll's dedupe key is the message, recipient and
        status code(s): seeing the same status again is the same observation,
        seeing a new one is a new report.
        """
        vendor, _, channel = observation.status.channel.partition(".")
        report = observation.report
        recipient = report.get("recipient") if isinstance(report.get("recipient"), str) else None
        entries = report.get("entries")
        if recipient is None and isinstance(entries, list) and len(entries) == 1 and isinstance(entries[0], Mapping):
            phone = entries[0].get("phone")
            recipient = phone if isinstance(phone, str) and phone else None
        reference = report.get("reference") if isinstance(report.get("reference"), str) else None
        parts = [vendor, channel, observation.key, recipient, observation.status.code,
                 observation.status.status.value]
        encoded = json.dumps(parts, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return cls(channel=channel or CHANNEL_UNKNOWN, message_id=observation.key, status=observation.status,
                   source=SOURCE_POLL, dedupe_key=POLL_KEY_PREFIX + hashlib.sha256(encoded).hexdigest(),
                   occurred_at=observed_at, reference=reference, recipient=recipient, vendor=vendor)


def _status_from_dict(data: Mapping[str, Any]) -> VendorStatus:
    """The status as it was decided when the report was stored, even if the tables changed since."""
    reached = data.get("reached", ())
    if not isinstance(reached, list | tuple):
        raise ValueError("status.reached must be a list")
    return VendorStatus(
        channel=_required(data, "channel"), code=_optional(data, "code"), text=_optional(data, "text"),
        status=DeliveryStatus(_required(data, "status")),
        terminal=bool(_bool(data, "terminal")), failure=bool(_bool(data, "failure")),
        reached=frozenset(DeliveryStatus(value) for value in reached),
        known=_bool(data, "known") is not False,
    )


def _required(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str):
        raise ValueError(f"{name} must be text, not {type(value).__name__}")
    return value


def _optional(data: Mapping[str, Any], name: str) -> str | None:
    return None if data.get(name) is None else _required(data, name)


def _bool(data: Mapping[str, Any], name: str) -> bool | None:
    value = data.get(name)
    if value is not None and not isinstance(value, bool):
        raise ValueError(f"{name} must be true, false or null")
    return value


__all__ = [
    "CHANNEL_UNKNOWN",
    "DICT_VERSION",
    "POLL_KEY_PREFIX",
    "SOURCES",
    "SOURCE_POLL",
    "SOURCE_WEBHOOK",
    "DeliveryReport",
]
