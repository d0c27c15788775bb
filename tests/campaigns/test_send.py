"""Campaign core (no Airflow): recipient sources, batch plans, the send ledger, control and summary."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import subprocess
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_mensatek.campaigns.control import control_campaign
from airflow_provider_mensatek.campaigns.input import rows_from_csv, rows_from_json_lines
from airflow_provider_mensatek.campaigns.ledger import Ledger, LedgerBlockedError, LedgerError
from airflow_provider_mensatek.campaigns.plan import plan_campaign
from airflow_provider_mensatek.campaigns.recipients import (
    RecipientReader,
    TooManyInvalidRowsError,
    rows_from_list,
)
from airflow_provider_mensatek.campaigns.send import BatchSender
from airflow_provider_mensatek.campaigns.summary import summarize
from airflow_provider_mensatek.clients import MensatekClient
from airflow_provider_mensatek.clients.errors import (
    AmbiguousSendError,
    InsufficientCreditsError,
    MensatekError,
    ValidationError,
)
from airflow_provider_mensatek.clients.legallymail.client import LegallyMailClient
from airflow_provider_mensatek.sandbox import Fault, Sandbox
from tests.conftest import LEGALLYMAIL_TOKEN, MENSATEK_TOKEN, MENSATEK_USER

CSV_TEXT = (
    "name,email,phone,importe\n"
    "Ana,ana@example.com,+34 600 000 001,10\n"
    "Bea,not-an-email,600,20\n"                      # line 3: invalid email
    "Carlos,carlos@example.com,34600000003,30\n"
    "Dani,dani@example.com\n"                         # line 5: too few fields
    "Ana bis,ANA@example.com,34600000009,40\n"        # line 6: duplicate of line 2
    "\n"
    "Eva,eva@example.com,34600000005,50\n"            # line 8
)
FUTURE = "2099-06-01T09:00:00+02:00"
MESSAGE = {"sender": "avisos@example.com", "subject": "Aviso {{Nombre}}", "message": "Importe {{Variable_1}}",
           "send_at": FUTURE}


def certified_plan(tmp_path: Path, text: str = CSV_TEXT, **kwargs: Any) -> dict[str, Any]:
    options: dict[str, Any] = {"channel": "certified_email", "campaign_reference": "nov-avisos",
                               "columns": {"variables": {"Variable_1": "importe"}}, "max_invalid": 5}
    options.update(kwargs)
    return plan_campaign(rows_from_csv(io.StringIO(text)), tmp_path / "campaign", **options)


def sent_emails(sandbox: Sandbox) -> Counter[str]:
    return Counter(m.email.lower() for m in sandbox.mensatek.certified.values())


def test_campaign_core_imports_no_airflow() -> None:
    code = (
        "import sys\n"
        "import airflow_provider_mensatek.campaigns.send, airflow_provider_mensatek.campaigns.recipients\n"
        "sys.exit(any(m == 'airflow' or m.startswith('airflow.') for m in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


# -- sources ------------------------------------------------------------------------------


def test_csv_rows_are_validated_with_their_file_line_numbers(sandbox: Sandbox) -> None:
    reader = RecipientReader("certified_email", {"variables": ["importe"]}, max_invalid=None)
    valid = list(reader.recipients(rows_from_csv(io.StringIO(CSV_TEXT))))

    assert [r.line for r in valid] == [2, 4, 8]
    assert valid[0].vendor == {"Nombre": "Ana", "Email": "ana@example.com", "importe": "10"}
    rejected = [(r.line, r.kind, r.reason) for r in reader.first_rejected]
    assert rejected[0][:2] == (3, "invalid") and "not-an-email" in rejected[0][2]
    assert rejected[1] == (5, "invalid", "has 2 fields, the header has 4")
    assert rejected[2] == (6, "duplicate", "duplicate of line 2 (ana@example.com)")
    assert (reader.read, reader.invalid, reader.duplicates) == (6, 2, 1)
    assert len(sandbox.requests) == 0


def test_sms_channel_uses_the_phone_column_and_the_phone_validator() -> None:
    reader = RecipientReader("sms", {"variables": {"Variable_1": "importe"}}, max_invalid=None)
    valid = list(reader.recipients(rows_from_csv(io.StringIO(CSV_TEXT))))

    assert [(r.line, r.vendor["Movil"]) for r in valid][:2] == [(2, "34600000001"), (4, "34600000003")]
    assert valid[0].vendor["Variable_1"] == "10"
    assert [(r.line, r.kind) for r in reader.first_rejected] == [(3, "invalid"), (5, "invalid")]
    assert "not an international number" in reader.first_rejected[0].reason


def test_json_lines_bad_json_is_an_invalid_row_with_its_line() -> None:
    text = '{"email": "a@example.com"}\n{not json\n\n{"email": "b@example.com", "name": "Bea"}\n'
    reader = RecipientReader("email", None, max_invalid=None)
    valid = list(reader.recipients(rows_from_json_lines(io.StringIO(text))))

    assert [(r.line, r.key) for r in valid] == [(1, "a@example.com"), (4, "b@example.com")]
    assert reader.first_rejected[0].line == 2 and "not valid JSON" in reader.first_rejected[0].reason


def test_list_source_accepts_strings_dicts_and_a_json_xcom_string() -> None:
    reader = RecipientReader("legallymail_certified_email", None, max_invalid=None)
    items = json.dumps(["a@example.com", {"email": "b@example.com"}, 42])
    valid = list(reader.recipients(rows_from_list(items)))

    assert [v.vendor for v in valid] == [{"email": "a@example.com"}, {"email": "b@example.com"}]
    assert reader.first_rejected[0].line == 3


def test_max_invalid_stops_the_plan_before_anything_is_sent(tmp_path: Path, sandbox: Sandbox) -> None:
    with pytest.raises(TooManyInvalidRowsError, match=r"More than 1 invalid.*line 3: .*not-an-email"):
        certified_plan(tmp_path, max_invalid=1)

    assert not (tmp_path / "campaign" / "plan.json").exists()
    assert len(sandbox.requests) == 0


# -- plans ------------------------------------------------------------------------------------


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


# -- sending through the ledger ----------------------------------------------------------------


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


def test_the_claim_is_exclusive_on_object_storage_too(caplog: pytest.LogCaptureFixture) -> None:
    from upath import UPath  # what ObjectStoragePath builds on; fsspec's memory store stands in for S3

    ledger = Ledger(UPath(f"memory://campaign-claims-{uuid.uuid4().hex}/ledger"))

    assert ledger.claim("00001", 1, reference="r-00001") is not None
    assert ledger.claim("00001", 1, reference="r-00001") is None
    assert [r["event"] for r in ledger.records("00001")] == ["in_flight"]
    assert "cannot create a file exclusively" not in caplog.text


def test_storage_without_exclusive_create_warns_once_and_still_refuses_a_visible_claim(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from upath import UPath
    from upath.implementations.memory import MemoryPath

    real_open = MemoryPath.open

    def no_exclusive_mode(self: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if "x" in mode:
            raise ValueError(f"unsupported mode {mode!r}")
        return real_open(self, mode, *args, **kwargs)

    monkeypatch.setattr(MemoryPath, "open", no_exclusive_mode)
    monkeypatch.setattr("airflow_provider_mensatek.campaigns.ledger._WARNED_NOT_EXCLUSIVE", set())
    ledger = Ledger(UPath(f"memory://campaign-claims-{uuid.uuid4().hex}/ledger"))

    assert ledger.claim("00001", 1, reference="r-00001") is not None
    assert ledger.claim("00001", 1, reference="r-00001") is None
    assert ledger.claim("00002", 1, reference="r-00002") is not None
    assert caplog.text.count("cannot create a file exclusively") == 1
    assert "max_active_runs=1" in caplog.text


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


@pytest.fixture
def synced(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What each os.fsync call synced, in order: "file" or "dir" (the real fsync still runs)."""
    import os
    import stat

    kinds: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        kinds.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return kinds


