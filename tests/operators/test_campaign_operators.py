"""Campaign operators against the sandbox: plan, mapped batch send (task state store + ledger), control, summary."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_mensatek.campaigns.__main__ import main as campaigns_cli
from airflow_provider_mensatek.campaigns.ledger import Ledger
from airflow_provider_mensatek.clients import reset_auth_failures
from airflow_provider_mensatek.operators._base import SEND_STATE_KEY
from airflow_provider_mensatek.operators.campaigns import (
    MensatekCampaignControlOperator,
    MensatekCampaignSummaryOperator,
    MensatekPlanCampaignOperator,
    MensatekSendCampaignBatchOperator,
    MensatekSendCampaignOperator,
)
from airflow_provider_mensatek.sandbox import Fault, Sandbox
from tests.conftest import LEGALLYMAIL_TOKEN, MENSATEK_TOKEN, MENSATEK_USER
from tests.operator_support import FakeTaskStateStore

FUTURE = "2099-03-01T09:00:00+01:00"
PEOPLE = [{"name": f"Persona {i}", "email": f"persona{i}@example.com"} for i in range(5)]


class FakeTI(SimpleNamespace):
    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = json.loads(json.dumps(value))


def ctx(store: FakeTaskStateStore | None = None, map_index: int = -1, try_number: int = 1) -> Any:
    """A task context (typed Any: operators declare Airflow's Context TypedDict)."""
    ti = FakeTI(dag_id="campaign", task_id="send", run_id="manual__1", map_index=map_index,
                try_number=try_number, pushed={})
    out: dict[str, Any] = {"ti": ti}
    if store is not None:
        out["task_state_store"] = store
    return out


def plan(tmp_path: Path, recipients: Any = PEOPLE, **kwargs: Any) -> list[dict[str, Any]]:
    args: dict[str, Any] = {"task_id": "plan", "campaign_path": f"file://{tmp_path}/campaign",
                            "campaign_reference": "camp", "channel": "certified_email", "recipients": recipients,
                            "batch_size": 2}
    args.update(kwargs)
    batches: list[dict[str, Any]] = MensatekPlanCampaignOperator(**args).execute(ctx())
    return batches


def send_op(batch: dict[str, Any], **kwargs: Any) -> MensatekSendCampaignBatchOperator:
    args: dict[str, Any] = {"task_id": "send", "batch": batch, "sender": "avisos@example.com",
                            "subject": "Aviso {{Nombre}}", "message": "Texto", "send_at": FUTURE}
    args.update(kwargs)
    return MensatekSendCampaignBatchOperator(**args)


def per_address(sandbox: Sandbox) -> Counter[str]:
    return Counter(m.email for m in sandbox.mensatek.certified.values())


def test_plan_reads_a_csv_file_as_a_stream_and_reports_bad_lines(conn: Sandbox, tmp_path: Path) -> None:
    source = tmp_path / "lake" / "people.csv"
    source.parent.mkdir()
    source.write_text("correo;nombre\nana@example.com;Ana\nbad;Bea\nana@example.com;Ana\n")
    context = ctx()
    operator = MensatekPlanCampaignOperator(
        task_id="plan", campaign_path=f"file://{tmp_path}/c", campaign_reference="c1", channel="certified_email",
        recipients_path=f"file://{source}", columns={"email": "correo", "name": "nombre"}, max_invalid=1)

    batches = operator.execute(context)

    assert [(b["batch_id"], b["reference"], b["recipients"]) for b in batches] == [("00001", "c1-00001", 1)]
    full = context["ti"].pushed["plan"]
    assert [(r["line"], r["kind"]) for r in full["first_rejected"]] == [(3, "invalid"), (4, "duplicate")]
    assert len(conn.requests) == 0


@pytest.mark.parametrize("sources", [{}, {"recipients": PEOPLE, "recipients_path": "file:///x.csv"}])
def test_plan_needs_exactly_one_source(conn: Sandbox, tmp_path: Path, sources: dict[str, Any]) -> None:
    operator = MensatekPlanCampaignOperator(task_id="plan", campaign_path=f"file://{tmp_path}/c",
                                            campaign_reference="c", channel="sms", **sources)
    with pytest.raises(AirflowFailException, match="exactly one of recipients"):
        operator.execute(ctx())
    assert len(conn.requests) == 0


def test_too_many_invalid_rows_fail_the_plan_with_no_request(conn: Sandbox, tmp_path: Path) -> None:
    with pytest.raises(AirflowFailException, match=r"More than 0 invalid.*line 2"):
        plan(tmp_path, recipients=["ok@example.com", "nope"])
    assert len(conn.requests) == 0


def test_batch_send_records_the_task_state_and_a_retry_does_not_send_again(conn: Sandbox,
                                                                          tmp_path: Path) -> None:
    batches = plan(tmp_path)
    store = FakeTaskStateStore()

    first = send_op(batches[0]).execute(ctx(store, map_index=0))
    retry = send_op(batches[0]).execute(ctx(store, map_index=0, try_number=2))

    (request,) = conn.requests_to("EnviarEMAILCERTIFICADO")
    assert request.param("Referenciausuario") == "camp-00001"
    assert request.param("Asunto") == "Aviso {{Nombre}}"
    assert store.data[SEND_STATE_KEY]["state"] == "accepted"
    assert first["sent"] == 2 and retry["replayed"] and retry["message_ids"] == first["message_ids"]


def test_a_previous_try_that_died_mid_send_blocks_without_a_request(conn: Sandbox, tmp_path: Path) -> None:
    batches = plan(tmp_path)
    store = FakeTaskStateStore()
    store.set(SEND_STATE_KEY, {"state": "in_flight", "reference": "camp-00001", "started": "earlier"})

    with pytest.raises(AirflowFailException, match="outcome is unknown"):
        send_op(batches[0]).execute(ctx(store, try_number=2))
    assert len(conn.requests) == 0


def test_ledger_accepted_wins_over_a_stale_in_flight_task_state(conn: Sandbox, tmp_path: Path) -> None:
    """The worker died after the ledger's accepted record but before the task state store was updated."""
    batches = plan(tmp_path)
    first = send_op(batches[0]).execute(ctx(FakeTaskStateStore()))
    stale = FakeTaskStateStore()
    stale.set(SEND_STATE_KEY, {"state": "in_flight", "reference": "camp-00001", "started": "earlier"})

    again = send_op(batches[0]).execute(ctx(stale, try_number=2))

    assert again == {**first, "replayed": True}
    assert len(conn.requests_to("EnviarEMAILCERTIFICADO")) == 1


def test_ambiguous_send_fails_and_blocks_a_rerun_with_a_fresh_task_state(conn: Sandbox, tmp_path: Path) -> None:
    batches = plan(tmp_path)
    conn.inject("EnviarEMAILCERTIFICADO", Fault("drop_after_accept"))

    with pytest.raises(AirflowFailException, match="camp-00001"):
        send_op(batches[0]).execute(ctx(FakeTaskStateStore()))
    with pytest.raises(AirflowFailException, match=r"ambiguous.*ledger clear"):
        send_op(batches[0]).execute(ctx(FakeTaskStateStore()))  # a cleared, re-run DAG run

    assert len(conn.requests_to("EnviarEMAILCERTIFICADO")) == 1
    assert per_address(conn) == {"persona0@example.com": 1, "persona1@example.com": 1}


def test_clearing_the_ledger_unblocks_a_retry_in_the_same_dag_run(conn: Sandbox, tmp_path: Path) -> None:
    batches = plan(tmp_path)
    store = FakeTaskStateStore()  # the same DAG run: the task state store outlives the failed try
    conn.inject("EnviarEMAILCERTIFICADO", Fault("drop_after_accept"))
    with pytest.raises(AirflowFailException):
        send_op(batches[0]).execute(ctx(store))
    with pytest.raises(AirflowFailException, match="outcome is unknown"):
        send_op(batches[0]).execute(ctx(store, try_number=2))  # not cleared yet: still blocked

    assert campaigns_cli(["ledger", "clear", str(tmp_path / "campaign" / "ledger"), "00001",
                          "--by", "ops", "--note", "not in the panel"]) == 0
    result = send_op(batches[0]).execute(ctx(store, try_number=3))

    assert result["state"] == "accepted" and not result["replayed"]
    assert len(conn.requests_to("EnviarEMAILCERTIFICADO")) == 2  # the cleared batch, once more
    assert store.data[SEND_STATE_KEY]["state"] == "accepted"
    assert send_op(batches[0]).execute(ctx(store, try_number=4))["replayed"]
    assert len(conn.requests_to("EnviarEMAILCERTIFICADO")) == 2


def test_sequential_send_with_parallel_requests_sends_every_batch_once(conn: Sandbox, tmp_path: Path) -> None:
    batches = plan(tmp_path)
    operator = MensatekSendCampaignOperator(task_id="send_all", plan=batches, sender="avisos@example.com",
                                            subject="Aviso", message="Texto", max_parallel=2)

    outcomes = operator.execute(ctx())
    again = operator.execute(ctx())

    assert [o["batch_id"] for o in outcomes] == ["00001", "00002", "00003"]
    assert all(o["replayed"] for o in again)
    assert per_address(conn) == Counter({p["email"]: 1 for p in PEOPLE})


def test_sequential_send_fails_at_the_end_naming_unsent_batches(conn: Sandbox, tmp_path: Path) -> None:
    batches = plan(tmp_path)
    conn.inject("EnviarEMAILCERTIFICADO", Fault("drop_after_accept"))
    operator = MensatekSendCampaignOperator(task_id="send_all", plan=batches, sender="avisos@example.com",
                                            subject="Aviso", message="Texto")

    with pytest.raises(AirflowFailException, match=r"1 batch.* not accepted: 00001 ambiguous"):
        operator.execute(ctx())
    assert len(conn.requests_to("EnviarEMAILCERTIFICADO")) == 3  # the others still went out


def test_control_cancels_every_message_of_the_campaign(conn: Sandbox, tmp_path: Path) -> None:
    batches = plan(tmp_path)
    for i, batch in enumerate(batches):
        send_op(batch).execute(ctx(FakeTaskStateStore(), map_index=i))

    results = MensatekCampaignControlOperator(task_id="cancel", campaign_path=f"file://{tmp_path}/campaign",
                                              action="cancel").execute(ctx())

    assert sorted(r["message_id"] for r in results) == sorted(conn.mensatek.certified)
    assert {(r["outcome"], r["credits_recovered"]) for r in results} == {("cancelled", 1.0)}
    assert all(m.cancelled_at is not None for m in conn.mensatek.certified.values())


def test_control_fails_after_acting_on_everything_it_could_naming_unknown_batches(conn: Sandbox,
                                                                                  tmp_path: Path) -> None:
    batches = plan(tmp_path)
    send_op(batches[0]).execute(ctx(FakeTaskStateStore()))
    conn.inject("EnviarEMAILCERTIFICADO", Fault("drop_after_accept"))
    with pytest.raises(AirflowFailException):
        send_op(batches[1]).execute(ctx(FakeTaskStateStore(), map_index=1))
    context = ctx()

    with pytest.raises(AirflowFailException, match=r"1 batch\(es\) could not be: batch 00002 "
                                                   r"\(reference 'camp-00002'\): unknown_outcome"):
        MensatekCampaignControlOperator(task_id="cancel", campaign_path=f"file://{tmp_path}/campaign",
                                        action="cancel").execute(context)

    results = context["ti"].pushed["results"]
    assert [(r["batch_id"], r["outcome"]) for r in results] == [
        ("00001", "cancelled"), ("00001", "cancelled"), ("00002", "unknown_outcome")]
    cancelled = {m.email for m in conn.mensatek.certified.values() if m.cancelled_at is not None}
    assert cancelled == {"persona0@example.com", "persona1@example.com"}


def test_summary_fails_when_batches_are_unsent_and_keeps_the_token_out(conn: Sandbox, tmp_path: Path) -> None:
    batches = plan(tmp_path, recipients=[*PEOPLE, "nope"], max_invalid=1)
    send_op(batches[0]).execute(ctx(FakeTaskStateStore()))
    context = ctx()
    operator = MensatekCampaignSummaryOperator(task_id="summary", campaign_path=f"file://{tmp_path}/campaign")

    with pytest.raises(AirflowFailException, match=r"batches not sent \{'not_attempted': 2\}"):
        operator.execute(context)

    summary = context["ti"].pushed["summary"]
    assert (summary["recipients"], summary["sent"], summary["not_sent"]) == (6, 2, 4)
    assert summary["not_sent_reasons"] == {"invalid": 1, "not_attempted": 3}
    for path in (tmp_path / "campaign").rglob("*"):
        if path.is_file():
            assert MENSATEK_TOKEN not in path.read_text()


def test_legallymail_campaign_uses_its_connection_and_recipient_limit(sandbox: Sandbox, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_LEGALLYMAIL_DEFAULT", json.dumps({
        "conn_type": "legallymail", "password": LEGALLYMAIL_TOKEN, "host": sandbox.legallymail_url,
        "extra": {"max_retries": 1, "max_recipients": 3}}))
    emails = [f"lm{i}@example.com" for i in range(7)]
    batches = plan(tmp_path, recipients=emails, channel="legallymail_certified_email", batch_size=None)
    assert [b["recipients"] for b in batches] == [3, 3, 1]

    result = send_op(batches[0], sender=None, send_at=None, message="<p>Hola</p>").execute(
        ctx(FakeTaskStateStore()))

    (request,) = [r for r in sandbox.requests if r.path.endswith("/send")]
    assert request.bearer_token == LEGALLYMAIL_TOKEN
    assert result["state"] == "accepted" and result["sent"] == 3


