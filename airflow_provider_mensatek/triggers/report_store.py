"""Reading the reports the receiver keeps in a channel Asset's state store (``delivery/inbox.py``).

Sync, through Airflow's ``AssetStateStoreAccessor``: a sensor calls it from its
worker, a trigger from the provider's thread pool. Its ``aget`` would suit the
event loop better but fails under ``dag.test()`` (the in-process supervisor has no
async channel), so triggers use ``get`` in the pool as they use the vendor client.
Neither ever opens the metadata database: the reads go through the supervisor.

One read at a time per process (:data:`_READ_LOCK`): ``dag.test()``'s in-process
supervisor answers through a shared queue that two pool threads reading at once
would mix up. The triggerer's own channel is safe to share, and each read is one
short round trip, so the lock costs little there.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from airflow_provider_mensatek.delivery.inbox import JOURNAL_KEY, Journal, MessageState, message_key
from airflow_provider_mensatek.delivery.report_assets import report_asset
from airflow_provider_mensatek.delivery.report_waiting import ReportWait

log = logging.getLogger("airflow_provider_mensatek.triggers.report_store")

_READ_LOCK = threading.Lock()


def _accessor(report_channel: str) -> Any:
    from airflow.sdk.execution_time.context import AssetStateStoreAccessor

    return AssetStateStoreAccessor(name=report_asset(report_channel).name)


def read_journal(report_channel: str) -> Journal:
    """The channel's journal (empty when nothing was written, or the Asset is not active)."""
    try:
        with _READ_LOCK:
            value = _accessor(report_channel).get(JOURNAL_KEY)
        return Journal.from_value(value)
    except ValueError as exc:
        log.warning("Unreadable report journal of %s (%s): reading messages one by one", report_channel, exc)
        return Journal()


def read_states(report_channel: str, keys: list[str]) -> dict[str, MessageState | None]:
    """The latest state of each message (None: no report advanced it yet)."""
    accessor = _accessor(report_channel)
    states: dict[str, MessageState | None] = {}
    for key in keys:
        with _READ_LOCK:
            value = accessor.get(message_key(key))
        try:
            states[key] = MessageState.from_value(value)
        except ValueError as exc:
            log.warning("Unreadable report state of message %s (%s): ignored until it changes", key, exc)
            states[key] = None
    return states


def read_for(wait: ReportWait, report_channel: str, keys: list[str] | None = None) -> tuple[int, dict[str, Any]]:
    """The journal's ``seq``, then the states of ``keys`` (default: what the journal says changed for ``wait``)."""
    journal = read_journal(report_channel)
    return journal.seq, read_states(report_channel, wait.keys_to_read(journal) if keys is None else keys)
