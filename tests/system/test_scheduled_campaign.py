"""The scheduled-campaign example DAG and its fault variants, with dag.test() against the sandbox.

Duplicates are counted on the sandbox: how many certified emails it holds per address.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

from airflow_provider_mensatek.campaigns.__main__ import main as campaigns_cli
from airflow_provider_mensatek.sandbox import Fault, Sandbox
from tests.conftest import MENSATEK_TOKEN, MENSATEK_USER

DAG_FILE = "example_dags/scheduled_campaign.py"
EXPECTED = {"ana.garcia@example.com", "luis.perez@example.com", "jorge.sanz@example.com",
            "elena.gil@example.com", "pablo.ramos@example.com"}


def per_address(sandbox: Sandbox) -> Counter[str]:
    return Counter(m.email.lower() for m in sandbox.mensatek.certified.values())


def conf(tmp_path: Path) -> dict[str, str]:
    return {"lake": f"file://{tmp_path}/lake", "campaign": "renovaciones-test"}


def test_example_campaign_plans_sends_mapped_reschedules_and_summarizes(run_dag, sandbox: Sandbox,
                                                                        tmp_path: Path) -> None:
    result = run_dag(DAG_FILE, run_conf=conf(tmp_path))

    assert result.state == "success", result.task_states
    assert set(result.task_states.values()) == {"success"}
    plan = json.loads((tmp_path / "lake" / "campaigns" / "renovaciones-test" / "plan.json").read_text())
    assert result.xcoms["plan"] == plan["batches"]
    assert (plan["rows"], plan["valid"], plan["invalid"], plan["duplicates"]) == (7, 5, 1, 1)
    assert [(r["line"], r["kind"]) for r in plan["first_rejected"]] == [(4, "invalid"), (6, "duplicate")]
    assert [b["reference"] for b in plan["batches"]] == [f"renovaciones-test-0000{n}" for n in (1, 2, 3)]
    assert {k for k in result.task_states if k.startswith("send_batch[")} == {
        "send_batch[0]", "send_batch[1]", "send_batch[2]"}

    sends = sandbox.requests_to("EnviarEMAILCERTIFICADO")
    assert sorted(s.param("Referenciausuario") for s in sends) == [b["reference"] for b in plan["batches"]]
    for request in sends:
        assert request.basic_auth == (MENSATEK_USER, MENSATEK_TOKEN)
        assert request.param("Fecha").endswith("09:00")
        assert request.param("Asunto") == "Renovación de su póliza, {{Nombre}}"
        assert "{{Variable_1}}" in request.param("Mensaje") and "{{ ds }}" not in request.param("Mensaje")
    first_batch = next(s for s in sends if s.param("Referenciausuario").endswith("-00001"))
    first = json.loads(first_batch.param("Destinatarios"))
    assert first[0] == {"Nombre": "Ana García", "Email": "ana.garcia@example.com", "Variable_1": "P-2026-0001"}
    assert per_address(sandbox) == Counter(dict.fromkeys(EXPECTED, 1))

    moved = result.xcoms["reschedule"]
    assert {m["outcome"] for m in moved} == {"rescheduled"}
    assert sorted(m["message_id"] for m in moved) == sorted(sandbox.mensatek.certified)
    assert all(r.param("Fecha").endswith("10:00") for r in sandbox.requests_to("ReprogramarEMAILCERTIFICADO"))
    assert all(m.send_at.hour == 10 for m in sandbox.mensatek.certified.values())

    summary = result.xcoms["summary"]
    assert (summary["recipients"], summary["sent"], summary["not_sent"], summary["duplicates"]) == (7, 5, 1, 1)
    assert summary["credits_used"] == 5.0
    campaign = tmp_path / "lake" / "campaigns" / "renovaciones-test"
    rows = list(csv.DictReader((campaign / "not_sent.csv").open()))
    assert [(r["line"], r["correo"]) for r in rows] == [("4", "marta.ruiz@example")]
    assert MENSATEK_TOKEN not in (campaign / "ledger.jsonl").read_text()


def test_rerunning_the_dag_run_sends_nothing_twice(run_dag, sandbox: Sandbox, tmp_path: Path) -> None:
    first = run_dag(DAG_FILE, run_conf=conf(tmp_path))
    second = run_dag(DAG_FILE, run_conf=conf(tmp_path))

    assert first.state == second.state == "success", second.task_states
    assert len(sandbox.requests_to("EnviarEMAILCERTIFICADO")) == 3
    assert per_address(sandbox) == Counter(dict.fromkeys(EXPECTED, 1))
    replayed = [second.xcoms[f"send_batch[{i}]"] for i in range(3)]
    assert all(r["replayed"] for r in replayed)
    assert [r["message_ids"] for r in replayed] == [first.xcoms[f"send_batch[{i}]"]["message_ids"]
                                                    for i in range(3)]


def test_dropped_connection_after_accept_blocks_until_cleared(run_dag, sandbox: Sandbox, tmp_path: Path,
                                                              capsys) -> None:
    sandbox.inject("EnviarEMAILCERTIFICADO", Fault("drop_after_accept"))
    first = run_dag(DAG_FILE, run_conf=conf(tmp_path))

    assert first.state == "failed"
    failed = [k for k, v in first.task_states.items() if k.startswith("send_batch[") and v == "failed"]
    assert len(failed) == 1  # ambiguous: no Airflow retry for that batch
    assert per_address(sandbox) == Counter(dict.fromkeys(EXPECTED, 1))  # the vendor did get it, once
    assert first.task_states["summary"] == "failed"  # written, then failed: batches are unsent
    summary = json.loads((tmp_path / "lake" / "campaigns" / "renovaciones-test" / "summary.json").read_text())
    assert summary["batch_states"] == {"accepted": 2, "ambiguous": 1}
    assert summary["not_sent_reasons"] == {"invalid": 1}  # the ambiguous batch is not in the file to resend
    unknown = summary["unconfirmed_reasons"]["outcome_unknown"]
    assert summary["unconfirmed_reasons"] == {"outcome_unknown": unknown}
    assert summary["sent"] + unknown == 5 and unknown in (1, 2)

    again = run_dag(DAG_FILE, run_conf=conf(tmp_path))
    assert again.state == "failed"
    assert len(sandbox.requests_to("EnviarEMAILCERTIFICADO")) == 3  # blocked: nothing resent
    assert per_address(sandbox) == Counter(dict.fromkeys(EXPECTED, 1))

    ledger = tmp_path / "lake" / "campaigns" / "renovaciones-test" / "ledger"
    capsys.readouterr()
    assert campaigns_cli(["ledger", "show", str(ledger)]) == 1
    shown = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert sorted(line[1] for line in shown) == ["accepted", "accepted", "ambiguous"]
    blocked = next(line[0] for line in shown if line[1] == "ambiguous")
    assert campaigns_cli(["ledger", "clear", str(ledger), blocked, "--by", "ops", "--note", "lost"]) == 0
    third = run_dag(DAG_FILE, run_conf=conf(tmp_path))
    assert third.state == "success", third.task_states
    assert len(sandbox.requests_to("EnviarEMAILCERTIFICADO")) == 4  # exactly the cleared batch, once


def test_batch_retried_after_the_vendor_accepted_sends_nothing_twice(run_dag, sandbox: Sandbox,
                                                                     tmp_path: Path) -> None:
    result = run_dag("tests/system/dags/mensatek_campaign_batch_crash.py",
                     run_conf={"campaign_path": f"file://{tmp_path}/crash"})

    assert result.state == "success", result.task_states
    assert len(sandbox.requests_to("EnviarEMAILCERTIFICADO")) == 3
    assert per_address(sandbox) == Counter({f"persona{i}@example.com": 1 for i in range(5)})
    outcomes = [result.xcoms[f"send_batch[{i}]"] for i in range(3)]
    assert all(o["replayed"] and o["state"] == "accepted" for o in outcomes)
