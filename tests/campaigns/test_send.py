"""Campaign sends (campaigns/send.py): at most once per batch through the ledger; channels; parallel sends."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_mensatek.campaigns.control import control_campaign
from airflow_provider_mensatek.campaigns.input import rows_from_csv
from airflow_provider_mensatek.campaigns.ledger import Ledger, LedgerBlockedError, LedgerError
from airflow_provider_mensatek.campaigns.plan import plan_campaign
from airflow_provider_mensatek.campaigns.recipients import rows_from_list
from airflow_provider_mensatek.campaigns.send import BatchSender
from airflow_provider_mensatek.clients import MensatekClient
from airflow_provider_mensatek.clients.errors import (
    AmbiguousSendError,
    InsufficientCreditsError,
    MensatekError,
    ValidationError,
)
from airflow_provider_mensatek.clients.legallymail.client import LegallyMailClient
from airflow_provider_mensatek.sandbox import Fault, Sandbox
from tests.campaigns.support import CSV_TEXT, MESSAGE, certified_plan, edited_batch_file, sent_emails
from tests.conftest import LEGALLYMAIL_TOKEN, MENSATEK_TOKEN, MENSATEK_USER


def test_campaign_core_imports_no_airflow() -> None:
    code = (
        "import sys\n"
        "import airflow_provider_mensatek.campaigns.send, airflow_provider_mensatek.campaigns.recipients\n"
        "sys.exit(any(m == 'airflow' or m.startswith('airflow.') for m in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


def test_batch_send_reaches_the_vendor_once_and_a_repeat_replays_the_ledger(
    tmp_path: Path, sandbox: Sandbox, mensatek_client: MensatekClient
) -> None:
    plan = certified_plan(tmp_path, batch_size=2)
    sender = BatchSender(tmp_path / "campaign", mensatek_client, "certified_email", MESSAGE)

    first = sender.send(plan["batches"][0])
    again = sender.send(plan["batches"][0])

    (request,) = sandbox.requests_to("EnviarEMAILCERTIFICADO")
    assert request.param("Referenciausuario") == "nov-avisos-00001"
    assert request.param("Fecha") == "2099-06-01 09:00"
    assert [r["Email"] for r in request.json_param("Destinatarios")] == ["ana@example.com", "carlos@example.com"]
    assert request.json_param("Destinatarios")[0]["Variable_1"] == "10"
    assert first["state"] == "accepted" and first["sent"] == 2 and not first["replayed"]
    assert again == {**first, "replayed": True}
    events = [r["event"] for r in Ledger(tmp_path / "campaign" / "ledger").records("00001")]
    assert events == ["in_flight", "accepted"]
    assert sent_emails(sandbox) == {"ana@example.com": 1, "carlos@example.com": 1}


def test_connection_dropped_after_accept_blocks_the_batch_until_a_person_clears_it(
    tmp_path: Path, sandbox: Sandbox, mensatek_client: MensatekClient
) -> None:
    plan = certified_plan(tmp_path, batch_size=2)
    sender = BatchSender(tmp_path / "campaign", mensatek_client, "certified_email", MESSAGE)
    sandbox.inject("EnviarEMAILCERTIFICADO", Fault("drop_after_accept"))

    with pytest.raises(AmbiguousSendError):
        sender.send(plan["batches"][0])
    with pytest.raises(LedgerBlockedError, match=r"00001 .*nov-avisos-00001.* is ambiguous.*ledger clear"):
        sender.send(plan["batches"][0])

    assert len(sandbox.requests_to("EnviarEMAILCERTIFICADO")) == 1
    assert sent_emails(sandbox) == {"ana@example.com": 1, "carlos@example.com": 1}
    ledger = Ledger(tmp_path / "campaign" / "ledger")
    with pytest.raises(LedgerError, match="needs who clears it"):
        ledger.clear("00001", by="", note="")
    ledger.clear("00001", by="ops@example.com", note="not in the panel")
    assert sender.send(plan["batches"][0])["state"] == "accepted"
    assert len(sandbox.requests_to("EnviarEMAILCERTIFICADO")) == 2
    with pytest.raises(LedgerError, match="accepted"):
        ledger.clear("00001", by="ops@example.com", note="again")


def test_worker_dying_after_the_in_flight_record_blocks_the_retry(
    tmp_path: Path, sandbox: Sandbox, mensatek_client: MensatekClient
) -> None:
    plan = certified_plan(tmp_path, batch_size=2)
    sender = BatchSender(tmp_path / "campaign", mensatek_client, "certified_email", MESSAGE)

    def die() -> None:
        raise SystemExit("worker killed")

    with pytest.raises(SystemExit):
        sender.send(plan["batches"][0], recorded=die)
    with pytest.raises(LedgerBlockedError, match=r"in_flight.*worker stopped"):
        sender.send(plan["batches"][0])
    assert len(sandbox.requests) == 0


def test_a_refused_send_records_failed_not_sent_and_may_be_sent_later(
    tmp_path: Path, sandbox: Sandbox, mensatek_client: MensatekClient
) -> None:
    plan = certified_plan(tmp_path, batch_size=2)
    sender = BatchSender(tmp_path / "campaign", mensatek_client, "certified_email", MESSAGE)
    sandbox.mensatek.credits = 0.0

    with pytest.raises(InsufficientCreditsError):
        sender.send(plan["batches"][0])
    sandbox.mensatek.credits = 100.0
    assert sender.send(plan["batches"][0])["sent"] == 2
    events = [r["event"] for r in Ledger(tmp_path / "campaign" / "ledger").records("00001")]
    assert events == ["in_flight", "failed_not_sent", "in_flight", "accepted"]


def test_an_accepted_send_with_an_unreadable_answer_is_ambiguous_and_never_resent(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    """LegallyMail takes the batch but answers a shape its client cannot read (a TypeError mid-parsing)."""
    plan = plan_campaign(rows_from_list(["a@example.com", "b@example.com"]), tmp_path / "lm",
                         channel="legallymail_certified_email", campaign_reference="lm")
    client = LegallyMailClient(LEGALLYMAIL_TOKEN, base_url=sandbox.legallymail_url)
    sender = BatchSender(tmp_path / "lm", client, "legallymail_certified_email",
                         {"subject": "Aviso", "message": "<p>Texto</p>"})
    sandbox.inject("send", Fault("garble_after_accept", status=200, body=json.dumps(
        {"success": True, "data": {"tracking_id": "T1", "recipients": 2}})))

    with pytest.raises(Exception) as raised:
        sender.send(plan["batches"][0])
    assert not isinstance(raised.value, ValidationError)  # not "refused before sending"
    with pytest.raises(LedgerBlockedError, match="ambiguous"):
        sender.send(plan["batches"][0])

    assert len([r for r in sandbox.requests if r.path.endswith("/send")]) == 1
    events = [r["event"] for r in Ledger(tmp_path / "lm" / "ledger").records("00001")]
    assert events == ["in_flight", "ambiguous"]


def test_an_error_after_the_request_left_is_ambiguous_unless_it_proves_nothing_was_sent(
    tmp_path: Path, sandbox: Sandbox, mensatek_client: MensatekClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = certified_plan(tmp_path, batch_size=2)
    sender = BatchSender(tmp_path / "campaign", mensatek_client, "certified_email", MESSAGE)
    real_call = mensatek_client.call

    def accepted_then_unexpected_error(*args: Any, **kwargs: Any) -> Any:
        real_call(*args, **kwargs)
        raise MensatekError("an answer no rule covers")  # not one of the nothing-sent errors

    monkeypatch.setattr(mensatek_client, "call", accepted_then_unexpected_error)
    with pytest.raises(MensatekError, match="no rule covers"):
        sender.send(plan["batches"][0])
    monkeypatch.undo()
    with pytest.raises(LedgerBlockedError, match="ambiguous"):
        sender.send(plan["batches"][0])

    assert len(sandbox.requests_to("EnviarEMAILCERTIFICADO")) == 1
    assert sent_emails(sandbox) == {"ana@example.com": 1, "carlos@example.com": 1}


def test_two_workers_sending_the_same_batch_at_once_send_it_once(
    tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A zombie task and its retry (or two runs of one campaign) both read an empty ledger, then both send."""
    plan = certified_plan(tmp_path, batch_size=2)
    both_have_read = threading.Barrier(2)
    real_records = Ledger.records

    def records_then_wait(self: Ledger, batch_id: str) -> list[dict[str, Any]]:
        out = real_records(self, batch_id)
        both_have_read.wait(timeout=10)
        return out

    monkeypatch.setattr(Ledger, "records", records_then_wait)
    outcomes: list[str] = []

    def worker() -> None:
        client = MensatekClient(MENSATEK_USER, MENSATEK_TOKEN, base_url=sandbox.mensatek_url)
        try:
            outcomes.append(BatchSender(tmp_path / "campaign", client, "certified_email", MESSAGE)
                            .send(plan["batches"][0])["state"])
        except LedgerBlockedError as exc:
            outcomes.append(f"blocked: {exc}")

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(o[:8] for o in outcomes) == ["accepted", "blocked:"]
    assert "being sent by another worker" in next(o for o in outcomes if o.startswith("blocked"))
    assert len(sandbox.requests_to("EnviarEMAILCERTIFICADO")) == 1
    assert sent_emails(sandbox) == {"ana@example.com": 1, "carlos@example.com": 1}
    monkeypatch.undo()
    events = [r["event"] for r in Ledger(tmp_path / "campaign" / "ledger").records("00001")]
    assert events == ["in_flight", "accepted"]  # the loser wrote nothing


