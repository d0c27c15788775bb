"""What an accepted answer proves: only proven refusals reach not_sent.csv; the rest is unconfirmed (sandbox)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_mensatek.campaigns.input import rows_from_csv
from airflow_provider_mensatek.campaigns.ledger import Ledger
from airflow_provider_mensatek.campaigns.plan import plan_campaign
from airflow_provider_mensatek.campaigns.recipients import rows_from_list
from airflow_provider_mensatek.campaigns.send import BatchSender
from airflow_provider_mensatek.campaigns.summary import summarize
from airflow_provider_mensatek.clients import MensatekClient
from airflow_provider_mensatek.clients.errors import InsufficientCreditsError
from airflow_provider_mensatek.clients.legallymail.client import LegallyMailClient
from airflow_provider_mensatek.sandbox import Fault, Sandbox
from tests.conftest import LEGALLYMAIL_TOKEN

A, B, C = "ana@example.com", "bea+avisos@example.com", "carla@example.com"
CERTIFIED = {"sender": "avisos@example.com", "subject": "Hola", "message": "Texto"}


def listed(campaign: Path, name: str) -> list[str]:
    return [r.get("email") or r.get("phone") or r["value"] for r in csv.DictReader((campaign / name).open())]


def sent_with_answer(tmp_path: Path, sandbox: Sandbox, client: Any, channel: str, recipients: list[Any],
                     message: dict[str, Any], function: str, answer: Any) -> tuple[dict[str, Any], Path]:
    """Plan one batch, send it (the sandbox processes it and, given ``answer``, answers that instead)."""
    campaign = tmp_path / "c"
    plan = plan_campaign(rows_from_list(recipients), campaign, channel=channel, campaign_reference="x")
    if answer is not None:
        sandbox.inject(function, Fault("garble_after_accept", status=200, body=json.dumps(answer)))
    assert BatchSender(campaign, client, channel, message).send(plan["batches"][0])["state"] == "accepted"
    return summarize(campaign), campaign


def echoed(*entries: tuple[Any, Any]) -> str:
    return json.dumps([{**({"Email": e} if e is not None else {"Nombre": "sin email"}),
                        **({"IDMENSAJE": str(i)} if i is not None else {})} for e, i in entries])


@pytest.mark.parametrize(("echo", "enviados", "no_enviados", "duplicados", "not_sent", "unconfirmed"), [
    # the echo names exactly the two taken, and NoEnviados is the one left: proven refused
    (echoed((A, 101), (B, 102)), "2", "1", "0", [C], []),
    # the echo is shorter than Enviados (as in the vendor document's own example)
    (echoed((A, 101)), "2", "1", "0", [], [B, C]),
    # an entry without Email
    (echoed((A, 101), (None, 102)), "2", "1", "0", [], [B, C]),
    # an entry without its IDMENSAJE
    (echoed((A, 101), (B, None)), "2", "1", "0", [], [B, C]),
    # "Name <addr>" instead of the address sent
    (echoed((A, 101), (f"Bea <{B}>", 102)), "2", "1", "0", [], [B, C]),
    # an address the vendor normalised
    (echoed((A, 101), ("bea@example.com", 102)), "2", "1", "0", [], [B, C]),
    # NoEnviados disagrees with the one missing from the echo
    (echoed((A, 101), (B, 102)), "2", "0", "0", [], [C]),
    # the vendor counted a duplicate: which address it dropped is unknown
    (echoed((A, 101), (B, 102)), "2", "0", "1", [], [C]),
])
def test_certified_email_refused_only_when_echo_and_counts_agree(
    tmp_path: Path, sandbox: Sandbox, mensatek_client: MensatekClient, echo: str, enviados: str,
    no_enviados: str, duplicados: str, not_sent: list[str], unconfirmed: list[str],
) -> None:
    answer = [{"Res": enviados, "Destinatarios": echo, "Enviados": enviados, "NoEnviados": no_enviados,
               "Duplicados": duplicados, "Cred": "97", "CreditosUsados": enviados}]
    summary, campaign = sent_with_answer(tmp_path, sandbox, mensatek_client, "certified_email", [A, B, C],
                                         CERTIFIED, "EnviarEMAILCERTIFICADO", answer)

    (request,) = sandbox.requests_to("EnviarEMAILCERTIFICADO")
    assert [r["Email"] for r in request.json_param("Destinatarios")] == [A, B, C]
    assert listed(campaign, "not_sent.csv") == not_sent and summary["not_sent"] == len(not_sent)
    assert listed(campaign, "unconfirmed.csv") == unconfirmed and summary["unconfirmed"] == len(unconfirmed)
    unsure = list(csv.DictReader((campaign / "unconfirmed.csv").open()))
    assert all("check the vendor panel for reference x-00001" in r["reason"] for r in unsure)


EMAIL = {"sender": "avisos@example.com", "subject": "Hola", "message": "<p>Texto</p>"}


@pytest.mark.parametrize(("enviados", "no_enviados", "destinatarios", "not_sent", "unconfirmed"), [
    ([{"Email": A, "idMensaje": "1"}, {"Email": B, "idMensaje": "2"}], [{"Email": C}], "2", [C], []),
    # Destinatarios counts two taken, Enviados lists one: who else was taken is unknown
    ([{"Email": A, "idMensaje": "1"}], [{"Email": C}], "2", [], [B, C]),
    # the refused one is named in another spelling than the address sent
    ([{"Email": A, "idMensaje": "1"}, {"Email": B, "idMensaje": "2"}], [{"Email": f"Carla <{C}>"}], "2", [], [C]),
])
def test_email_refused_only_when_named_exactly_and_counted(
    tmp_path: Path, sandbox: Sandbox, mensatek_client: MensatekClient, enviados: list[dict[str, str]],
    no_enviados: list[dict[str, str]], destinatarios: str, not_sent: list[str], unconfirmed: list[str],
) -> None:
    answer = [{"Res": destinatarios, "idEnvio": "77", "Destinatarios": destinatarios,
               "Enviados": json.dumps(enviados), "NoEnviados": json.dumps(no_enviados), "Duplicados": "0"}]
    summary, campaign = sent_with_answer(tmp_path, sandbox, mensatek_client, "email", [A, B, C], EMAIL,
                                         "EnviarEMAIL", answer)

    assert len(sandbox.requests_to("EnviarEMAIL")) == 1
    assert listed(campaign, "not_sent.csv") == not_sent
    assert listed(campaign, "unconfirmed.csv") == unconfirmed and summary["unconfirmed"] == len(unconfirmed)


def test_sms_answer_counts_name_nobody_so_its_refusals_are_unconfirmed(
    tmp_path: Path, sandbox: Sandbox, mensatek_client: MensatekClient
) -> None:
    """The sandbox's blacklisted number is not sent; the answer only counts it (NoEnviados: 1)."""
    summary, campaign = sent_with_answer(
        tmp_path, sandbox, mensatek_client, "sms", [{"phone": "+34600000001"}, {"phone": "+34600000054"}],
        {"sender": "AVISOS", "message": "Hola"}, "EnviarSMS", None)

    (request,) = sandbox.requests_to("EnviarSMS")
    assert [r["Movil"] for r in request.json_param("Destinatarios")] == ["34600000001", "34600000054"]
    assert listed(campaign, "not_sent.csv") == []
    # OWASP: a cell starting with "+" is prefixed with a quote, phone numbers too
    assert listed(campaign, "unconfirmed.csv") == ["'+34600000001", "'+34600000054"]
    assert summary["unconfirmed_reasons"] == {"unconfirmed_by_answer": 2}


