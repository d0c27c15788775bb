"""Stored reports reach DAGs as Asset events, and waits through the Asset state store, in a real deployment.

The consumer DAGs are in ``tests/webhooks/dags/reports_consumers.py``: certified
email has a partitioned consumer, SMS a plain one, email a paused partitioned one,
SMS received is declared as an inlet only, RCS by no DAG.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from airflow_provider_mensatek.delivery.inbox import JOURNAL_KEY, Journal, MessageState, message_key, part_of
from airflow_provider_mensatek.delivery.report_assets import report_asset
from tests.webhooks.conftest import Receiver
from tests.webhooks.support import CONN_ID, connection_json, post, wait_until
from tests.webhooks.test_receiver_http import unique_sms

pytestmark = pytest.mark.deployment

_ids = iter(range(1, 10_000_000))
CONNECTION = f"AIRFLOW_CONN_{CONN_ID.upper()}"


def new_id(prefix: str) -> str:
    return f"{prefix}{next(_ids):07d}"


def certified(message_id: str, code: str, minute: int, recipient: str = "ana@example.com") -> dict[str, str]:
    return {"Servicio": "EMAILCERTIFICADO", "Resultado": code, "Remitente": "yo@empresa.example",
            "Destinatario": recipient, "Fecha": f"2024-03-01 10:{minute:02d}:00", "Asunto": "Asunto",
            "idMensaje": message_id, "Referencia": "dag.task.run"}


def stored_ids(receiver: Receiver, message_id: str) -> list[int]:
    return [row["id"] for row in receiver.inbox.reports("message_id = :m", m=message_id)]


def finished_runs(receiver: Receiver, dag_id: str) -> list[dict[str, Any]]:
    runs = receiver.deployment.api("GET", f"dags/{dag_id}/dagRuns", params={"limit": 1000})["dag_runs"]
    return [run for run in runs if run["state"] in ("success", "failed")]


def seen(receiver: Receiver, dag_id: str, task_id: str, run: dict[str, Any]) -> dict[str, Any]:
    deployment = receiver.deployment
    assert run["state"] == "success", deployment.explain(deployment.dag_run(dag_id, run["dag_run_id"]))
    return dict(receiver.deployment.xcom(dag_id, run["dag_run_id"], task_id))


def events_seen(receiver: Receiver, dag_id: str, task_id: str, partition_key: str | None) -> list[dict[str, Any]]:
    """Every event the DAG's finished runs for ``partition_key`` were triggered by."""
    found: list[dict[str, Any]] = []
    for run in finished_runs(receiver, dag_id):
        if partition_key is None or run["partition_key"] == partition_key:
            found += seen(receiver, dag_id, task_id, run)["events"]
    return found


def wait_for_events(receiver: Receiver, dag_id: str, task_id: str, partition_key: str | None,
                    report_ids: list[int]) -> list[dict[str, Any]]:
    def check() -> list[dict[str, Any]] | None:
        try:
            events = events_seen(receiver, dag_id, task_id, partition_key)
        except requests.Timeout:
            return None  # a busy api-server on a loaded machine: ask again
        return events if set(report_ids) <= {e["report_id"] for e in events} else None
    return wait_until(check, timeout=480, interval=2, what=f"{dag_id} runs for {partition_key}")


def test_a_partitioned_consumer_gets_one_run_per_message_with_the_reports_as_events(receiver: Receiver) -> None:
    first, second = new_id("ce"), new_id("ce")
    for payload in (certified(first, "2", 0), certified(first, "10", 1), certified(second, "14", 2),
                    certified(first, "14", 3)):
        assert post(receiver.url, payload).status_code == 200
    first_ids, second_ids = stored_ids(receiver, first), stored_ids(receiver, second)
    assert len(first_ids) == 3 and len(second_ids) == 1
    assert {r["event_state"] for r in receiver.inbox.reports("message_id IN (:a, :b)", a=first, b=second)} == \
        {"emitted"}

    events = wait_for_events(receiver, "reports_partitioned", "seen_partitioned", first, first_ids)
    others = wait_for_events(receiver, "reports_partitioned", "seen_partitioned", second, second_ids)
    assert sorted(e["report_id"] for e in events) == first_ids  # each event once, in some run of its message
    assert [e["report_id"] for e in others] == second_ids
    for event in events + others:
        assert event["partition_key"] == event["message_id"]
        assert event["advanced"] is True and event["has_recipient"] is False  # personal_data is off
    runs = [r for r in finished_runs(receiver, "reports_partitioned") if r["partition_key"] in (first, second)]
    assert {r["run_type"] for r in runs} == {"asset_triggered"}
    assert {e["code"] for e in events} == {"2", "10", "14"}


