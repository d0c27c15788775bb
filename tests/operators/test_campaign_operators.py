"""Campaign operators against the sandbox: plan, mapped batch send (task state store + ledger), control, summary."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_mensatek.campaigns.__main__ import main as campaigns_cli
from airflow_provider_mensatek.clients.campaign_ledger import Ledger
from airflow_provider_mensatek.operators._base import SEND_STATE_KEY
from airflow_provider_mensatek.operators.campaigns import (
    MensatekCampaignControlOperator,
    MensatekCampaignSummaryOperator,
    MensatekPlanCampaignOperator,
    MensatekSendCampaignBatchOperator,
    MensatekSendCampaignOperator,
)
from airflow_provider_mensatek.sandbox import Fault, Sandbox
from tests.conftest import LEGALLYMAIL_TOKEN, MENSATEK_TOKEN
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