def test_local_ledger_records_are_fsynced_file_and_folder(tmp_path: Path, synced: list[str]) -> None:
    ledger = Ledger(tmp_path / "ledger")
    ledger.claim("00001", 1, reference="r-00001")
    ledger.append("00001", "accepted", seq=2, reference="r-00001")

    # The first record also syncs the ledger folder, where the batch folder is new; later ones only theirs.
    assert synced == ["file", "dir", "dir", "file", "dir"]


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


# -- control and summary --------------------------------------------------------------------------


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


@contextlib.contextmanager
def edited_batch_file(campaign: Path, batch_id: str) -> Iterator[dict[str, Any]]:
    """A planned batch file as a dict to change in the with block; written back as it leaves."""
    path = campaign / "batches" / f"{batch_id}.json"
    batch = json.loads(path.read_text())
    yield batch
    path.write_text(json.dumps(batch))


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


# -- one request at a time, bookkeeping beside it -------------------------------------------


def forty_recipient_plan(tmp_path: Path, size: int = 10) -> dict[str, Any]:
    rows = [{"email": f"p{i}@example.com", "name": f"P {i}"} for i in range(40)]
    return plan_campaign(rows_from_list(rows), tmp_path / "seq", channel="certified_email",
                         campaign_reference="seq", batch_size=size)


