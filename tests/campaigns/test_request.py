"""One batch's request (campaigns/request.py): the checks before the send, planned recipients, echoed message ids."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_mensatek.campaigns.ledger import Ledger
from airflow_provider_mensatek.campaigns.plan import plan_campaign
from airflow_provider_mensatek.campaigns.recipients import rows_from_list
from airflow_provider_mensatek.campaigns.send import BatchSender
from airflow_provider_mensatek.clients import MensatekClient
from airflow_provider_mensatek.clients.errors import ValidationError
from airflow_provider_mensatek.sandbox import Sandbox
from tests.campaigns.support import MESSAGE, certified_plan, edited_batch_file, events_of


@pytest.mark.parametrize("message", [{**MESSAGE, "bogus_option": 1}, {"sender": "avisos@example.com"}])
def test_missing_or_unknown_message_arguments_are_refused_before_any_request(
    tmp_path: Path, sandbox: Sandbox, mensatek_client: MensatekClient, message: dict[str, Any]
) -> None:
    plan = certified_plan(tmp_path, batch_size=2)
    sender = BatchSender(tmp_path / "campaign", mensatek_client, "certified_email", message)

    with pytest.raises(ValidationError, match=r"unsupported option|needs 'subject'"):
        sender.send(plan["batches"][0])

    assert len(sandbox.requests) == 0
    events = [r["event"] for r in Ledger(tmp_path / "campaign" / "ledger").records("00001")]
    assert events == ["in_flight", "failed_not_sent"]


def test_a_batch_file_whose_count_disagrees_with_its_recipients_is_refused(
    tmp_path: Path, sandbox: Sandbox, mensatek_client: MensatekClient
) -> None:
    plan = certified_plan(tmp_path, batch_size=2)
    with edited_batch_file(tmp_path / "campaign", "00001") as batch:
        batch["lines"], batch["keys"] = batch["lines"][:1], batch["keys"][:1]  # the recipients are untouched

    with pytest.raises(ValidationError, match="holds 2 recipients where its file says 1"):
        BatchSender(tmp_path / "campaign", mensatek_client, "certified_email", MESSAGE).send(plan["batches"][0])
    assert len(sandbox.requests) == 0
    assert events_of(tmp_path, "00001", "campaign") == ["in_flight", "failed_not_sent"]


def test_a_recipient_lacking_a_placeholder_is_named_before_any_request(
    tmp_path: Path, sandbox: Sandbox, mensatek_client: MensatekClient
) -> None:
    rows = [{"email": "a@example.com", "name": "Ana", "ref": "R1"}, {"email": "b@example.com", "ref": "R2"}]
    plan = plan_campaign(rows_from_list(rows), tmp_path / "ph", channel="certified_email", campaign_reference="ph",
                         columns={"variables": {"Variable_1": "ref"}})
    sender = BatchSender(tmp_path / "ph", mensatek_client, "certified_email",
                         {"sender": "avisos@example.com", "subject": "Hola {{Nombre}}", "message": "{{Variable_1}}"})
    (outcome,) = sender.send_all(plan["batches"])
    assert outcome["state"] == "failed_not_sent"
    assert "recipient #2 (b@example.com) lacks Nombre" in outcome["error"]
    assert len(sandbox.requests) == 0


TRICKY = [
    {"Nombre": 'Ana "la jefa", "Email": "x@evil.es"', "Email": "Ana@Example.com", "Variable_1": "{\"Nombre\": 1}"},
    {"Email": "bea@example.com", "Variable_1": 'back\\slash, "Variable_2": "no"'},
    {"Nombre": "Çé ñ 漢字 🎉", "Email": "Zoë@example.com"},
    {"Nombre": ", \"Nombre\": ", "Email": "d@example.com", "Variable_2": "2"},
    # The text "Email": inside a key, and an Email the quick pattern skips (a backslash): still 5 matches.
    {'x"Email': "fake@evil.es", "Email": "e\\@example.com"},
]


@pytest.mark.parametrize("recipients", [TRICKY, TRICKY[2:3], [{"Email": f"u{i}@example.com"} for i in range(50)]])
def test_planned_recipient_shortcuts_agree_with_the_decoded_list(recipients: list[dict[str, Any]]) -> None:
    from airflow_provider_mensatek.campaigns.plan import encode_recipients
    from airflow_provider_mensatek.campaigns.request import PlannedRecipients

    planned = PlannedRecipients(encode_recipients(recipients), len(recipients))
    for key in ("Nombre", "Email", "Variable_1", "Variable_2", "Absent"):
        assert planned.holding(key) == sum(1 for r in recipients if key in r), key
        assert planned.all_hold([key]) == all(key in r for r in recipients)
    assert planned.lowered("Email") == [r["Email"].lower() for r in recipients]
    assert planned.first() == recipients[0]
    assert planned.decoded == recipients
    planned.check_count("Email")
    with pytest.raises(ValidationError, match="where its file says"):
        PlannedRecipients(encode_recipients(recipients), len(recipients) + 1).check_count("Email")


def test_echoed_ids_read_any_key_spelling_and_skip_what_is_not_an_id() -> None:
    from airflow_provider_mensatek.campaigns.answers import Named
    from airflow_provider_mensatek.campaigns.request import echoed_ids

    echo = json.dumps([
        {"Nombre": "A", "Email": "A@x.es", "IDMENSAJE": "101"},
        {"nombre": "B", "email": "b@x.es", "idMensaje": 102},
        {"Email": "c@x.es"},
        {"Email": "d@x.es", "IDMENSAJE": "not a number"},
        "not an object",
        {"EMAIL": "e@x.es", "IDMENSAJE": "105.0"},
        {"Email": "f@x.es", "IdMensaje": "\u00b2"},  # a digit to str.isdigit(), not to int()
        {"Email": "g@x.es", "IdMensaje": " 107"},
        {"Email": "h@x.es", "IdMensaje": "1" * 4301},  # more digits than int() converts: skipped, as before
    ])
    assert echoed_ids(echo) == Named(9, {"a@x.es": 101, "b@x.es": 102, "e@x.es": 105, "g@x.es": 107}, 5)
    assert echoed_ids({"Email": "a@x.es", "IdMensaje": 7}) == Named(1, {"a@x.es": 7}, 0)
    assert echoed_ids("") is None and echoed_ids("[]") is None  # no echo: the counts decide
    assert echoed_ids("[broken") == Named(1, {}, 1)  # an echo that cannot be read proves nothing
    assert echoed_ids(3) == Named(1, {}, 1)
