"""What a stored report tells the rest of Airflow: the channel Asset's state store and an Asset event.

Both happen in the receiver's transaction (``webhooks/store.py``), so they commit
or roll back with the report row. Airflow looks an Asset up by name *and* URI
(``delivery/report_assets.py``); it exists only once a parsed DAG declares it.
Without it Airflow would drop the event with a warning: the receiver skips it
instead, marks the report ``no-consumer`` and warns once per channel and process.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from airflow_provider_mensatek.delivery.inbox import JOURNAL_KEY, Journal, MessageState
from airflow_provider_mensatek.delivery.report import DeliveryReport
from airflow_provider_mensatek.delivery.report_assets import event_extra, partition_key, report_asset
from airflow_provider_mensatek.hooks.mensatek_reports import ReceiverSettings
from airflow_provider_mensatek.webhooks.tables import EVENT_EMITTED, EVENT_FAILED, EVENT_NO_CONSUMER, EVENT_OFF

log = logging.getLogger("airflow_provider_mensatek.webhooks")

_warned_no_consumer: set[str] = set()


def find_asset(session: Session, channel: str) -> Any | None:
    """The channel's ``AssetModel``, or None when no parsed DAG has ever declared it."""
    from airflow.models.asset import AssetModel

    spec = report_asset(channel)
    return session.scalar(select(AssetModel).where(AssetModel.name == spec.name, AssetModel.uri == spec.uri))


def is_active(session: Session, asset: Any) -> bool:
    """Whether a parsed DAG declares the Asset now: only then does its state store answer readers."""
    from airflow.models.asset import AssetActive

    found = session.scalar(select(AssetActive.name).where(AssetActive.name == asset.name,
                                                          AssetActive.uri == asset.uri))
    return found is not None


def write_state(session: Session, asset_id: int, state: MessageState) -> None:
    """``m:<id>`` and ``_journal`` of the channel's state store, for the advance number ``state.seq``.

    A journal that does not end at the previous advance (the Asset was inactive,
    its keys deleted, some advances not written) restarts, so readers learn they
    must read their keys one by one (``Journal.changed_since`` returns None).
    """
    from airflow._shared.state import AssetStateStoreWriterKind
    from airflow.state import AssetScope, get_state_backend
    from airflow.state.metastore import MetastoreBackend

    backend = get_state_backend()
    scope = AssetScope(asset_id=asset_id)
    try:
        journal = Journal.from_value(backend.get(scope, JOURNAL_KEY, session=session))
    except ValueError:
        journal = Journal()
    if journal.seq != state.seq - 1:
        journal = Journal()
    journal = journal.append(state.seq, state.message_id)
    for key, value in ((state.key, state.to_json()), (JOURNAL_KEY, journal.to_json())):
        if isinstance(backend, MetastoreBackend):
            backend.set_asset_state_store(scope, key, value, kind=AssetStateStoreWriterKind.API, session=session)
        else:
            # A custom backend may keep values elsewhere: not in this transaction, but still written.
            backend.set(scope, key, value, session=session)


def emit_event(session: Session, asset: Any | None, report: DeliveryReport, *, report_id: int, advanced: bool,
               settings: ReceiverSettings, sink: list[Callable[[], None]]) -> str:
    """Register the report's Asset event (module docstring); the report's new ``event_state``.

    The event is registered in a savepoint: if Airflow's asset manager fails for
    any reason but the database's, the report is still stored (``failed``, to
    replay). Database errors go up: the whole report is then refused with a 503.
    """
    if settings.asset_events == "off":
        return EVENT_OFF
    if asset is None:
        if report.channel not in _warned_no_consumer:
            _warned_no_consumer.add(report.channel)
            spec = report_asset(report.channel)
            log.warning("Mensatek reports: no DAG declares the Asset %s (%s); reports of this channel are stored "
                        "but emit no event until one does (then `reports replay`)", spec.name, spec.uri)
        return EVENT_NO_CONSUMER
    from airflow.assets.manager import asset_manager

    extra = event_extra(report, report_id=report_id, advanced=advanced, personal=settings.personal_data)
    key = partition_key(report.message_id, report_id) if settings.asset_events == "partitioned" else None
    callbacks: list[Callable[[], None]] = []
    savepoint = session.begin_nested()
    try:
        asset_manager.register_asset_change(asset=asset, extra=extra, partition_key=key, session=session,
                                            callback_sink=callbacks)
        savepoint.commit()
    except SQLAlchemyError:
        raise
    except Exception as exc:  # an asset manager (pluggable) failing must not lose the report
        savepoint.rollback()
        log.error("Mensatek reports: the Asset event of report %s failed (%s); the report is stored, "
                  "`reports replay --id %s` emits it again", report_id, type(exc).__name__, report_id)
        return EVENT_FAILED
    sink.extend(callbacks)
    return EVENT_EMITTED


def forget_warnings() -> None:
    """For tests: warn again about channels without consumers."""
    _warned_no_consumer.clear()


__all__ = ["emit_event", "find_asset", "forget_warnings", "is_active", "write_state"]
