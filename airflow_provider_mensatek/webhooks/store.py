"""The receiver's one transaction per report: store it, move its message forward, notify. Then answer.

:func:`receive` runs, in one database transaction:

1. insert the report row; a unique-key violation means the same report is
   already stored (a duplicate, perhaps arriving at this very moment on another
   worker: the database waits for that transaction and then refuses this one), so
   nothing else happens and the caller answers 200 as for the original;
2. for a parsed report with a message id: lock the channel's row of
   ``mensatek_channel_seq`` (serialising the advances of that channel across
   workers and processes), and if the report supersedes the latest report of its
   part (``DeliveryReport.supersedes``), point the part at it, take the channel's
   next advance number and, when the Asset is active, write the state store;
3. register the Asset event (``webhooks/publish.py``) and record its outcome;
4. commit; then run the asset manager's after-commit callbacks.

Only after the commit does the caller answer 200. Database errors go up to the
caller, which answers 503 (``webhooks/app.py``). :func:`apply_report` (steps 2 and
3) is what ``reports replay`` runs again for stored reports.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from airflow_provider_mensatek.delivery.inbox import MessageState, report_part
from airflow_provider_mensatek.delivery.report import DeliveryReport
from airflow_provider_mensatek.delivery.report_assets import REPORT_ASSETS
from airflow_provider_mensatek.hooks.mensatek_reports import ReceiverSettings
from airflow_provider_mensatek.webhooks.intake import Intake
from airflow_provider_mensatek.webhooks.publish import emit_event, find_asset, is_active, write_state
from airflow_provider_mensatek.webhooks.tables import (
    EVENT_NONE,
    channel_seq_table,
    message_state_table,
    report_table,
)

log = logging.getLogger("airflow_provider_mensatek.webhooks")

#: Longest wait for a database lock before the report is refused with a 503 (PostgreSQL).
LOCK_WAIT_SECONDS = 10


@dataclass(frozen=True)
class Stored:
    """What storing a report did. ``duplicate``: it was already stored (``report_id`` is the original's)."""

    report_id: int
    duplicate: bool
    advanced: bool
    event_state: str


def receive(intake: Intake, settings: ReceiverSettings) -> Stored:
    """Store ``intake`` durably (module docstring); database errors propagate."""
    from airflow.utils.session import create_session

    sink: list[Callable[[], None]] = []
    try:
        with create_session(scoped=False) as session:
            bound_lock_waits(session)
            stored = store_intake(session, intake, settings, sink)
            session.commit()
    except IntegrityError:
        original = stored_id(intake.dedupe_key)
        if original is None:
            raise  # not our dedupe key: a real failure, not a duplicate
        return Stored(report_id=original, duplicate=True, advanced=False, event_state=EVENT_NONE)
    run_callbacks(sink)
    return stored


def bound_lock_waits(session: Session) -> None:
    """On PostgreSQL, give up a lock after :data:`LOCK_WAIT_SECONDS` (then 503) rather than hold the vendor.

    SQLite waits as long as Airflow's ``[database] sql_alchemy_connect_args``
    ``timeout`` says (pysqlite's default: 5 s), then fails the same way.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"SET LOCAL lock_timeout = '{LOCK_WAIT_SECONDS * 1000}ms'"))


def stored_id(dedupe_key: str) -> int | None:
    from airflow.utils.session import create_session

    with create_session(scoped=False) as session:
        found = session.scalar(select(report_table.c.id).where(report_table.c.dedupe_key == dedupe_key))
    return None if found is None else int(found)


def run_callbacks(sink: list[Callable[[], None]]) -> None:
    """The asset manager's listeners, after the commit; a failing listener does not undo the report."""
    for callback in sink:
        try:
            callback()
        except Exception as exc:
            log.warning("Mensatek reports: an asset listener failed after the report was stored (%s)",
                        type(exc).__name__)


def store_intake(session: Session, intake: Intake, settings: ReceiverSettings,
                 sink: list[Callable[[], None]]) -> Stored:
    """Steps 1 to 3 of the module docstring, in ``session`` (not committed)."""
    result: Any = session.execute(insert(report_table).values(**intake.row(), event_state=EVENT_NONE,
                                                              advanced=False))
    report_id = int(result.inserted_primary_key[0])
    advanced, event_state = apply_report(session, report_id, intake.report, settings, sink)
    if advanced or event_state != EVENT_NONE:
        session.execute(update(report_table).where(report_table.c.id == report_id)
                        .values(advanced=advanced, event_state=event_state))
    return Stored(report_id=report_id, duplicate=False, advanced=advanced, event_state=event_state)


def apply_report(session: Session, report_id: int, report: DeliveryReport | None, settings: ReceiverSettings,
                 sink: list[Callable[[], None]], *, refresh_state: bool = False) -> tuple[bool, str]:
    """Move the report's message forward and emit its event: ``(advanced, event_state)``.

    ``refresh_state`` (replay) rewrites the message's state store keys even when the
    report does not advance it, for a store that missed writes while its Asset was inactive.
    """
    if report is None or report.channel not in REPORT_ASSETS:
        return False, EVENT_NONE
    asset = find_asset(session, report.channel)
    advanced = False
    if report.message_id:
        advanced = _advance(session, report_id, report, report.message_id)
        if (advanced or refresh_state) and asset is not None and is_active(session, asset):
            state = load_state(session, report.channel, report.message_id)
            if state is not None:
                write_state(session, asset.id, _refreshed(session, state) if not advanced else state)
    return advanced, emit_event(session, asset, report, report_id=report_id, advanced=advanced, settings=settings,
                                sink=sink)


def _advance(session: Session, report_id: int, report: DeliveryReport, message_id: str) -> bool:
    """Point the report's part at it if it supersedes the part's latest; under the channel's lock."""
    previous_seq = lock_channel(session, report.channel)
    part = report_part(report)
    ms = message_state_table
    where = (ms.c.channel == report.channel, ms.c.message_id == message_id, ms.c.part == part)
    current = session.execute(
        select(ms.c.report_id, report_table.c.normalised).join(report_table, report_table.c.id == ms.c.report_id)
        .where(*where)).first()
    if current is not None:
        if current.report_id == report_id:
            return False
        latest = _report_or_none(current.normalised)
        if latest is not None and not report.supersedes(latest):
            return False
    seq = previous_seq + 1
    now = datetime.now(timezone.utc)
    session.execute(update(channel_seq_table).where(channel_seq_table.c.channel == report.channel).values(seq=seq))
    if current is None:
        session.execute(insert(ms).values(channel=report.channel, message_id=message_id, part=part,
                                          report_id=report_id, seq=seq, updated_at=now))
    else:
        session.execute(update(ms).where(*where).values(report_id=report_id, seq=seq, updated_at=now))
    return True


def lock_channel(session: Session, channel: str) -> int:
    """The channel's last advance number, its row locked until the transaction ends (created if missing)."""
    table = channel_seq_table
    dialect = session.get_bind().dialect.name
    values = {"channel": channel, "seq": 0}
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        session.execute(pg_insert(table).values(**values).on_conflict_do_nothing(index_elements=["channel"]))
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        session.execute(sqlite_insert(table).values(**values).on_conflict_do_nothing(index_elements=["channel"]))
    elif dialect == "mysql":
        session.execute(insert(table).values(**values).prefix_with("IGNORE"))
    elif session.scalar(select(table.c.seq).where(table.c.channel == channel)) is None:
        session.execute(insert(table).values(**values))
    # SQLite has one writer at a time, taken by the report's insert; elsewhere FOR UPDATE serialises.
    seq = session.scalar(select(table.c.seq).where(table.c.channel == channel).with_for_update())
    return int(seq or 0)


def load_state(session: Session, channel: str, message_id: str) -> MessageState | None:
    """The message's state as the inbox has it: the latest report of every part."""
    ms = message_state_table
    rows = session.execute(
        select(ms.c.part, ms.c.seq, ms.c.report_id, report_table.c.normalised)
        .join(report_table, report_table.c.id == ms.c.report_id)
        .where(ms.c.channel == channel, ms.c.message_id == message_id)).all()
    parts = {row.part: report for row in rows if (report := _report_or_none(row.normalised)) is not None}
    if not parts:
        return None
    newest = max(rows, key=lambda row: row.seq)
    return MessageState(channel=channel, message_id=message_id, seq=int(newest.seq), report_id=int(newest.report_id),
                        parts=parts)


def _refreshed(session: Session, state: MessageState) -> MessageState:
    """The state under a new advance number: a rewrite the journal must announce to readers."""
    seq = lock_channel(session, state.channel) + 1
    session.execute(update(channel_seq_table).where(channel_seq_table.c.channel == state.channel).values(seq=seq))
    return MessageState(channel=state.channel, message_id=state.message_id, seq=seq, report_id=state.report_id,
                        parts=state.parts)


def _report_or_none(normalised: Any) -> DeliveryReport | None:
    try:
        return DeliveryReport.from_dict(normalised)
    except (ValueError, TypeError):
        # Stored by a version whose layout this one cannot read: any new report supersedes it.
        return None


__all__ = [
    "Stored",
    "apply_report",
    "load_state",
    "lock_channel",
    "receive",
    "run_callbacks",
    "store_intake",
    "stored_id",
]
