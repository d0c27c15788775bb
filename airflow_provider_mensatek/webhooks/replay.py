"""Replay one stored report: what ``reports replay`` runs for each report it chose (``webhooks/cli.py``).

In one transaction per report: a body that did not parse is parsed again (a
newer parser may read it; if it now reads as a report already stored, it stays
unparsed and is counted ``duplicate``), then the receiver's steps 2 and 3 run
again (``webhooks/store.py``), the message's state store keys are rewritten even
if the report does not advance it, and the Asset event is emitted again.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from airflow_provider_mensatek.delivery.report import DeliveryReport
from airflow_provider_mensatek.hooks.mensatek_reports import ReceiverSettings
from airflow_provider_mensatek.webhooks.intake import read_body
from airflow_provider_mensatek.webhooks.store import apply_report, run_callbacks
from airflow_provider_mensatek.webhooks.tables import report_table

#: Columns a re-parse fills; the received body, its type and time never change.
_KEPT = ("received_at", "body", "content_type")


def replay_report(report_id: int, settings: ReceiverSettings) -> list[str]:
    """Replay the report; what happened (``replayed``, ``reparsed``, ``event <state>`` ...), or [] if it is gone."""
    from airflow.utils.session import create_session

    t = report_table
    sink: list[Callable[[], None]] = []
    outcomes = ["replayed"]
    with create_session(scoped=False) as session:
        row = session.execute(select(t).where(t.c.id == report_id)).first()
        if row is None:
            return []
        report: DeliveryReport | None = None
        if row.parsed:
            try:
                report = DeliveryReport.from_dict(row.normalised)
            except (ValueError, TypeError):
                outcomes.append("unreadable")
        else:
            intake = read_body(bytes(row.body), row.content_type, row.received_at, max_bytes=max(len(row.body), 1))
            if intake.report is None:
                outcomes.append("unparsed")
            else:
                savepoint = session.begin_nested()
                try:
                    session.execute(update(t).where(t.c.id == report_id).values(
                        **{name: value for name, value in intake.row().items() if name not in _KEPT}))
                    savepoint.commit()
                    report = intake.report
                    outcomes.append("reparsed")
                except IntegrityError:
                    savepoint.rollback()
                    outcomes.append("duplicate")
        advanced, event_state = apply_report(session, report_id, report, settings, sink, refresh_state=True)
        session.execute(update(t).where(t.c.id == report_id)
                        .values(event_state=event_state, advanced=bool(row.advanced) or advanced))
        outcomes.append(f"event {event_state}")
        session.commit()
    run_callbacks(sink)
    return outcomes


__all__ = ["replay_report"]
