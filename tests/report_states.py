"""The report state store in tests: written as the receiver writes it, read as a task or trigger reads it.

:class:`StateStoreWriter` writes a channel Asset's state store in the tests' Airflow
database by the contract of ``delivery/inbox.py`` (``m:<id>`` and ``_journal``,
only when a report advances its message), through Airflow's state store backend.
:class:`StateStoreReceiver` is a loopback HTTP endpoint the sandbox pushes its
reports to (``sandbox.configure_reports(receiver.url)``); it writes each one with
the writer, or loses it on purpose (:attr:`StateStoreReceiver.lose`: a report the
vendor never delivered). The ``report_reads`` fixture lets code outside a task
read the store as a task does: through an in-process supervisor and Airflow's
Execution API, as ``dag.test()`` runs tasks.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from airflow_provider_mensatek.clients.mensatek.reports import parse_report
from airflow_provider_mensatek.delivery.inbox import JOURNAL_KEY, Journal, MessageState, message_key, report_part
from airflow_provider_mensatek.delivery.report import DeliveryReport
from airflow_provider_mensatek.delivery.report_assets import report_asset


def activate_asset(channel: str) -> int:
    """The id of the channel's Asset, created and marked active as a parsed DAG declaring it would; its store
    emptied."""
    from airflow.models.asset import AssetActive, AssetModel
    from airflow.state import AssetScope, get_state_backend
    from airflow.utils.session import create_session
    from sqlalchemy import select

    spec = report_asset(channel)
    with create_session() as session:
        model = session.scalar(select(AssetModel).where(AssetModel.name == spec.name, AssetModel.uri == spec.uri))
        if model is None:
            model = AssetModel(name=spec.name, uri=spec.uri, group="asset")
            session.add(model)
            session.flush()
        if session.scalar(select(AssetActive).where(AssetActive.name == spec.name,
                                                    AssetActive.uri == spec.uri)) is None:
            session.add(AssetActive.for_asset(model))
        get_state_backend().clear(AssetScope(asset_id=model.id), session=session)
        return int(model.id)


class StateStoreWriter:
    """Writes one channel's report state store as the receiver does (module docstring)."""

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self.asset_id = activate_asset(channel)
        self.writes = 0
        self._lock = threading.Lock()
        self._report_ids = 0

    def write(self, report: DeliveryReport) -> bool:
        """Apply one report; whether it advanced its message (only then is anything written)."""
        from airflow._shared.state import AssetStateStoreWriterKind
        from airflow.state import AssetScope, get_state_backend
        from airflow.utils.session import create_session

        assert report.message_id is not None and report.channel == self.channel
        backend, scope = get_state_backend(), AssetScope(asset_id=self.asset_id)
        with self._lock, create_session() as session:
            self._report_ids += 1
            journal = Journal.from_value(backend.get(scope, JOURNAL_KEY, session=session))
            current = MessageState.from_value(backend.get(scope, message_key(report.message_id), session=session))
            seq = journal.seq + 1
            part = report_part(report)
            if current is None:
                state: MessageState | None = MessageState(channel=self.channel, message_id=report.message_id,
                                                          seq=seq, report_id=self._report_ids,
                                                          parts={part: report})
            else:
                state = current.advance(part, report, seq=seq, report_id=self._report_ids)
            if state is None:
                return False
            for key, value in ((state.key, state.to_json()), (JOURNAL_KEY, journal.append(seq, state.message_id)
                                                                 .to_json())):
                backend.set_asset_state_store(scope, key, value, kind=AssetStateStoreWriterKind.API,
                                              session=session)
            self.writes += 1
            return True

    def write_payload(self, payload: dict[str, str]) -> bool:
        """A report as the vendor posts it (JSON fields)."""
        parsed = parse_report("application/json", json.dumps(payload).encode())
        return self.write(DeliveryReport.from_mensatek(parsed))


class StateStoreReceiver:
    """Receives the sandbox's report pushes and writes them to the state store (module docstring)."""

    def __init__(self, *channels: str) -> None:
        self.writers = {channel: StateStoreWriter(channel) for channel in channels}
        #: Message ids whose reports are lost: answered 200, never written (the vendor never sent them).
        self.lose: set[str] = set()
        self.received: list[DeliveryReport] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                report = DeliveryReport.from_mensatek(parse_report(self.headers.get("Content-Type", ""), body))
                receiver.received.append(report)
                writer = receiver.writers.get(report.channel)
                if writer is not None and report.message_id not in receiver.lose:
                    writer.write(report)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/mensatek/reports"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class SerialComms:
    """Airflow's in-process supervisor comms, one request at a time (the provider reads from pool threads);
    :attr:`keys_read` lists the state store keys asked for, in order."""

    def __init__(self, comms: Any) -> None:
        self._comms = comms
        self._lock = threading.Lock()
        self.keys_read: list[str] = []

    def send(self, msg: Any) -> Any:
        with self._lock:
            if type(msg).__name__.startswith("GetAssetStateStore"):
                self.keys_read.append(msg.key)
            return self._comms.send(msg)

    def wait_idle(self) -> None:
        """Return once no read is in progress."""
        with self._lock:
            pass


@pytest.fixture
def report_reads(airflow_db: None) -> Iterator[SerialComms]:
    """Reads of the state store work in this test as in a task: an in-process supervisor, the Execution API."""
    import psutil
    import structlog
    from airflow.sdk.execution_time.supervisor import (
        InProcessSupervisorComms,
        InProcessTestSupervisor,
        set_supervisor_comms,
    )
    from uuid6 import uuid7

    supervisor = InProcessTestSupervisor(id=uuid7(), pid=os.getpid(), process=psutil.Process(),
                                         process_log=structlog.get_logger(logger_name="task").bind(),
                                         client=InProcessTestSupervisor._api_client())
    supervisor.comms = InProcessSupervisorComms(supervisor=supervisor)
    comms = SerialComms(supervisor.comms)
    with set_supervisor_comms(comms):
        yield comms


@pytest.fixture
def state_receiver(airflow_db: None) -> Iterator[StateStoreReceiver]:
    receiver = StateStoreReceiver("certified_email", "sms")
    yield receiver
    receiver.close()

