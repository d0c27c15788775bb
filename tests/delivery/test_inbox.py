"""The state store contract: message states, the journal, key names, and one status per message."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from airflow_provider_mensatek.clients.mensatek.reports import parse_report
from airflow_provider_mensatek.clients.validation import MADRID
from airflow_provider_mensatek.delivery.inbox import (
    JOURNAL_KEY,
    JOURNAL_SIZE,
    NO_PART,
    Journal,
    MessageState,
    changed_message_ids,
    message_key,
    part_of,
    report_part,
)
from airflow_provider_mensatek.delivery.report import DeliveryReport
from airflow_provider_mensatek.delivery.statuses import DeliveryStatus

S = DeliveryStatus


def sms(code: str, phone: str = "34600000001", when: str = "2024-03-01 10:00:00", message_id: str = "555") -> \
        DeliveryReport:
    body = json.dumps({"Servicio": "SMSMASIVO", "Resultado": code, "Movil": phone, "Fecha": when,
                       "idMensaje": message_id, "Referencia": "dag.task.run"}).encode()
    return DeliveryReport.from_mensatek(parse_report("application/json", body))


def state(*reports: DeliveryReport, seq: int = 1) -> MessageState:
    return MessageState(channel="sms", message_id="555", seq=seq, report_id=seq,
                        parts={part_of(r.recipient): r for r in reports})


def test_keys_are_named_by_the_contract() -> None:
    assert message_key("10573758") == "m:10573758"
    assert JOURNAL_KEY == "_journal"
    with pytest.raises(ValueError, match="non-empty"):
        message_key("")
    with pytest.raises(ValueError, match="too long"):
        message_key("9" * 600)


def test_a_part_names_no_recipient_and_ignores_case_and_spaces() -> None:
    part = part_of("Destino@Dominio.com ")
    assert part == part_of("destino@dominio.com") and len(part) == 16 and "dominio" not in part
    assert part != part_of("otro@dominio.com")
    assert part_of(None) == part_of("  ") == NO_PART


def test_a_reply_is_the_part_of_the_phone_that_sent_it() -> None:
    body = json.dumps({"Servicio": "SMSRECIBIDO", "timestamp": "1700000000", "Movil": "34911111111",
                       "Remitente": "34600000001", "Mensaje": "SI", "idR": "1", "idM": "555"}).encode()
    reply = DeliveryReport.from_mensatek(parse_report("application/json", body))
    assert report_part(reply) == part_of("34600000001") == report_part(sms("11"))


def test_a_message_state_round_trips_through_the_store_without_personal_data() -> None:
    original = state(sms("11"), sms("14", phone="34600000002"), seq=7)
    value = original.to_value()
    text = original.to_json()
    assert "34600000001" not in text and "34600000002" not in text
    assert value["v"] == 1 and value["seq"] == 7 and value["message_id"] == "555" and len(value["parts"]) == 2
    # The store hands a reader the decoded JSON; a raw text works as well.
    for stored in (json.loads(text), text):
        back = MessageState.from_value(stored)
        assert back is not None
        assert (back.channel, back.message_id, back.seq, back.report_id) == ("sms", "555", 7, 7)
        codes = {p: r.status.code for p, r in back.parts.items()}
        assert codes == {p: r.status.code for p, r in original.parts.items()}
        assert all(r.recipient is None for r in back.parts.values())
    assert MessageState.from_value(None) is None


@pytest.mark.parametrize("bad", ['{"v": 2}', "[]", "not json", {"v": 1, "channel": "sms"},
                                 {"v": 1, "channel": "sms", "message_id": "1", "seq": -1, "report_id": 1,
                                  "parts": {}}])
def test_a_state_of_another_layout_is_refused(bad: object) -> None:
    with pytest.raises(ValueError):
        MessageState.from_value(bad)  # type: ignore[arg-type]


def test_a_late_report_does_not_move_a_part_backwards() -> None:
    certified = state(sms("14", when="2024-03-01 10:05:00"))
    part = part_of("34600000001")
    assert certified.advance(part, sms("11", when="2024-03-01 10:09:00"), seq=2, report_id=9) is None
    assert certified.advance(part, sms("14", when="2024-03-01 10:05:00"), seq=2, report_id=9) is None
    accepted = certified.advance(part, sms("17", when="2024-03-01 10:06:00"), seq=2, report_id=9)
    assert accepted is not None and accepted.seq == 2 and accepted.report_id == 9
    assert accepted.parts[part].status.code == "17" and accepted.latest.status.code == "17"
    other = certified.advance(part_of("34600000002"), sms("11", phone="34600000002"), seq=3, report_id=10)
    assert other is not None and len(other.parts) == 2


def test_states_merge_part_by_part_keeping_the_later_report() -> None:
    a = state(sms("14", phone="34600000001"), seq=3)
    b = state(sms("11", phone="34600000001"), sms("50", phone="34600000002"), seq=5)
    merged = a.merge(b)
    assert merged.seq == 5
    assert {r.status.code for r in merged.parts.values()} == {"14", "50"}
    assert b.merge(a).parts == merged.parts
    with pytest.raises(ValueError, match="same message"):
        a.merge(MessageState(channel="sms", message_id="999", seq=1, report_id=1, parts=dict(a.parts)))


def test_one_part_gives_its_own_status_several_are_aggregated() -> None:
    assert state(sms("14")).status().code == "14"
    both = state(sms("14"), sms("11", phone="34600000002"))
    status = both.status()
    assert status.status is S.DELIVERED and status.has_reached(S.DELIVERED) and not status.has_reached(S.CERTIFIED)
    failed = state(sms("14"), sms("50", phone="34600000002")).status()
    assert failed.failure and failed.terminal
    final = state(sms("17"))
    assert final.status().terminal
    # Two phones were sent to, one has reported: not final, and nothing beyond "no report yet".
    waiting = final.status(expected_parts=2)
    assert not waiting.terminal and not waiting.has_reached(S.DELIVERED)


def test_the_journal_names_what_changed_since_a_reader_looked() -> None:
    journal = Journal()
    assert journal.changed_since(0) == set()
    for seq, message_id in enumerate(["a", "b", "a", "c"], start=1):
        journal = journal.append(seq, message_id)
    assert journal.seq == 4
    assert journal.changed_since(4) == set()
    assert journal.changed_since(2) == {"a", "c"}
    assert journal.changed_since(0) == {"a", "b", "c"}
    assert changed_message_ids(journal, 3, ["c", "z"]) == {"c"}
    with pytest.raises(ValueError, match="not after"):
        journal.append(4, "d")


def test_a_reader_past_the_window_or_after_a_restart_is_told_to_read_every_key() -> None:
    journal = Journal()
    for seq in range(1, JOURNAL_SIZE + 11):
        journal = journal.append(seq, f"m{seq}")
    assert len(journal.recent) == JOURNAL_SIZE and journal.recent[0][0] == 11
    assert journal.changed_since(10) == {f"m{seq}" for seq in range(11, JOURNAL_SIZE + 11)}
    assert journal.changed_since(9) is None
    assert changed_message_ids(journal, 9, ["m1", "m2"]) == {"m1", "m2"}
    # The Asset was inactive and its keys deleted: the journal restarts at the channel's next seq.
    restarted = Journal().append(40, "x")
    assert restarted.changed_since(39) == {"x"}
    assert restarted.changed_since(30) is None
    # A journal behind what the reader saw (a reset database) cannot be trusted either.
    assert restarted.changed_since(50) is None


def test_the_journal_round_trips_and_refuses_what_it_did_not_write() -> None:
    journal = Journal().append(1, "a").append(2, "b")
    assert journal.to_value() == {"v": 1, "seq": 2, "recent": [[1, "a"], [2, "b"]]}
    assert Journal.from_value(json.loads(journal.to_json())) == journal == Journal.from_value(journal.to_json())
    assert Journal.from_value(None) == Journal()
    for bad in ({"v": 1, "seq": 2, "recent": [[2, "a"], [1, "b"]]}, {"v": 1, "seq": 3, "recent": [[1, "a"]]},
                {"v": 1, "seq": 1, "recent": [["1", "a"]]}, {"v": 1, "seq": 1, "recent": "x"}):
        with pytest.raises(ValueError):
            Journal.from_value(bad)


def test_reports_of_one_time_order_by_rank_first() -> None:
    # The total order lives in delivery/rank.py; a state only applies it per part.
    early_final = sms("17", when="2024-03-01 09:00:00")
    later_progress = sms("14", when="2024-03-01 11:00:00")
    assert early_final.supersedes(later_progress)
    assert early_final.occurred_at == datetime(2024, 3, 1, 9, tzinfo=MADRID)
