"""``python -m airflow_provider_mensatek.webhooks reports ...`` on a deployment's database, as an operator runs it."""

from __future__ import annotations

import base64
import json
import os
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import insert

from airflow_provider_mensatek.webhooks.intake import raw_key
from airflow_provider_mensatek.webhooks.tables import message_state_table, report_table
from tests.webhooks.conftest import Receiver
from tests.webhooks.support import post
from tests.webhooks.test_receiver_http import unique_sms

pytestmark = pytest.mark.deployment


def two_reports(receiver: Receiver) -> tuple[str, list[int]]:
    first = unique_sms("2", Movil="34699999999")
    second = dict(first, Resultado="11", Fecha="2024-03-01 10:02:00")
    for payload in (first, second):
        assert post(receiver.url, payload).status_code == 200
    return first["idMensaje"], [r["id"] for r in receiver.inbox.reports("message_id = :m", m=first["idMensaje"])]


def test_list_shows_the_reports_of_a_message_without_personal_data(receiver: Receiver) -> None:
    message, ids = two_reports(receiver)
    table = receiver.cli("reports", "list", "--message-id", message).stdout
    lines = table.splitlines()
    assert lines[0].split() == ["id", "received_at", "channel", "message_id", "code", "status", "event", "advanced"]
    assert [line.split()[0] for line in lines[1:]] == [str(i) for i in ids]
    assert [line.split()[4:6] for line in lines[1:]] == [["2", "pending"], ["11", "delivered"]]
    assert "34699999999" not in table
    as_json = json.loads(receiver.cli("reports", "list", "--id", str(ids[1]), "--output", "json").stdout)
    assert [(r["id"], r["channel"], r["code"], r["advanced"], r["event"]) for r in as_json] == \
        [(ids[1], "sms", "11", True, "emitted")]
    assert json.loads(receiver.cli("reports", "list", "--limit", "1", "--output", "json").stdout)[0]["id"] >= ids[1]


def test_export_writes_json_lines_for_its_owner_personal_data_only_when_asked(receiver: Receiver,
                                                                                tmp_path: Path) -> None:
    message, ids = two_reports(receiver)
    target = tmp_path / "reports.jsonl"
    out = receiver.cli("reports", "export", str(target), "--message-id", message).stdout
    assert out.strip() == f"2 report(s) written to {target}"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert [r["id"] for r in rows] == ids and {r["message_id"] for r in rows} == {message}
    assert "34699999999" not in target.read_text() and "body_base64" not in rows[0]
    assert rows[1]["report"]["status"]["status"] == "delivered" and rows[1]["dedupe_key"].startswith("mensatek:v1:")
    again = receiver.cli("reports", "export", str(target), check=False)
    assert again.returncode != 0 and "File exists" in again.stderr  # never over an existing file
    personal = [json.loads(line) for line in receiver.cli("reports", "export", "-", "--personal", "--id",
                                                          str(ids[0])).stdout.splitlines()]
    assert personal[0]["report"]["recipient"] == "34699999999"
    assert json.loads(base64.b64decode(personal[0]["body_base64"]))["Movil"] == "34699999999"


def test_replay_parses_again_what_an_older_version_could_not(receiver: Receiver) -> None:
    # As an older parser would have left it: a valid report stored raw.
    payload = unique_sms("11")
    body = json.dumps(payload).encode()
    with receiver.inbox.engine.begin() as conn:
        report_id = conn.execute(insert(report_table).values(
            received_at=datetime.now(timezone.utc), dedupe_key=raw_key("application/json", body), parsed=False,
            parse_error="older parser", content_type="application/json", body=body, event_state="none",
            advanced=False)).inserted_primary_key[0]
    out = receiver.cli("reports", "replay", "--id", str(report_id)).stdout
    assert out.startswith("1 report(s) replayed (event ") and "reparsed 1" in out
    [row] = receiver.inbox.reports("id = :i", i=report_id)
    assert row["parsed"] and row["message_id"] == payload["idMensaje"] and row["code"] == "11"
    assert row["dedupe_key"].startswith("mensatek:v1:") and row["parse_error"] is None and row["advanced"]
    assert [s["report_id"] for s in receiver.inbox.states("sms", payload["idMensaje"])] == [report_id]
    # The vendor sending it again now is a duplicate of the replayed row.
    assert post(receiver.url, payload).status_code == 200
    assert len(receiver.inbox.reports("message_id = :m", m=payload["idMensaje"])) == 1
    assert receiver.cli("reports", "replay", check=False).returncode == 2  # no selection: nothing replayed


def test_purge_deletes_reports_older_than_the_days_given_and_their_states(receiver: Receiver) -> None:
    old = datetime.now(timezone.utc) - timedelta(days=400)
    with receiver.inbox.engine.begin() as conn:
        report_id = conn.execute(insert(report_table).values(
            received_at=old, dedupe_key=f"raw:v1:old-{old.timestamp()}", parsed=True, channel="sms",
            message_id="old-1", content_type="application/json", body=b"{}", event_state="none",
            advanced=True)).inserted_primary_key[0]
        conn.execute(insert(message_state_table).values(channel="sms", message_id="old-1", part="-",
                                                        report_id=report_id, seq=0, updated_at=old))
    counted = receiver.cli("reports", "purge", "--older-than", "365").stdout
    assert counted.startswith("1 report(s) received before ") and "would be deleted (add --yes)" in counted
    assert receiver.inbox.reports("id = :i", i=report_id)
    assert receiver.cli("reports", "purge", "--older-than", "365", "--yes").stdout.startswith("1 report(s)")
    assert receiver.inbox.reports("id = :i", i=report_id) == [] and receiver.inbox.states("sms", "old-1") == []
    assert receiver.inbox.reports()  # the recent ones stay
    assert receiver.cli("reports", "purge", "--older-than", "0", check=False).returncode == 2