def test_cli_refuses_to_clear_an_accepted_batch_and_exports_the_ledger(conn: Sandbox, tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    batches = plan(tmp_path)
    send_op(batches[0]).execute(ctx(FakeTaskStateStore()))
    ledger = tmp_path / "campaign" / "ledger"

    assert campaigns_cli(["ledger", "clear", str(ledger), "00001", "--by", "ops", "--note", "x"]) == 1
    assert "only in_flight or ambiguous" in capsys.readouterr().err
    assert campaigns_cli(["ledger", "export", str(ledger), str(tmp_path / "audit.jsonl")]) == 0
    events = [json.loads(line)["event"] for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert events == ["in_flight", "accepted"]
    assert [r["event"] for r in Ledger(ledger).records("00001")] == events


# -- input that cannot be a campaign: one clear failure, not retried, nothing sent ---------------------------


def test_plan_refuses_a_file_a_stray_quote_would_swallow(conn: Sandbox, tmp_path: Path) -> None:
    """The issue's case: 3,001 recipients, a stray quote on line 2, max_invalid=5."""
    source = tmp_path / "people.csv"
    source.write_text("name,email\n\"Ana,ana@example.com\n"
                      + "".join(f"Persona {i},persona{i}@example.com\n" for i in range(3000)))
    context = ctx()

    with pytest.raises(AirflowFailException, match=r"line 2: a quoted field opens on this line"):
        MensatekPlanCampaignOperator(
            task_id="plan", campaign_path=f"file://{tmp_path}/campaign", campaign_reference="camp",
            channel="certified_email", recipients_path=f"file://{source}", max_invalid=5).execute(context)

    assert context["ti"].pushed == {} and not (tmp_path / "campaign" / "plan.json").exists()
    assert len(conn.requests) == 0


def test_plan_reads_another_encoding_when_told(conn: Sandbox, tmp_path: Path) -> None:
    source = tmp_path / "people.csv"
    source.write_bytes("nombre;correo\nJosé;jose@example.com\n".encode("cp1252"))
    options: dict[str, Any] = {"task_id": "plan", "campaign_path": f"file://{tmp_path}/campaign",
                               "campaign_reference": "camp", "channel": "certified_email",
                               "recipients_path": f"file://{source}", "columns": {"name": "nombre", "email": "correo"}}

    with pytest.raises(AirflowFailException, match=r"line 2 is not valid utf-8 text"):
        MensatekPlanCampaignOperator(**options).execute(ctx())
    batches = MensatekPlanCampaignOperator(**options, encoding="cp1252").execute(ctx())

    assert [b["recipients"] for b in batches] == [1]
    assert len(conn.requests) == 0


SMS_CSV = "nombre,movil\nAna,600000001\nBea,+34 600 000 002\n"


def test_an_sms_campaign_reads_national_numbers_with_a_default_country_code(conn: Sandbox, tmp_path: Path) -> None:
    source = tmp_path / "moviles.csv"
    source.write_text(SMS_CSV)

    def planned(campaign: str, **kwargs: Any) -> list[dict[str, Any]]:
        batches: list[dict[str, Any]] = MensatekPlanCampaignOperator(
            task_id="plan", campaign_path=f"file://{tmp_path}/{campaign}", campaign_reference=campaign,
            channel="sms", recipients_path=str(source), columns={"name": "nombre", "phone": "movil"},
            **kwargs).execute(ctx())
        return batches

    with pytest.raises(AirflowFailException, match=r"stopped at line 2.*line 2: phone '600000001' may lack its "
                                                   r"country code"):
        planned("sin-prefijo")
    (batch,) = planned("con-prefijo", default_country_code="34")
    MensatekSendCampaignBatchOperator(task_id="send", batch=batch, sender="AVISOS", message="Hola").execute(
        ctx(FakeTaskStateStore()))

    (request,) = conn.requests_to("EnviarSMS")
    assert [r["Movil"] for r in request.json_param("Destinatarios")] == ["34600000001", "34600000002"]


@pytest.mark.parametrize(("channel", "code", "message"), [
    ("sms", "44", "does not start with the default country code 44"),  # a Spanish number, digits only
    ("sms", "abc", "default_country_code must be a country calling code"),
    ("certified_email", "34", "default_country_code applies to SMS campaigns only"),
])
def test_a_default_country_code_that_cannot_apply_fails_the_plan(conn: Sandbox, tmp_path: Path, channel: str,
                                                                 code: str, message: str) -> None:
    recipients = ["34600000001"] if channel == "sms" else PEOPLE
    with pytest.raises(AirflowFailException, match=message):
        MensatekPlanCampaignOperator(task_id="plan", campaign_path=f"file://{tmp_path}/c", campaign_reference="c",
                                     channel=channel, recipients=recipients, default_country_code=code).execute(ctx())
    assert len(conn.requests) == 0


@pytest.mark.parametrize(("options", "message"), [
    ({"batch_size": 0}, r"batch_size must be a whole number >= 1, got 0"),
    ({"batch_size": ""}, r"batch_size must be a whole number >= 1, got ''"),  # a template that rendered nothing
    ({"max_invalid": "abc"}, r"max_invalid must be a whole number >= 0, got 'abc'"),
    ({"max_invalid": -1}, r"max_invalid must be a whole number >= 0"),
    ({"recipients": None, "recipients_path": "file://{tmp}/nowhere/people.csv"},
     r"people\.csv': No such file or directory"),
])
def test_plan_options_that_cannot_work_fail_once_with_a_clear_error(conn: Sandbox, tmp_path: Path,
                                                                   options: dict[str, Any], message: str) -> None:
    if "recipients_path" in options:
        options = {**options, "recipients_path": options["recipients_path"].format(tmp=tmp_path)}
    operator = MensatekPlanCampaignOperator(**{
        "task_id": "plan", "campaign_path": f"file://{tmp_path}/campaign", "campaign_reference": "camp",
        "channel": "certified_email", "recipients": PEOPLE, **options})
    with pytest.raises(AirflowFailException, match=message):
        operator.execute(ctx())
    assert len(conn.requests) == 0


@pytest.mark.parametrize("entry", [
    {}, [], "00001", {"batch_id": "00001"},
    {"campaign": "c", "channel": "certified_email", "batch_id": "../../etc/passwd", "reference": "r"},
    {"campaign": "c", "channel": "fax", "batch_id": "00001", "reference": "r"},
])
def test_a_malformed_batch_entry_fails_once_before_any_request(conn: Sandbox, tmp_path: Path, entry: Any) -> None:
    with pytest.raises(AirflowFailException, match="batch must be one entry of a campaign plan's batch list"):
        send_op(entry).execute(ctx(FakeTaskStateStore()))
    assert len(conn.requests) == 0


@pytest.mark.parametrize("batches", [[{}], [{"batch_id": "00001"}], "not a list", None])
def test_the_whole_campaign_operator_refuses_a_malformed_plan(conn: Sandbox, tmp_path: Path, batches: Any) -> None:
    operator = MensatekSendCampaignOperator(task_id="send_all", plan=batches, sender="avisos@example.com",
                                            subject="Aviso", message="Texto")
    with pytest.raises(AirflowFailException, match=r"batch must be|plan must be"):
        operator.execute(ctx())
    assert len(conn.requests) == 0


def test_the_whole_campaign_operator_refuses_batches_of_two_campaigns(conn: Sandbox, tmp_path: Path) -> None:
    first = plan(tmp_path / "a")
    other = plan(tmp_path / "b")
    operator = MensatekSendCampaignOperator(task_id="send_all", plan=[first[0], other[1]],
                                            sender="avisos@example.com", subject="Aviso", message="Texto")
    with pytest.raises(AirflowFailException, match="more than one campaign"):
        operator.execute(ctx())
    assert len(conn.requests) == 0


def test_an_unknown_campaign_folder_is_a_clear_error_everywhere(conn: Sandbox, tmp_path: Path) -> None:
    batch = {**plan(tmp_path)[0], "campaign": f"file://{tmp_path}/elsewhere"}
    unknown = f"file://{tmp_path}/elsewhere"

    with pytest.raises(AirflowFailException, match=r"There is no campaign folder at .*elsewhere"):
        send_op(batch).execute(ctx(FakeTaskStateStore()))
    with pytest.raises(AirflowFailException, match=r"There is no campaign folder at .*elsewhere"):
        MensatekCampaignControlOperator(task_id="cancel", campaign_path=unknown, action="cancel").execute(ctx())
    with pytest.raises(AirflowFailException, match=r"There is no campaign folder at .*elsewhere"):
        MensatekCampaignControlOperator(task_id="cancel", campaign_path=unknown, action="cancel",
                                        channel="certified_email").execute(ctx())
    with pytest.raises(AirflowFailException, match=r"There is no campaign folder at .*elsewhere"):
        MensatekCampaignSummaryOperator(task_id="summary", campaign_path=unknown).execute(ctx())
    assert len(conn.requests) == 0


def test_a_missing_plan_or_batch_file_is_a_clear_error(conn: Sandbox, tmp_path: Path) -> None:
    batches = plan(tmp_path)
    (tmp_path / "campaign" / "batches" / "00002.json").unlink()
    with pytest.raises(AirflowFailException, match=r"Batch 00002 has no file in .*campaign/batches"):
        send_op(batches[1]).execute(ctx(FakeTaskStateStore()))
    (tmp_path / "campaign" / "plan.json").unlink()
    with pytest.raises(AirflowFailException, match=r"campaign has no plan\.json: its plan step never finished"):
        MensatekCampaignSummaryOperator(task_id="summary", campaign_path=f"file://{tmp_path}/campaign").execute(ctx())
    assert len(conn.requests) == 0


# -- a refused credential: one failed login per campaign, whatever the executor --------------------------


def connection(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, token: str) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_MENSATEK_DEFAULT", json.dumps({
        "conn_type": "mensatek", "login": MENSATEK_USER, "password": token, "host": sandbox.mensatek_url,
        "extra": {"max_retries": 1}}))


