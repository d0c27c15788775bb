"""A received body -> what the receiver stores about it: the parsed report, or the raw body and why not.

Airflow-free in practice (no Airflow import), but it belongs to the receiver:
it decides what the inbox row of a body holds. A body that does not parse, or
whose ids do not fit the table's columns, is still stored (raw, with a reason
naming fields and limits but no value) and acknowledged: the vendor documents no
redelivery, and a later version of the parser may read it (``reports replay``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from airflow_provider_mensatek.clients.errors import ReportParseError
from airflow_provider_mensatek.clients.mensatek.reports import parse_report
from airflow_provider_mensatek.delivery.report import CHANNEL_UNKNOWN, DeliveryReport
from airflow_provider_mensatek.webhooks.tables import (
    MAX_CONTENT_TYPE_CHARS,
    MAX_ID_CHARS,
    MAX_PARSE_ERROR_CHARS,
)

RAW_KEY_PREFIX = "raw:v1:"


@dataclass(frozen=True)
class Intake:
    """One received body, read: ``report`` is None when it did not parse (``parse_error`` says why)."""

    body: bytes
    content_type: str | None
    received_at: datetime
    dedupe_key: str
    report: DeliveryReport | None
    parse_error: str | None

    def __repr__(self) -> str:  # the body holds addresses and message text
        return f"Intake(dedupe_key={self.dedupe_key!r}, parsed={self.report is not None}, bytes={len(self.body)})"

    @property
    def channel(self) -> str | None:
        """The report's channel when it has an Asset (``delivery/report_assets.py``), else None."""
        if self.report is None or self.report.channel == CHANNEL_UNKNOWN:
            return None
        return self.report.channel

    def row(self) -> dict[str, Any]:
        """The ``mensatek_report`` columns this body fills (the receiver sets the event columns)."""
        report = self.report
        content_type = (self.content_type or "")[:MAX_CONTENT_TYPE_CHARS] or None
        common = {"received_at": self.received_at, "dedupe_key": self.dedupe_key, "body": self.body,
                  "content_type": content_type}
        if report is None:
            return {**common, "parsed": False, "parse_error": self.parse_error, "service": None, "channel": None,
                    "message_id": None, "code": None, "rank": None, "occurred_at": None, "reference": None,
                    "normalised": None}
        return {**common, "parsed": True, "parse_error": None, "service": report.service, "channel": report.channel,
                "message_id": report.message_id, "code": report.status.code, "rank": report.rank,
                "occurred_at": report.occurred_at, "reference": report.reference,
                "normalised": report.to_dict(personal=True)}


def raw_key(content_type: str | None, body: bytes) -> str:
    """The dedupe key of a body that did not parse: the same bytes with the same type are one report."""
    digest = hashlib.sha256()
    digest.update((content_type or "").encode("utf-8", "replace"))
    digest.update(b"\0")
    digest.update(body)
    return RAW_KEY_PREFIX + digest.hexdigest()


def read_body(body: bytes, content_type: str | None, received_at: datetime, *, max_bytes: int) -> Intake:
    """Parse ``body``; never raises for what the vendor (or anyone holding the credential) sent."""
    try:
        report: DeliveryReport | None = DeliveryReport.from_mensatek(
            parse_report(content_type, body, max_bytes=max_bytes))
        error = _unfit(report) if report is not None else None
    except ReportParseError as exc:
        report, error = None, exc.message
    except (ValueError, TypeError, OverflowError) as exc:
        # Not a message the parser wrote: it may quote a value, so only its type is kept.
        report, error = None, f"unreadable report ({type(exc).__name__})"
    if error is not None:
        return Intake(body=body, content_type=content_type, received_at=received_at,
                      dedupe_key=raw_key(content_type, body), report=None, parse_error=error[:MAX_PARSE_ERROR_CHARS])
    assert report is not None
    return Intake(body=body, content_type=content_type, received_at=received_at, dedupe_key=report.dedupe_key,
                  report=report, parse_error=None)


def _unfit(report: DeliveryReport) -> str | None:
    for name, value in (("Servicio", report.service), ("idMensaje", report.message_id),
                        ("status code", report.status.code)):
        if value is not None and len(value) > MAX_ID_CHARS:
            return f"{name} is longer than {MAX_ID_CHARS} characters"
    return None


__all__ = ["RAW_KEY_PREFIX", "Intake", "raw_key", "read_body"]