def test_legallymail_failed_recipient_is_refused_when_the_counts_agree(tmp_path: Path, sandbox: Sandbox) -> None:
    client = LegallyMailClient(LEGALLYMAIL_TOKEN, base_url=sandbox.legallymail_url)
    summary, campaign = sent_with_answer(tmp_path, sandbox, client, "legallymail_certified_email",
                                         [A, "fail1@example.com"], {"subject": "Aviso", "message": "<p>Hola</p>"},
                                         "send", None)

    assert listed(campaign, "not_sent.csv") == ["fail1@example.com"]
    assert listed(campaign, "unconfirmed.csv") == [] and summary["not_sent_reasons"] == {"refused_by_vendor": 1}


def test_legallymail_failed_recipient_with_disagreeing_counts_is_unconfirmed(tmp_path: Path,
                                                                            sandbox: Sandbox) -> None:
    client = LegallyMailClient(LEGALLYMAIL_TOKEN, base_url=sandbox.legallymail_url)
    answer = {"success": True, "message": "Email sent to 2 of 2 recipients", "data": {
        "tracking_id": "cm_1", "success_count": 2, "fail_count": 0, "recipients": [
            {"email": A, "status": "sent", "tracking_id": "cm_1_r1"},
            {"email": "fail1@example.com", "status": "failed", "tracking_id": None}]}}
    summary, campaign = sent_with_answer(tmp_path, sandbox, client, "legallymail_certified_email",
                                         [A, "fail1@example.com"], {"subject": "Aviso", "message": "<p>Hola</p>"},
                                         "send", answer)

    assert listed(campaign, "not_sent.csv") == []
    assert listed(campaign, "unconfirmed.csv") == ["fail1@example.com"] and summary["unconfirmed"] == 1