TEN = [{"name": f"Persona {i}", "email": f"persona{i}@example.com"} for i in range(10)]


def test_a_refused_credential_is_tried_once_per_campaign_by_batch_tasks_in_separate_processes(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    connection(sandbox, monkeypatch, "not-the-token")
    batches = plan(tmp_path, recipients=TEN)
    assert len(batches) == 5
    errors = []

    for index, batch in enumerate(batches[:4]):
        reset_auth_failures()  # each mapped task runs in a process of its own: nothing remembered in memory
        with pytest.raises(AirflowFailException) as raised:
            send_op(batch).execute(ctx(FakeTaskStateStore(), map_index=index))
        errors.append(str(raised.value))
    # The last batch task in a real separate process.
    task = subprocess.run([sys.executable, "-c", BATCH_TASK, json.dumps(batches[4])], capture_output=True,
                          text=True, timeout=120)

    assert len(sandbox.requests) == 1  # one failed login, whatever the number of batch tasks
    assert "refused the credentials" in errors[0] or "code -1" in errors[0]
    for error in [*errors[1:], task.stdout]:
        assert "credential of this connection was refused at" in error and "by batch 00001" in error
        assert "ledger clear-auth" in error
    assert task.returncode == 3, task.stderr
    ledger = Ledger(tmp_path / "campaign" / "ledger")
    assert ledger.batch_ids() == ["00001"]  # the others were never claimed
    assert [r["event"] for r in ledger.records("00001")] == ["in_flight", "failed_not_sent"]  # sendable later
    basic = base64.b64encode(f"{MENSATEK_USER}:not-the-token".encode()).decode()
    for path in (tmp_path / "campaign").rglob("*"):
        if path.is_file():
            assert "not-the-token" not in path.read_text() and basic not in path.read_text()

    reset_auth_failures()
    with pytest.raises(AirflowFailException, match="credential of this connection was refused at"):
        MensatekSendCampaignOperator(task_id="send_all", plan=batches, sender="avisos@example.com",
                                     subject="Aviso", message="Texto").execute(ctx())
    assert len(sandbox.requests) == 1


BATCH_TASK = """
import json, sys
from types import SimpleNamespace
from airflow.sdk.exceptions import AirflowFailException
from airflow_provider_mensatek.operators.campaigns import MensatekSendCampaignBatchOperator

operator = MensatekSendCampaignBatchOperator(task_id="send", batch=json.loads(sys.argv[1]),
                                             sender="avisos@example.com", subject="Aviso", message="Texto")
try:
    operator.execute({"ti": SimpleNamespace(dag_id="campaign", task_id="send", run_id="r", map_index=4)})
except AirflowFailException as exc:
    print(exc)
    sys.exit(3)
"""


def test_a_fixed_connection_is_tried_without_clearing_anything(sandbox: Sandbox, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    connection(sandbox, monkeypatch, "not-the-token")
    batches = plan(tmp_path, recipients=TEN)
    with pytest.raises(AirflowFailException):
        send_op(batches[0]).execute(ctx(FakeTaskStateStore()))

    connection(sandbox, monkeypatch, MENSATEK_TOKEN)  # the connection fixed: another credential
    reset_auth_failures()
    outcomes = [send_op(b).execute(ctx(FakeTaskStateStore(), map_index=i)) for i, b in enumerate(batches)]

    assert [o["state"] for o in outcomes] == ["accepted"] * 5
    assert len(sandbox.requests) == 6
    assert per_address(sandbox) == Counter({p["email"]: 1 for p in TEN})


def test_the_same_credential_valid_again_is_tried_once_it_is_cleared(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    connection(sandbox, monkeypatch, MENSATEK_TOKEN)
    batches = plan(tmp_path, recipients=TEN)
    monkeypatch.setattr(sandbox, "mensatek_token", "blocked")  # the vendor refuses the account's token
    with pytest.raises(AirflowFailException):
        send_op(batches[0]).execute(ctx(FakeTaskStateStore()))
    monkeypatch.setattr(sandbox, "mensatek_token", MENSATEK_TOKEN)  # ... and takes it again later
    reset_auth_failures()
    ledger = str(tmp_path / "campaign" / "ledger")

    with pytest.raises(AirflowFailException, match="clear-auth"):
        send_op(batches[1]).execute(ctx(FakeTaskStateStore(), map_index=1))
    assert len(sandbox.requests) == 1
    capsys.readouterr()
    assert campaigns_cli(["ledger", "show", ledger]) == 1
    assert "refused credential recorded" in capsys.readouterr().out
    assert campaigns_cli(["ledger", "clear-auth", ledger, "--by", "ops", "--note", "unblocked by support"]) == 0
    assert campaigns_cli(["ledger", "clear-auth", ledger, "--by", "ops", "--note", "again"]) == 1

    outcomes = [send_op(b).execute(ctx(FakeTaskStateStore(), map_index=i)) for i, b in enumerate(batches)]

    assert [o["state"] for o in outcomes] == ["accepted"] * 5 and len(sandbox.requests) == 6
    assert campaigns_cli(["ledger", "export", ledger, str(tmp_path / "audit.jsonl")]) == 0
    audit = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert [r["event"] for r in audit if r["event"].startswith("auth")] == ["auth_failed", "auth_cleared"]
    assert audit[-1]["cleared_by"] == "ops" and "credential" not in audit[-1]
