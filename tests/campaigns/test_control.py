"""Campaign control (campaigns/control.py): cancel or reschedule every scheduled message of a campaign."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from airflow_provider_mensatek.campaigns.control import control_campaign
from airflow_provider_mensatek.campaigns.input import rows_from_csv
from airflow_provider_mensatek.campaigns.plan import plan_campaign
from airflow_provider_mensatek.campaigns.recipients import rows_from_list
from airflow_provider_mensatek.campaigns.send import BatchSender
from airflow_provider_mensatek.clients import MensatekClient
from airflow_provider_mensatek.clients.errors import ValidationError
from airflow_provider_mensatek.sandbox import Fault, Sandbox
from tests.campaigns.support import CSV_TEXT, FUTURE, MESSAGE, certified_plan


def test_cancel_every_scheduled_message_reports_per_id(
    tmp_path: Path, sandbox: Sandbox, mensatek_client: MensatekClient
) -> None:
    plan = certified_plan(tmp_path, batch_size=2)
    sender = BatchSender(tmp_path / "campaign", mensatek_client, "certified_email", MESSAGE)
    sender.send_all(plan["batches"])
    ids = sorted(sandbox.mensatek.certified)
    sandbox.clear_requests()

    results = control_campaign(tmp_path / "campaign", mensatek_client, "certified_email", "cancel")

    assert sorted(r["message_id"] for r in results) == ids
    assert {r["outcome"] for r in results} == {"cancelled"}
    assert all(r["credits_recovered"] == 1.0 for r in results)
    assert sorted(int(r.param("Idmensaje")) for r in sandbox.requests_to("CancelarEMAILCERTIFICADO")) == ids
    again = control_campaign(tmp_path / "campaign", mensatek_client, "certified_email", "cancel")
    assert {r["outcome"] for r in again} == {"already_cancelled"}


def test_reschedule_moves_every_message_and_reports_already_sent(
    tmp_path: Path, sandbox: Sandbox, mensatek_client: MensatekClient
) -> None:
    plan = certified_plan(tmp_path, batch_size=2)
    BatchSender(tmp_path / "campaign", mensatek_client, "certified_email", MESSAGE).send(plan["batches"][0])
    BatchSender(tmp_path / "campaign", mensatek_client, "certified_email",
                {**MESSAGE, "send_at": None}).send(plan["batches"][1])

    results = control_campaign(tmp_path / "campaign", mensatek_client, "certified_email", "reschedule",
                               "2099-06-02T10:30:00+02:00")

    by_batch = {(r["batch_id"], r["outcome"]) for r in results}
    assert by_batch == {("00001", "rescheduled"), ("00002", "already_sent")}
    for request in sandbox.requests_to("ReprogramarEMAILCERTIFICADO"):
        assert request.param("Fecha") == "2099-06-02 10:30"


def test_control_reports_batches_it_cannot_act_on_instead_of_skipping_them(
    tmp_path: Path, sandbox: Sandbox, mensatek_client: MensatekClient
) -> None:
    plan = plan_campaign(rows_from_list([f"p{i}@example.com" for i in range(6)]), tmp_path / "c",
                         channel="certified_email", campaign_reference="x", batch_size=2)
    sender = BatchSender(tmp_path / "c", mensatek_client, "certified_email",
                         {"sender": "avisos@example.com", "subject": "Hola", "message": "Texto", "send_at": FUTURE})
    sender.send(plan["batches"][0])
    sandbox.inject("EnviarEMAILCERTIFICADO", Fault("drop_after_accept"))
    assert sender.send_all(plan["batches"][1:2])[0]["state"] == "ambiguous"
    # accepted, but the answer leaves out the (optional) Destinatarios list with the message ids
    sandbox.inject("EnviarEMAILCERTIFICADO", Fault("garble_after_accept", status=200, body=json.dumps(
        [{"Res": "2", "Enviados": "2", "NoEnviados": "0", "Cred": "90", "CreditosUsados": "2"}])))
    assert sender.send(plan["batches"][2])["state"] == "accepted"

    results = control_campaign(tmp_path / "c", mensatek_client, "certified_email", "cancel")

    assert [(r["batch_id"], r["reference"], r["outcome"]) for r in results] == [
        ("00001", "x-00001", "cancelled"), ("00001", "x-00001", "cancelled"),
        ("00002", "x-00002", "unknown_outcome"), ("00003", "x-00003", "no_message_ids")]
    assert "x-00002" in results[2]["detail"] and results[2]["message_id"] is None
    assert len(sandbox.requests_to("CancelarEMAILCERTIFICADO")) == 2  # everything it could, nothing more


def test_control_refuses_channels_without_cancel_before_any_request(tmp_path: Path, sandbox: Sandbox,
                                                                     mensatek_client: MensatekClient) -> None:
    with pytest.raises(ValidationError, match="cannot be cancelled"):
        control_campaign(tmp_path, mensatek_client, "email", "cancel")
    with pytest.raises(ValidationError, match="send_at"):
        control_campaign(tmp_path, mensatek_client, "certified_email", "reschedule", None)
    assert len(sandbox.requests) == 0


def test_sms_campaign_cancel_uses_one_id_per_batch(
    tmp_path: Path, sandbox: Sandbox, mensatek_client: MensatekClient
) -> None:
    plan = plan_campaign(rows_from_csv(io.StringIO(CSV_TEXT)), tmp_path / "sms", channel="sms",
                         campaign_reference="sms", max_invalid=5, batch_size=2)
    outcomes = BatchSender(tmp_path / "sms", mensatek_client, "sms",
                           {"sender": "AVISOS", "message": "Hola", "send_at": FUTURE}).send_all(plan["batches"])

    results = control_campaign(tmp_path / "sms", mensatek_client, "sms", "cancel")

    assert [r["message_id"] for r in results] == [o["message_ids"][0] for o in outcomes]
    assert [int(r.param("Idmensaje")) for r in sandbox.requests_to("CancelarSMS")] == [
        o["message_ids"][0] for o in outcomes]
    assert {r["outcome"] for r in results} == {"cancelled"}