PLAIN = {"sender": "avisos@example.com", "subject": "Hola {{Nombre}}", "message": "Texto"}


def events_of(tmp_path: Path, batch_id: str, folder: str = "seq") -> list[str]:
    return [r["event"] for r in Ledger(tmp_path / folder / "ledger").records(batch_id)]


def test_sequential_sends_never_overlap_and_every_record_is_written_before_returning(
    tmp_path: Path, sandbox: Sandbox, mensatek_client: MensatekClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = forty_recipient_plan(tmp_path)
    sandbox.inject("EnviarEMAILCERTIFICADO", Fault("delay", delay=0.05), times=4)
    busy, peak, lock = [0], [0], threading.Lock()
    real_request = mensatek_client.transport.session.send

    def counting(*args: Any, **kwargs: Any) -> Any:
        with lock:
            busy[0] += 1
            peak[0] = max(peak[0], busy[0])
        try:
            return real_request(*args, **kwargs)
        finally:
            with lock:
                busy[0] -= 1

    monkeypatch.setattr(mensatek_client.transport.session, "send", counting)
    outcomes = BatchSender(tmp_path / "seq", mensatek_client, "certified_email", PLAIN).send_all(plan["batches"])

    assert peak[0] == 1  # one request at a time, as a plain loop
    sends = sandbox.requests_to("EnviarEMAILCERTIFICADO")
    assert [s.param("Referenciausuario") for s in sends] == [f"seq-{n:05d}" for n in range(1, 5)]
    assert [s.json_param("Destinatarios")[0]["Email"] for s in sends] == [f"p{i}@example.com" for i in (0, 10, 20, 30)]
    assert [(o["batch_id"], o["state"], o["sent"], len(o["message_ids"])) for o in outcomes] == [
        (f"{n:05d}", "accepted", 10, 10) for n in range(1, 5)]
    assert all(events_of(tmp_path, f"{n:05d}") == ["in_flight", "accepted"] for n in range(1, 5))
    assert sent_emails(sandbox) == Counter({f"p{i}@example.com": 1 for i in range(40)})
    ledger = Ledger(tmp_path / "seq" / "ledger")
    accepted = ledger.records("00002")[-1]
    assert accepted["message_ids"] == outcomes[1]["message_ids"]
    assert accepted["ids_by_key"] == dict(zip([f"p{i}@example.com" for i in range(10, 20)],
                                              outcomes[1]["message_ids"], strict=True))


def test_an_authentication_failure_mid_campaign_stops_and_releases_the_batch_claimed_next(
    tmp_path: Path, sandbox: Sandbox, mensatek_client: MensatekClient
) -> None:
    from airflow_provider_mensatek.campaigns.auth import clear_auth
    from airflow_provider_mensatek.clients._http.transport import reset_auth_failures
    from airflow_provider_mensatek.clients.errors import AuthenticationError

    plan = forty_recipient_plan(tmp_path)
    sender = BatchSender(tmp_path / "seq", mensatek_client, "certified_email", PLAIN)
    sandbox.inject("EnviarEMAILCERTIFICADO", Fault("delay", delay=0.0))  # the first answers normally
    sandbox.inject("EnviarEMAILCERTIFICADO", Fault("status", status=401))  # the second: credentials refused
    real_call = mensatek_client.call

    def second_after_the_third_is_claimed(*args: Any, **kwargs: Any) -> Any:
        for _ in range(200):  # a vendor slower than the helper: batch 3 is claimed while batch 2 is out
            if kwargs.get("reference") != "seq-00002" or events_of(tmp_path, "00003"):
                break
            threading.Event().wait(0.01)
        return real_call(*args, **kwargs)

    mensatek_client.call = second_after_the_third_is_claimed  # type: ignore[method-assign]
    with pytest.raises(AuthenticationError):
        sender.send_all(plan["batches"])
    mensatek_client.call = real_call  # type: ignore[method-assign]

    assert len(sandbox.requests_to("EnviarEMAILCERTIFICADO")) == 2
    assert events_of(tmp_path, "00001") == ["in_flight", "accepted"]
    assert events_of(tmp_path, "00002") == ["in_flight", "failed_not_sent"]
    # Claimed while batch 2 was out, never requested: released for the next try, not blocked.
    assert events_of(tmp_path, "00003") == ["in_flight", "failed_not_sent"]
    released = Ledger(tmp_path / "seq" / "ledger").records("00003")[-1]
    assert "claimed, then not requested" in released["detail"] and released["error"] == "AuthenticationError"
    assert events_of(tmp_path, "00004") == []
    assert Ledger(tmp_path / "seq" / "ledger").batch_ids() == ["00001", "00002", "00003"]

    reset_auth_failures()  # a new task process, with the same credential, which the vendor takes again
    with pytest.raises(AuthenticationError, match="ledger clear-auth"):  # the ledger refuses it: no request
        BatchSender(tmp_path / "seq", mensatek_client, "certified_email", PLAIN).send_all(plan["batches"])
    assert len(sandbox.requests_to("EnviarEMAILCERTIFICADO")) == 2
    clear_auth(Ledger(tmp_path / "seq" / "ledger"), by="ops", note="the vendor unblocked the account")
    again = BatchSender(tmp_path / "seq", mensatek_client, "certified_email", PLAIN).send_all(plan["batches"])

    assert [(o["state"], o["replayed"]) for o in again] == [("accepted", True)] + [("accepted", False)] * 3
    assert len(sandbox.requests_to("EnviarEMAILCERTIFICADO")) == 5
    assert sent_emails(sandbox) == Counter({f"p{i}@example.com": 1 for i in range(40)})


class Traced:
    """A client wrapped the way users wrap one (to trace its calls): its public API forwarded, nothing else."""

    PUBLIC = ("call", "build_certified_email_params", "send_certified_email", "credential_id", "vendor")

    def __init__(self, client: MensatekClient) -> None:
        self._client = client
        self.traced: list[str] = []

    def __getattr__(self, name: str) -> Any:
        if name not in self.PUBLIC:
            raise AttributeError(name)
        self.traced.append(name)
        return getattr(self._client, name)


def test_the_ledger_compares_the_clients_public_credential_id(
    tmp_path: Path, sandbox: Sandbox, mensatek_client: MensatekClient
) -> None:
    """A refused credential recorded in the ledger blocks that credential only, known by the public credential_id."""
    from airflow_provider_mensatek.clients.errors import AuthenticationError

    plan = forty_recipient_plan(tmp_path)
    with MensatekClient(MENSATEK_USER, "not-the-token", base_url=sandbox.mensatek_url) as refused:
        with pytest.raises(AuthenticationError):
            BatchSender(tmp_path / "seq", refused, "certified_email", PLAIN).send(plan["batches"][0])
    assert len(sandbox.requests) == 1

    traced = Traced(mensatek_client)  # another credential, seen through the client's public API only
    outcome = BatchSender(tmp_path / "seq", traced, "certified_email", PLAIN).send(plan["batches"][0])

    assert outcome["state"] == "accepted" and "credential_id" in traced.traced
    assert len(sandbox.requests) == 2
    assert sandbox.requests[1].basic_auth == (MENSATEK_USER, MENSATEK_TOKEN)
    assert sent_emails(sandbox) == Counter({f"p{i}@example.com": 1 for i in range(10)})


def test_an_interrupted_campaign_blocks_the_batch_in_flight_and_releases_the_one_claimed_next(
    tmp_path: Path, sandbox: Sandbox, mensatek_client: MensatekClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = forty_recipient_plan(tmp_path)
    sender = BatchSender(tmp_path / "seq", mensatek_client, "certified_email", PLAIN)
    real_call = mensatek_client.call

    def interrupted_on_the_second(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("reference") == "seq-00002":
            # e.g. the task's execution_timeout fires while the request is out, once the helper claimed batch 3
            for _ in range(200):
                if events_of(tmp_path, "00003"):
                    break
                threading.Event().wait(0.01)
            raise KeyboardInterrupt
        return real_call(*args, **kwargs)

    monkeypatch.setattr(mensatek_client, "call", interrupted_on_the_second)
    with pytest.raises(KeyboardInterrupt):
        sender.send_all(plan["batches"])

    assert events_of(tmp_path, "00001") == ["in_flight", "accepted"]
    assert events_of(tmp_path, "00002") == ["in_flight"]  # may have reached the vendor: a person decides
    assert events_of(tmp_path, "00003") == ["in_flight", "failed_not_sent"]  # known not requested
    assert events_of(tmp_path, "00004") == []
    monkeypatch.undo()
    again = sender.send_all(plan["batches"])
    assert [o["state"] for o in again] == ["accepted", "in_flight", "accepted", "accepted"]
    assert "claimed by a task sending the campaign one batch at a time" in again[1]["error"]
    assert len(sandbox.requests_to("EnviarEMAILCERTIFICADO")) == 3  # batches 1, 3 and 4; never 2 blindly


def test_a_batch_that_cannot_be_prepared_is_reported_and_the_others_still_go(
    tmp_path: Path, sandbox: Sandbox, mensatek_client: MensatekClient
) -> None:
    plan = forty_recipient_plan(tmp_path)
    with edited_batch_file(tmp_path / "seq", "00002") as batch:
        batch["destinatarios"] = batch["destinatarios"].replace("p10@", "intruso@", 1)

    outcomes = BatchSender(tmp_path / "seq", mensatek_client, "certified_email", PLAIN).send_all(plan["batches"])

    assert [o["state"] for o in outcomes] == ["accepted", None, "accepted", "accepted"]
    assert "changed on storage after it was planned" in outcomes[1]["error"]
    assert [s.param("Referenciausuario") for s in sandbox.requests_to("EnviarEMAILCERTIFICADO")] == [
        "seq-00001", "seq-00003", "seq-00004"]
    assert events_of(tmp_path, "00002") == []


def test_the_same_batch_twice_in_one_call_is_refused_before_any_request(
    tmp_path: Path, sandbox: Sandbox, mensatek_client: MensatekClient
) -> None:
    plan = forty_recipient_plan(tmp_path)
    sender = BatchSender(tmp_path / "seq", mensatek_client, "certified_email", PLAIN)
    with pytest.raises(ValidationError, match="batch 00002 appears twice"):
        sender.send_all([*plan["batches"], plan["batches"][1]])
    assert len(sandbox.requests) == 0


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


def test_a_batch_file_of_another_format_is_refused_with_what_to_do(
    tmp_path: Path, sandbox: Sandbox, mensatek_client: MensatekClient
) -> None:
    plan = certified_plan(tmp_path, batch_size=2)
    path = tmp_path / "campaign" / "batches" / "00001.json"
    path.write_text(json.dumps({"batch_id": "00001", "format": 3, "recipients": "elsewhere"}))
    with pytest.raises(ValidationError, match=r"not a batch file this version can read.*plan the campaign again"):
        BatchSender(tmp_path / "campaign", mensatek_client, "certified_email", MESSAGE).send(plan["batches"][0])
    assert len(sandbox.requests) == 0


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


# -- the shortcuts over a planned batch's encoding agree with decoding it ---------------------


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


def test_a_folder_made_ahead_costs_the_claim_one_folder_sync_and_is_not_a_started_batch(
    tmp_path: Path, synced: list[str]
) -> None:
    ledger = Ledger(tmp_path / "ledger")
    (tmp_path / "ledger").mkdir()
    ledger.make_folder("00001")
    assert synced == ["dir"] and ledger.batch_ids() == []  # made ahead, nothing recorded: not started
    ledger.claim("00001", 1, reference="r-00001")
    assert synced == ["dir", "file", "dir"]
    assert ledger.batch_ids() == ["00001"] and [r["event"] for r in ledger.records("00001")] == ["in_flight"]


def test_a_stop_before_the_next_claim_keeps_the_helper_from_claiming(
    tmp_path: Path, sandbox: Sandbox, mensatek_client: MensatekClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import airflow_provider_mensatek.campaigns.send as campaigns

    plan = forty_recipient_plan(tmp_path)
    sender = BatchSender(tmp_path / "seq", mensatek_client, "certified_email", PLAIN)
    real_call, real_load = mensatek_client.call, campaigns.load_batch
    preparing_third, stopped = threading.Event(), threading.Event()

    def slow_third(campaign: Any, batch_id: str) -> dict[str, Any]:
        if batch_id == "00003":
            preparing_third.set()
            stopped.wait(5)  # still preparing when the sending thread stops
        return real_load(campaign, batch_id)

    def interrupted_on_the_second(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("reference") == "seq-00002":
            assert preparing_third.wait(5)
            threading.Timer(0.2, stopped.set).start()
            raise KeyboardInterrupt
        return real_call(*args, **kwargs)

    monkeypatch.setattr(campaigns, "load_batch", slow_third)
    monkeypatch.setattr(mensatek_client, "call", interrupted_on_the_second)
    with pytest.raises(KeyboardInterrupt):
        sender.send_all(plan["batches"])

    assert events_of(tmp_path, "00001") == ["in_flight", "accepted"]
    assert events_of(tmp_path, "00002") == ["in_flight"]
    assert events_of(tmp_path, "00003") == []  # prepared after the stop: never claimed
    assert [s.param("Referenciausuario") for s in sandbox.requests_to("EnviarEMAILCERTIFICADO")] == ["seq-00001"]


def test_bookkeeping_errors_never_hide_the_error_that_stopped_the_campaign(
    tmp_path: Path, sandbox: Sandbox, mensatek_client: MensatekClient, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Storage fails while the helper records batch 1, and the vendor refuses the credentials on batch 2."""
    from airflow_provider_mensatek.clients.errors import AuthenticationError

    plan = forty_recipient_plan(tmp_path)
    sender = BatchSender(tmp_path / "seq", mensatek_client, "certified_email", PLAIN)
    sandbox.inject("EnviarEMAILCERTIFICADO", Fault("delay", delay=0.0))
    sandbox.inject("EnviarEMAILCERTIFICADO", Fault("status", status=401))
    real_append, real_records, real_call = sender.ledger.append, sender.ledger.records, mensatek_client.call

    def second_after_the_third_is_claimed(*args: Any, **kwargs: Any) -> Any:
        for _ in range(200):
            if kwargs.get("reference") != "seq-00002" or events_of(tmp_path, "00003"):
                break
            threading.Event().wait(0.01)
        return real_call(*args, **kwargs)

    failing = {"append": True, "records": True}

    def flaky_append(batch_id: str, event: str, **fields: Any) -> dict[str, Any]:
        if event == "accepted" and failing["append"]:
            failing["append"] = False
            raise OSError("storage: 503 SlowDown")
        return real_append(batch_id, event, **fields)

    def flaky_records(batch_id: str) -> list[dict[str, Any]]:
        if batch_id == "00001" and not failing["append"] and failing["records"]:
            failing["records"] = False
            raise OSError("storage: 503 SlowDown")
        return real_records(batch_id)

    monkeypatch.setattr(sender.ledger, "append", flaky_append)
    monkeypatch.setattr(sender.ledger, "records", flaky_records)
    monkeypatch.setattr(mensatek_client, "call", second_after_the_third_is_claimed)
    with pytest.raises(AuthenticationError):
        sender.send_all(plan["batches"])

    monkeypatch.undo()
    assert not failing["append"] and not failing["records"]  # both storage errors happened
    # What the vendor answered for the unrecorded batch is not lost: the log has its message ids.
    accepted = [m for m in caplog.messages if "00001" in m and "was ACCEPTED by the vendor (10 sent" in m]
    assert len(accepted) == 1 and "message ids [" in accepted[0] and "503 SlowDown" in accepted[0]
    assert events_of(tmp_path, "00001") == ["in_flight"]  # accepted by the vendor, unrecorded: blocked, not resent
    assert events_of(tmp_path, "00002") == ["in_flight", "failed_not_sent"]
    assert events_of(tmp_path, "00003") == ["in_flight", "failed_not_sent"]
    assert len(sandbox.requests_to("EnviarEMAILCERTIFICADO")) == 2


def test_an_accepted_batch_is_replayed_from_the_ledger_even_if_its_batch_file_is_gone(
    tmp_path: Path, sandbox: Sandbox, mensatek_client: MensatekClient
) -> None:
    plan = forty_recipient_plan(tmp_path)
    sender = BatchSender(tmp_path / "seq", mensatek_client, "certified_email", PLAIN)
    first = sender.send_all(plan["batches"][:2])
    (tmp_path / "seq" / "batches" / "00001.json").unlink()

    again = sender.send_all(plan["batches"][:2])

    assert again == [{**o, "replayed": True} for o in first]
    assert len(sandbox.requests_to("EnviarEMAILCERTIFICADO")) == 2


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


def test_a_worker_killed_mid_campaign_leaves_two_batches_blocked_and_sends_nothing_twice(
    tmp_path: Path, sandbox: Sandbox, mensatek_client: MensatekClient
) -> None:
    """SIGKILL (OOM, node lost) while the helper records batch 1 and batch 2's request is out."""
    import os
    import signal
    import textwrap

    plan = forty_recipient_plan(tmp_path)
    sandbox.inject("EnviarEMAILCERTIFICADO", Fault("delay", delay=0.0))
    sandbox.inject("EnviarEMAILCERTIFICADO", Fault("delay", delay=1.0))  # batch 2 is out for a second
    code = textwrap.dedent(f"""
        import os, signal, time
        from pathlib import Path
        from airflow_provider_mensatek.clients import MensatekClient
        from airflow_provider_mensatek.campaigns.plan import read_json
        from airflow_provider_mensatek.campaigns.send import BatchSender
        campaign = Path({str(tmp_path / 'seq')!r})
        client = MensatekClient({MENSATEK_USER!r}, {MENSATEK_TOKEN!r}, base_url={sandbox.mensatek_url!r})
        sender = BatchSender(campaign, client, "certified_email", {PLAIN!r})
        real_finish = sender._finish
        def finish(prepared, read):
            if prepared.batch_id == "00001":
                time.sleep(0.5)  # batch 2's request has reached the vendor, which answers after a second
                os.kill(os.getpid(), signal.SIGKILL)
            return real_finish(prepared, read)
        sender._finish = finish
        sender.send_all(read_json(campaign / "plan.json")["batches"])
    """)
    killed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            cwd=Path(__file__).resolve().parents[2], env={**os.environ, "PYTHONPATH": "."})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    # The vendor has batches 1 and 2; the ledger cannot know: both blocked, nothing else claimed.
    assert [events_of(tmp_path, f"{n:05d}") for n in range(1, 5)] == [["in_flight"], ["in_flight"], [], []]

    again = BatchSender(tmp_path / "seq", mensatek_client, "certified_email", PLAIN).send_all(plan["batches"])

    assert [o["state"] for o in again] == ["in_flight", "in_flight", "accepted", "accepted"]
    assert [s.param("Referenciausuario") for s in sandbox.requests_to("EnviarEMAILCERTIFICADO")] == [
        "seq-00001", "seq-00002", "seq-00003", "seq-00004"]
    for _ in range(300):  # the vendor finishes batch 2 after its second, whoever still listens
        if "p10@example.com" in sent_emails(sandbox):
            break
        threading.Event().wait(0.01)
    assert sent_emails(sandbox) == Counter({f"p{i}@example.com": 1 for i in range(40)})