def test_the_state_store_keys_are_written_as_the_contract_says(receiver: Receiver) -> None:
    asset = report_asset("certified_email")
    message = new_id("st")
    before = Journal.from_value(receiver.inbox.state_store(asset.name).get(JOURNAL_KEY))
    assert post(receiver.url, certified(message, "2", 0)).status_code == 200
    assert post(receiver.url, certified(message, "14", 5)).status_code == 200
    store = receiver.inbox.state_store(asset.name)
    state = MessageState.from_value(store[message_key(message)])
    journal = Journal.from_value(store[JOURNAL_KEY])
    assert state is not None and state.channel == "certified_email" and state.message_id == message
    assert list(state.parts) == [part_of("ana@example.com")]
    assert state.latest.status.code == "14" and state.latest.recipient is None
    assert state.report_id == stored_ids(receiver, message)[1]
    assert journal.seq == state.seq and journal.changed_since(before.seq) == {message}
    assert journal.recent[-2:] == ((state.seq - 1, message), (state.seq, message))

    # A late report is stored, moves nothing: the key and the journal stay as they were.
    assert post(receiver.url, certified(message, "10", 3)).status_code == 200
    again = receiver.inbox.state_store(asset.name)
    assert again[message_key(message)] == store[message_key(message)] and again[JOURNAL_KEY]["seq"] == journal.seq
    assert [r["advanced"] for r in receiver.inbox.reports("message_id = :m", m=message)] == [True, True, False]
    # A second recipient of the same message is a second part.
    assert post(receiver.url, certified(message, "11", 6, recipient="luis@example.com")).status_code == 200
    both = MessageState.from_value(receiver.inbox.state_store(asset.name)[message_key(message)])
    assert both is not None and len(both.parts) == 2 and both.status().code == "11,14"
    rows = receiver.inbox.query("SELECT DISTINCT s.last_updated_by_kind AS kind FROM asset_state_store s "
                                "JOIN asset a ON a.id = s.asset_id WHERE a.name = :n", n=asset.name)
    assert [row["kind"] for row in rows] == ["api"]


def test_concurrent_advances_of_a_channel_all_reach_the_journal_in_order(receiver: Receiver) -> None:
    # Waits learn what changed from _journal alone: an advance lost to a concurrent one (two
    # workers reading the same journal) would leave a wait asleep with its report stored.
    asset = report_asset("certified_email")
    before = Journal.from_value(receiver.inbox.state_store(asset.name).get(JOURNAL_KEY))
    messages = [new_id("cc") for _ in range(24)]
    barrier = threading.Barrier(len(messages))
    statuses: list[int] = []

    def send(message: str) -> None:
        barrier.wait()
        statuses.append(post(receiver.url, certified(message, "2", 0)).status_code)

    threads = [threading.Thread(target=send, args=(message,)) for message in messages]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * len(messages)
    store = receiver.inbox.state_store(asset.name)
    journal = Journal.from_value(store[JOURNAL_KEY])
    assert journal.changed_since(before.seq) == set(messages)
    assert [seq for seq, _ in journal.recent if seq > before.seq] == list(range(before.seq + 1, journal.seq + 1))
    states = [MessageState.from_value(store[message_key(message)]) for message in messages]
    assert sorted(state.seq for state in states if state is not None) == list(range(before.seq + 1, journal.seq + 1))


def test_a_reply_is_keyed_by_the_sms_it_answers_in_the_sms_received_store(receiver: Receiver) -> None:
    original = new_id("sm")
    reply = {"Servicio": "SMSRECIBIDO", "timestamp": "1709287200", "Fecha": "2024-03-01 11:00:00",
             "Movil": "34911000000", "Remitente": "34600000001", "Mensaje": "SI", "idR": "77", "idM": original,
             "EsCert": "false", "Referencia": "dag.task.run"}
    assert post(receiver.url, reply).status_code == 200
    store = receiver.inbox.state_store(report_asset("sms_inbound").name)
    state = MessageState.from_value(store[message_key(original)])
    assert state is not None and list(state.parts) == [part_of("34600000001")]
    assert state.latest.reply_text is None  # no personal data in the store
    originated = dict(reply, idM="0", idR="0", timestamp="1709287300", Mensaje="Hola")
    assert post(receiver.url, originated).status_code == 200
    [row] = [r for r in receiver.inbox.reports("channel = 'sms_inbound'") if b"1709287300" in bytes(r["body"])]
    assert row["message_id"] is None and row["event_state"] == "emitted" and not row["advanced"]
    events = receiver.inbox.query("SELECT e.partition_key FROM asset_event e JOIN asset a ON a.id = e.asset_id "
                                  "WHERE a.name = :n", n=report_asset("sms_inbound").name)
    assert {"partition_key": f"report:{row['id']}"} in events and {"partition_key": original} in events


