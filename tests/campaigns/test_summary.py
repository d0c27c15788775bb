"""Campaign summary (campaigns/summary.py): totals, not_sent.csv to resend, unconfirmed.csv to check first."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from airflow_provider_mensatek.campaigns.plan import plan_campaign
from airflow_provider_mensatek.campaigns.recipients import rows_from_list
from airflow_provider_mensatek.campaigns.send import BatchSender
from airflow_provider_mensatek.campaigns.summary import summarize
from airflow_provider_mensatek.clients import MensatekClient
from airflow_provider_mensatek.sandbox import Fault, Sandbox
from tests.campaigns.support import MESSAGE, certified_plan


def test_summary_counts_everything_and_lists_not_sent_recipients_to_resend(
    tmp_path: Path, sandbox: Sandbox, mensatek_client: MensatekClient
) -> None:
    plan = certified_plan(tmp_path, batch_size=2)
    sender = BatchSender(tmp_path / "campaign", mensatek_client, "certified_email", MESSAGE)
    sender.send(plan["batches"][0])
    sandbox.inject("EnviarEMAILCERTIFICADO", Fault("drop_after_accept"))
    assert sender.send_all(plan["batches"][1:])[0]["state"] == "ambiguous"

    summary = summarize(tmp_path / "campaign")

    assert (summary["recipients"], summary["sent"], summary["invalid"], summary["duplicates"]) == (6, 2, 2, 1)
    assert summary["batch_states"] == {"accepted": 1, "ambiguous": 1}
    assert summary["credits_used"] == 2.0 and summary["credits_left"] == 998.0
    rows = list(csv.DictReader((tmp_path / "campaign" / "not_sent.csv").open()))
    assert [(r["line"], r["email"]) for r in rows] == [("3", "not-an-email"), ("5", "dani@example.com")]
    assert summary["not_sent"] == 2
    # the ambiguous batch may have been sent: never in the file to resend, but in the one to check first
    unsure = list(csv.DictReader((tmp_path / "campaign" / "unconfirmed.csv").open()))
    assert [(r["line"], r["email"]) for r in unsure] == [("8", "eva@example.com")]
    assert "check the vendor panel for reference nov-avisos-00002" in unsure[0]["reason"]
    assert summary["unconfirmed"] == 1 and summary["unconfirmed_reasons"] == {"outcome_unknown": 1}
    assert json.loads((tmp_path / "campaign" / "summary.json").read_text()) == summary
    exported = (tmp_path / "campaign" / "ledger.jsonl").read_text().splitlines()
    assert [json.loads(x)["event"] for x in exported] == ["in_flight", "accepted", "in_flight", "ambiguous"]


@pytest.mark.parametrize(("enviados", "no_enviados", "not_sent", "unconfirmed"), [
    ("2", "0", [], []),                                   # the counts say both were taken
    ("1", "1", [], ["a@example.com", "b@example.com"]),   # one was, the answer does not say which
    ("0", "2", ["a@example.com", "b@example.com"], []),   # the counts say none was taken
])
def test_an_answer_without_a_recipient_list_is_read_by_its_counts(
    tmp_path: Path, sandbox: Sandbox, mensatek_client: MensatekClient,
    enviados: str, no_enviados: str, not_sent: list[str], unconfirmed: list[str],
) -> None:
    plan = plan_campaign(rows_from_list(["a@example.com", "b@example.com"]), tmp_path / "c",
                         channel="certified_email", campaign_reference="x")
    sandbox.inject("EnviarEMAILCERTIFICADO", Fault("garble_after_accept", status=200, body=json.dumps(
        [{"Res": enviados, "Enviados": enviados, "NoEnviados": no_enviados, "Cred": "98"}])))  # no Destinatarios
    assert BatchSender(tmp_path / "c", mensatek_client, "certified_email", MESSAGE | {"subject": "Hola",
                       "message": "Texto"}).send(plan["batches"][0])["state"] == "accepted"

    summary = summarize(tmp_path / "c")

    listed = [r["value"] for r in csv.DictReader((tmp_path / "c" / "not_sent.csv").open())]
    unsure = list(csv.DictReader((tmp_path / "c" / "unconfirmed.csv").open()))
    assert listed == not_sent and summary["not_sent"] == len(not_sent)
    assert [r["value"] for r in unsure] == unconfirmed and summary["unconfirmed"] == len(unconfirmed)
    assert all("check the vendor panel for reference x-00001" in r["reason"] for r in unsure)