def test_a_refusal_recorded_by_an_earlier_release_is_unconfirmed(
    tmp_path: Path, sandbox: Sandbox, mensatek_client: MensatekClient
) -> None:
    """Accepted records written before the answer was cross-checked carry a 'refused' list that proves nothing."""
    answer = [{"Res": "2", "Destinatarios": echoed((A, 101), (B, 102)), "Enviados": "2", "NoEnviados": "1",
               "Cred": "97"}]
    _, campaign = sent_with_answer(tmp_path, sandbox, mensatek_client, "certified_email", [A, B, C], CERTIFIED,
                                   "EnviarEMAILCERTIFICADO", answer)
    (record_file,) = (campaign / "ledger" / "00001").glob("*-accepted-*.json")
    record = json.loads(record_file.read_text())
    del record["answer_rules"]
    record_file.write_text(json.dumps(record))

    summary = summarize(campaign)

    assert listed(campaign, "not_sent.csv") == [] and listed(campaign, "unconfirmed.csv") == [C]
    assert "earlier release" in next(csv.DictReader((campaign / "unconfirmed.csv").open()))["reason"]
    assert summary["unconfirmed"] == 1


# -- formula injection ----------------------------------------------------------------------------------


HOSTILE_CSV = (
    "name,email,=cmd,importe\n"
    '"=HYPERLINK(""x"")",ana@example.com,@SUM(1+1),-5\n'
    "+Bea,bea@example.com,\tx,10\n"
    'Carla,carla@example.com,"\rdos",+34600000001\n'
    "Dani,not-an-email,ok,1\n"
)


def raw(path: Path) -> str:
    with path.open(newline="") as handle:  # no newline translation: a cell may start with a carriage return
        return handle.read()


def test_summary_files_neutralise_formulas_and_plan_again_unchanged(
    tmp_path: Path, sandbox: Sandbox, mensatek_client: MensatekClient
) -> None:
    campaign = tmp_path / "c"
    plan = plan_campaign(rows_from_csv(io.StringIO(HOSTILE_CSV)), campaign, channel="certified_email",
                         campaign_reference="x", columns={"variables": {"Variable_1": "importe"}}, batch_size=2,
                         max_invalid=1)
    sender = BatchSender(campaign, mensatek_client, "certified_email", CERTIFIED)
    sandbox.mensatek.credits = 0.0
    with pytest.raises(InsufficientCreditsError):  # batch 1: nothing sent (not_sent.csv)
        sender.send(plan["batches"][0])
    sandbox.inject("EnviarEMAILCERTIFICADO", Fault("drop_after_accept"))
    sandbox.mensatek.credits = 100.0
    assert sender.send_all(plan["batches"][1:])[0]["state"] == "ambiguous"  # batch 2: unconfirmed.csv

    summarize(campaign)

    not_sent = raw(campaign / "not_sent.csv")
    rows = list(csv.reader(io.StringIO(not_sent)))
    assert rows[0] == ["name", "email", "'=cmd", "importe", "line", "reason"]
    assert rows[1][:4] == ["'=HYPERLINK(\"x\")", "ana@example.com", "'@SUM(1+1)", "'-5"]
    assert rows[2][:4] == ["'+Bea", "bea@example.com", "'\tx", "10"]
    assert rows[3][:2] == ["Dani", "not-an-email"]  # the invalid row, listed to fix
    for text in (not_sent, raw(campaign / "unconfirmed.csv")):
        for line in csv.reader(io.StringIO(text)):
            assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in line)
        assert all(record.startswith('"') for record in text.split("\r\n") if record)  # every cell quoted
    unconfirmed = list(csv.reader(io.StringIO(raw(campaign / "unconfirmed.csv"))))
    assert unconfirmed[1][:4] == ["Carla", "carla@example.com", "'\rdos", "'+34600000001"]

    # Fix and resend: the file plans again as it is, the cells as the source had them.
    again = plan_campaign(rows_from_csv(io.StringIO(not_sent)), tmp_path / "again", channel="certified_email",
                          campaign_reference="y", columns={"variables": {"Variable_1": "importe"}}, max_invalid=1)
    batch = json.loads((tmp_path / "again" / "batches" / "00001.json").read_text())
    recipients = json.loads(batch["destinatarios"])
    assert [(r["Nombre"], r["Variable_1"]) for r in recipients] == [
        ('=HYPERLINK("x")', "-5"), ("+Bea", "10")]
    assert again["invalid"] == 1
    assert Ledger(campaign / "ledger").batch_ids() == ["00001", "00002"]
