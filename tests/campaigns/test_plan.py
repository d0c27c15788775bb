"""Campaign plans (campaigns/plan.py): batches, references, batch files and their formats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_provider_mensatek.campaigns.plan import plan_campaign
from airflow_provider_mensatek.campaigns.recipients import (
    TooManyInvalidRowsError,
    rows_from_list,
)
from airflow_provider_mensatek.campaigns.send import BatchSender
from airflow_provider_mensatek.campaigns.summary import summarize
from airflow_provider_mensatek.clients import MensatekClient
from airflow_provider_mensatek.clients.errors import ValidationError
from airflow_provider_mensatek.sandbox import Sandbox
from tests.campaigns.support import CSV_TEXT, MESSAGE, certified_plan, sent_emails


def test_max_invalid_stops_the_plan_before_anything_is_sent(tmp_path: Path, sandbox: Sandbox) -> None:
    with pytest.raises(TooManyInvalidRowsError, match=r"More than 1 invalid.*line 3: .*not-an-email"):
        certified_plan(tmp_path, max_invalid=1)

    assert not (tmp_path / "campaign" / "plan.json").exists()
    assert len(sandbox.requests) == 0


def test_plan_is_small_json_with_deterministic_batch_ids_and_references(tmp_path: Path) -> None:
    plan = certified_plan(tmp_path, batch_size=2)

    assert json.loads(json.dumps(plan)) == plan
    assert [(b["batch_id"], b["reference"], b["recipients"]) for b in plan["batches"]] == [
        ("00001", "nov-avisos-00001", 2), ("00002", "nov-avisos-00002", 1)]
    assert "ana@example.com" not in json.dumps(plan["batches"])  # recipients stay in the batch files
    assert (plan["rows"], plan["valid"], plan["invalid"], plan["duplicates"]) == (6, 3, 2, 1)
    again = certified_plan(tmp_path, batch_size=2)
    assert again["batches"] == plan["batches"]
    rejected = (tmp_path / "campaign" / "rejected.jsonl").read_text().splitlines()
    assert [json.loads(r)["line"] for r in rejected] == [3, 5, 6]


def test_legallymail_batches_follow_the_recipient_limit(tmp_path: Path) -> None:
    emails = [f"user{i}@example.com" for i in range(23)]
    plan = plan_campaign(rows_from_list(emails), tmp_path / "lm", channel="legallymail_certified_email",
                         campaign_reference="lm")
    assert [b["recipients"] for b in plan["batches"]] == [10, 10, 3]
    with pytest.raises(ValidationError, match="exceeds LegallyMail's 10 recipients"):
        plan_campaign(rows_from_list(emails), tmp_path / "lm2", channel="legallymail_certified_email",
                      campaign_reference="lm", batch_size=25)


def test_a_started_campaign_refuses_a_changed_source(tmp_path: Path, mensatek_client: MensatekClient) -> None:
    plan = certified_plan(tmp_path, batch_size=2)
    BatchSender(tmp_path / "campaign", mensatek_client, "certified_email", MESSAGE).send(plan["batches"][0])

    campaign = tmp_path / "campaign"
    before = {p.name: p.read_bytes() for p in (campaign / "batches").iterdir()}
    plan_before = (campaign / "plan.json").read_bytes()
    rejected_before = (campaign / "rejected.jsonl").read_bytes()

    changed = CSV_TEXT.replace("carlos@example.com", "carla@example.com").replace("eva@", "eve@")
    with pytest.raises(ValidationError, match="already sent batches"):
        certified_plan(tmp_path, text=changed, batch_size=2)

    # nothing of the refused plan landed: the files the sent batch and the unsent one come from are intact
    assert {p.name: p.read_bytes() for p in (campaign / "batches").iterdir()} == before
    assert (campaign / "plan.json").read_bytes() == plan_before
    assert (campaign / "rejected.jsonl").read_bytes() == rejected_before
    assert sorted(p.name for p in campaign.iterdir()) == ["batches", "ledger", "plan.json", "rejected.jsonl"]
    sender = BatchSender(campaign, mensatek_client, "certified_email", MESSAGE)
    assert sender.send(plan["batches"][1])["state"] == "accepted"  # its plan entry still matches its file
    assert certified_plan(tmp_path, batch_size=2)["batches"] == plan["batches"]


def test_a_batch_file_of_another_format_is_refused_with_what_to_do(
    tmp_path: Path, sandbox: Sandbox, mensatek_client: MensatekClient
) -> None:
    plan = certified_plan(tmp_path, batch_size=2)
    path = tmp_path / "campaign" / "batches" / "00001.json"
    path.write_text(json.dumps({"batch_id": "00001", "format": 3, "recipients": "elsewhere"}))
    with pytest.raises(ValidationError, match=r"not a batch file this version can read.*plan the campaign again"):
        BatchSender(tmp_path / "campaign", mensatek_client, "certified_email", MESSAGE).send(plan["batches"][0])
    assert len(sandbox.requests) == 0


def test_batch_files_of_the_first_format_are_still_sent_and_summarized(
    tmp_path: Path, sandbox: Sandbox, mensatek_client: MensatekClient
) -> None:
    plan = certified_plan(tmp_path, batch_size=2)
    for entry in plan["batches"]:  # rewrite each file as the first release planned it
        path = tmp_path / "campaign" / "batches" / f"{entry['batch_id']}.json"
        new = json.loads(path.read_text())
        vendors = json.loads(new["destinatarios"])
        path.write_text(json.dumps({"batch_id": new["batch_id"], "reference": new["reference"],
                                    "fingerprint": new["fingerprint"], "recipients": [
                                        {"line": line, "key": key, "vendor": vendor} for line, key, vendor
                                        in zip(new["lines"], new["keys"], vendors, strict=True)]}))

    outcomes = BatchSender(tmp_path / "campaign", mensatek_client, "certified_email", MESSAGE).send_all(
        plan["batches"])
    summary = summarize(tmp_path / "campaign")

    assert [o["state"] for o in outcomes] == ["accepted", "accepted"]
    assert sent_emails(sandbox) == {"ana@example.com": 1, "carlos@example.com": 1, "eva@example.com": 1}
    assert summary["sent"] == 3