def test_an_unexpected_error_in_one_batch_is_recorded_and_the_others_still_go(
    tmp_path: Path, sandbox: Sandbox, mensatek_client: MensatekClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = certified_plan(tmp_path, batch_size=2)
    sender = BatchSender(tmp_path / "campaign", mensatek_client, "certified_email", MESSAGE)
    real_call = mensatek_client.call

    def first_answer_breaks_our_code(*args: Any, **kwargs: Any) -> Any:
        answer = real_call(*args, **kwargs)
        if kwargs.get("reference") == "nov-avisos-00001":
            raise RuntimeError("a bug while reading the answer")
        return answer

    monkeypatch.setattr(mensatek_client, "call", first_answer_breaks_our_code)
    outcomes = sender.send_all(plan["batches"])

    assert [(o["batch_id"], o["state"]) for o in outcomes] == [("00001", "ambiguous"), ("00002", "accepted")]
    assert outcomes[0]["error"] == "RuntimeError: a bug while reading the answer"
    assert len(sandbox.requests_to("EnviarEMAILCERTIFICADO")) == 2


def test_sms_campaign_sends_each_batch_with_its_reference(
    tmp_path: Path, sandbox: Sandbox, mensatek_client: MensatekClient
) -> None:
    plan = plan_campaign(rows_from_csv(io.StringIO(CSV_TEXT)), tmp_path / "sms", channel="sms",
                         campaign_reference="sms-nov", columns={"variables": {"Variable_1": "importe"}},
                         max_invalid=5, batch_size=2)
    sender = BatchSender(tmp_path / "sms", mensatek_client, "sms",
                         {"sender": "AVISOS", "message": "Importe {{Variable_1}}"})
    outcomes = sender.send_all(plan["batches"])

    sends = sandbox.requests_to("EnviarSMS")
    assert [s.param("Referenciausuario") for s in sends] == ["sms-nov-00001", "sms-nov-00002"]
    assert [m["Movil"] for m in sends[0].json_param("Destinatarios")] == ["34600000001", "34600000003"]
    assert [o["state"] for o in outcomes] == ["accepted", "accepted"]
    assert all(len(o["message_ids"]) == 1 for o in outcomes)


def test_parallel_sends_stay_within_the_cap_and_send_each_batch_once(
    tmp_path: Path, sandbox: Sandbox, mensatek_client: MensatekClient
) -> None:
    emails = [{"email": f"p{i}@example.com"} for i in range(40)]
    plan = plan_campaign(rows_from_list(emails), tmp_path / "par", channel="certified_email",
                         campaign_reference="par", batch_size=5)
    sender = BatchSender(tmp_path / "par", mensatek_client, "certified_email",
                         {"sender": "avisos@example.com", "subject": "Hola", "message": "Texto"})
    with pytest.raises(ValidationError, match="max_parallel must be between 1 and 4"):
        sender.send_all(plan["batches"], max_parallel=8)
    assert len(sandbox.requests) == 0

    outcomes = sender.send_all(plan["batches"], max_parallel=3)
    assert [o["batch_id"] for o in outcomes] == [f"{n:05d}" for n in range(1, 9)]
    assert sent_emails(sandbox) == Counter({f"p{i}@example.com": 1 for i in range(40)})
    assert sorted(r.param("Referenciausuario") for r in sandbox.requests_to("EnviarEMAILCERTIFICADO")) == [
        f"par-{n:05d}" for n in range(1, 9)]


def test_legallymail_campaign_posts_one_send_per_batch(tmp_path: Path, sandbox: Sandbox) -> None:
    emails = [f"lm{i}@example.com" for i in range(12)]
    plan = plan_campaign(rows_from_list(emails), tmp_path / "lm", channel="legallymail_certified_email",
                         campaign_reference="lm")
    client = LegallyMailClient(LEGALLYMAIL_TOKEN, base_url=sandbox.legallymail_url)
    sender = BatchSender(tmp_path / "lm", client, "legallymail_certified_email",
                         {"subject": "Aviso", "message": "<p>Texto</p>"})
    outcomes = sender.send_all(plan["batches"])

    sends = [r for r in sandbox.requests if r.path.endswith("/send")]
    assert len(sends) == 2
    assert [o["state"] for o in outcomes] == ["accepted", "accepted"]
    assert sum(o["sent"] for o in outcomes) == 12


def test_a_batch_file_changed_after_planning_is_refused_before_any_request(
    tmp_path: Path, sandbox: Sandbox, mensatek_client: MensatekClient
) -> None:
    plan = certified_plan(tmp_path, batch_size=2)
    with edited_batch_file(tmp_path / "campaign", "00001") as batch:
        batch["destinatarios"] = batch["destinatarios"].replace("ana@", "intruso@", 1)  # never validated by the plan

    with pytest.raises(ValidationError, match="changed on storage after it was planned"):
        BatchSender(tmp_path / "campaign", mensatek_client, "certified_email", MESSAGE).send(plan["batches"][0])
    assert len(sandbox.requests) == 0


def test_email_campaign_sends_per_recipient_variables_and_cannot_be_cancelled(
    tmp_path: Path, sandbox: Sandbox, mensatek_client: MensatekClient
) -> None:
    plan = plan_campaign(rows_from_csv(io.StringIO(CSV_TEXT)), tmp_path / "mail", channel="email",
                         campaign_reference="mail", columns={"variables": {"importe": "importe"}}, max_invalid=5)
    sender = BatchSender(tmp_path / "mail", mensatek_client, "email",
                         {"sender": "avisos@example.com", "subject": "Hola", "message": "<p>###importe###</p>"})

    (outcome,) = sender.send_all(plan["batches"])

    (request,) = sandbox.requests_to("EnviarEMAIL")
    assert request.json_param("Destinatarios")[0] == {
        "Email": "ana@example.com", "Nombre": "Ana", "Variables": [{"Nombre": "importe", "Valor": "10"}]}
    assert outcome["state"] == "accepted" and outcome["sent"] == 3 and len(outcome["message_ids"]) == 3
    with pytest.raises(ValidationError, match="cannot be cancelled"):
        control_campaign(tmp_path / "mail", mensatek_client, "email", "cancel")


def test_parallel_legallymail_batches_never_exceed_its_rate_limit(tmp_path: Path, sandbox: Sandbox) -> None:
    from tests.legallymail_support import FakeTime, make_client

    fake = FakeTime(sandbox)
    client = make_client(sandbox, LEGALLYMAIL_TOKEN, fake)
    emails = [f"lm{i}@example.com" for i in range(26)]
    plan = plan_campaign(rows_from_list(emails), tmp_path / "lm", channel="legallymail_certified_email",
                         campaign_reference="lm", batch_size=2)

    outcomes = BatchSender(tmp_path / "lm", client, "legallymail_certified_email",
                           {"subject": "Aviso", "message": "<p>Texto</p>"}).send_all(plan["batches"], max_parallel=4)

    assert [o["state"] for o in outcomes] == ["accepted"] * 13
    sends = [r for r in sandbox.requests if r.path.endswith("/send")]
    assert len(sends) == 13  # no 429 answered, none repeated
    assert sum(fake.sleeps) >= 60  # the 11th request waited for the next minute
