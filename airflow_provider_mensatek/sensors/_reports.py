"""Webhook mode of the Mensatek sensors: which mode, which Asset, and one look at the stored reports.

``wait_for="auto"`` (the default) listens to reports when the Mensatek connection
says the panel sends them (extra ``reports: true``), and polls otherwise;
``"reports"`` and ``"poll"`` force one. The decision is taken when the task runs
(connections are not read while a DAG file is parsed), so a sensor that may
listen declares its channel's Asset as an inlet in any case: Airflow keeps an
Asset's state store only while a parsed DAG declares it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_mensatek.clients.errors import ValidationError
from airflow_provider_mensatek.delivery.wait_modes import REPORT_CHANNELS, WAIT_AUTO, WAIT_POLL, WAIT_REPORTS

if TYPE_CHECKING:
    from airflow_provider_mensatek.delivery.report_waiting import ReportWait
    from airflow_provider_mensatek.delivery.waiting import WaitOutcome

__all__ = ["asset_state_store_available", "expected_phones", "look", "report_inlets", "resolve_wait_for"]

log = logging.getLogger("airflow_provider_mensatek.sensors")


def report_inlets(channel: str, wait_for: str, inlets: Any) -> list[Any]:
    """``inlets`` plus the channel's report Asset when the sensor may listen to reports."""
    listed = list(inlets) if isinstance(inlets, list | tuple) else ([] if inlets is None else [inlets])
    if wait_for == WAIT_POLL or channel not in REPORT_CHANNELS:
        return listed
    from airflow_provider_mensatek.webhooks.assets import ASSETS

    asset = ASSETS[REPORT_CHANNELS[channel]]
    return listed if asset in listed else [*listed, asset]


def asset_state_store_available() -> bool:
    """Whether this Airflow keeps Asset state stores (3.3 and later), where the receiver leaves reports."""
    try:
        from airflow.sdk.execution_time.context import AssetStateStoreAccessor  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_wait_for(wait_for: str, channel: str, conn_id: str) -> str:
    """``"reports"`` or ``"poll"``: ``"auto"`` asks the connection (extra ``reports``).

    On an Airflow without Asset state stores (3.2) there are no reports to read: ``"reports"`` fails
    before any request, naming the version; ``"auto"`` polls, with a warning, as it does for a
    connection whose panel sends no reports.
    """
    if wait_for == WAIT_POLL or channel not in REPORT_CHANNELS:
        return WAIT_POLL
    if wait_for == WAIT_AUTO:
        from airflow_provider_mensatek.hooks.mensatek import MensatekHook

        if not MensatekHook(mensatek_conn_id=conn_id).reports_configured():
            return WAIT_POLL
    if asset_state_store_available():
        return WAIT_REPORTS
    from airflow import __version__

    if wait_for == WAIT_REPORTS:
        raise ValidationError(f"wait_for='reports' needs Airflow 3.3 or later (Asset state stores, where the "
                              f"receiver keeps reports); this is Airflow {__version__}. Use wait_for='poll'.")
    log.warning("The connection %r says Mensatek sends reports, but Airflow %s keeps no Asset state store "
                "(3.3 and later): polling instead", conn_id, __version__)
    return WAIT_POLL


def expected_phones(value: Any, keys: list[str]) -> dict[str, int]:
    """``phones_per_message``: one number for every id, or ``{id: number}``; {} when not given."""
    if value is None or value == "":
        return {}
    if isinstance(value, Mapping):
        items = {str(k): v for k, v in value.items()}
    else:
        items = {key: value for key in keys}
    phones: dict[str, int] = {}
    for key, number in items.items():
        try:
            count = int(str(number).strip())
        except ValueError:
            count = 0
        if isinstance(number, bool) or count < 1:
            raise ValidationError(f"phones_per_message must be a whole number >= 1 (or {{id: number}}), "
                                  f"got {number!r} for {key}")
        phones[key] = count
    return phones


def look(wait: ReportWait, channel: str, now: float, log: logging.Logger | Any) -> WaitOutcome:
    """Read what changed in the store, reconcile what is due, say what is missing; the verdict."""
    from airflow_provider_mensatek.triggers.report_store import read_for

    seq, states = read_for(wait, REPORT_CHANNELS[channel])
    moved = wait.apply(seq, states, now)
    if moved:
        log.info("Reports moved %d message(s) on: %s", len(moved), ", ".join(moved[:10]))
    if wait.reconcile_due(now):
        wait.reconcile(now)
    for text in wait.warnings(now):
        log.warning("%s", text)
    return wait.evaluate()