def test_an_undeclared_asset_keeps_the_report_and_skips_the_event(receiver: Receiver) -> None:
    message = new_id("rc")
    rcs = {"Servicio": "RCS", "Estado": "11", "Agente": "agent", "Destinatario": "34600000001",
           "Fecha": "2024-03-01 10:00:00", "idMensaje": message}
    assert post(receiver.url, rcs).status_code == 200
    [row] = receiver.inbox.reports("message_id = :m", m=message)
    assert row["parsed"] and row["event_state"] == "no-consumer" and row["advanced"]
    assert receiver.inbox.states("rcs", message)  # the message's state is kept all the same
    asset = report_asset("rcs")
    assert receiver.inbox.query("SELECT id FROM asset WHERE name = :n", n=asset.name) == []
    assert "no DAG declares the Asset mensatek_reports_rcs" in receiver.deployment.tail("api-server", 400)


@pytest.fixture
def paused(receiver: Receiver) -> Iterator[str]:
    yield "reports_paused"
    receiver.deployment.api("PATCH", "dags/reports_paused", json={"is_paused": True})


def test_a_paused_consumer_gets_no_run_and_replay_after_unpausing_queues_it(receiver: Receiver, paused: str) -> None:
    message, control = new_id("em"), new_id("ce")
    email = {"Servicio": "EMAILTRANSACCIONAL", "Estado": "11", "Remitente": "info@empresa.example",
             "Destinatario": "read@cliente.example", "Fecha": "2024-03-01 10:00:00", "idMensaje": message,
             "Aperturas": "0"}
    assert post(receiver.url, email).status_code == 200
    assert post(receiver.url, certified(control, "14", 0)).status_code == 200
    [row] = receiver.inbox.reports("message_id = :m", m=message)
    assert row["event_state"] == "emitted"
    # The scheduler has handled the control's event: the paused DAG's was not queued, and unpausing
    # does not queue it either (Airflow does not backfill asset events).
    wait_for_events(receiver, "reports_partitioned", "seen_partitioned", control, stored_ids(receiver, control))
    assert finished_runs(receiver, paused) == []
    receiver.deployment.api("PATCH", f"dags/{paused}", json={"is_paused": False})
    second = new_id("ce")
    assert post(receiver.url, certified(second, "14", 1)).status_code == 200
    wait_for_events(receiver, "reports_partitioned", "seen_partitioned", second, stored_ids(receiver, second))
    assert receiver.deployment.api("GET", f"dags/{paused}/dagRuns")["dag_runs"] == []

    out = receiver.cli("reports", "replay", "--id", str(row["id"])).stdout
    assert "1 report(s) replayed (event emitted 1)" in out
    [event] = wait_for_events(receiver, paused, "seen_paused", message, [row["id"]])
    assert event["partition_key"] == message and event["code"] == "11"


@contextlib.contextmanager
def asset_events(receiver: Receiver, mode: str) -> Iterator[None]:
    """The receiver's connection with ``asset_events: mode``, by restarting the api-server with it."""
    env = receiver.deployment.env
    original = env[CONNECTION]
    env[CONNECTION] = connection_json(asset_events=mode)
    receiver.deployment.restart("api-server")
    try:
        yield
    finally:
        env[CONNECTION] = original
        receiver.deployment.restart("api-server")


def test_plain_events_reach_a_plain_dag_partitioned_ones_never_do(receiver: Receiver) -> None:
    partitioned, control = unique_sms(), new_id("ce")
    assert post(receiver.url, partitioned).status_code == 200
    assert post(receiver.url, certified(control, "14", 0)).status_code == 200
    wait_for_events(receiver, "reports_partitioned", "seen_partitioned", control, stored_ids(receiver, control))
    # Airflow queues a plain schedule=[Asset] DAG for no event with a partition key.
    [first] = stored_ids(receiver, partitioned["idMensaje"])
    assert first not in {e["report_id"] for e in events_seen(receiver, "reports_plain", "seen_plain", None)}

    with asset_events(receiver, "plain"):
        plain = unique_sms()
        assert post(receiver.url, plain).status_code == 200
        [second] = stored_ids(receiver, plain["idMensaje"])
        events = wait_for_events(receiver, "reports_plain", "seen_plain", None, [second])
    [event] = [e for e in events if e["report_id"] == second]
    assert event["partition_key"] is None and event["message_id"] == plain["idMensaje"] and event["code"] == "11"
