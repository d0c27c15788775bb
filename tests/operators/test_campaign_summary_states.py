"""The summary operator after a worker was killed mid-send and after a batch was cleared (sandbox, real processes).

Neither batch is proven unsent: the killed worker's request reached the
vendor, and a cleared batch is resent by its own task. Their recipients belong
in ``unconfirmed.csv`` (check the panel first), never in ``not_sent.csv``
(the file people fix and resend), or they would be sent twice.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_mensatek.campaigns.__main__ import main as campaigns_cli
from airflow_provider_mensatek.campaigns.ledger import Ledger
from airflow_provider_mensatek.operators.campaigns import MensatekCampaignSummaryOperator
from airflow_provider_mensatek.sandbox import Fault, Sandbox
from tests.conftest import REPO
from tests.operator_support import FakeTaskStateStore
from tests.operators.test_campaign_operators import PEOPLE, ctx, plan, send_op

#: One mapped batch task in a worker process of its own, as an executor runs it; killed while its request is out.
BATCH_TASK = """
import json, sys
from types import SimpleNamespace
from airflow_provider_mensatek.operators.campaigns import MensatekSendCampaignBatchOperator

MensatekSendCampaignBatchOperator(task_id="send", batch=json.loads(sys.argv[1]), sender="avisos@example.com",
                                  subject="Aviso", message="Texto").execute(
    {"ti": SimpleNamespace(dag_id="campaign", task_id="send", run_id="r", map_index=1)})
"""


def kill_mid_send(sandbox: Sandbox, batch: dict[str, object]) -> None:
    """Run ``batch``'s task in a worker process and SIGKILL it once the vendor holds its request."""
    before = len(sandbox.requests_to("EnviarEMAILCERTIFICADO"))
    sandbox.inject("EnviarEMAILCERTIFICADO", Fault("delay", delay=5.0))  # the vendor is slow to answer
    worker = subprocess.Popen([sys.executable, "-c", BATCH_TASK, json.dumps(batch)], cwd=REPO,
                              env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120  # a generous bound on importing Airflow on a busy machine
        while len(sandbox.requests_to("EnviarEMAILCERTIFICADO")) == before and worker.poll() is None:
            assert time.monotonic() < deadline, "the worker never sent its batch"
            time.sleep(0.05)
        worker.send_signal(signal.SIGKILL)
        _, stderr = worker.communicate(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert worker.returncode == -signal.SIGKILL, stderr


def rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.open(newline="")))


def test_in_flight_and_cleared_batches_are_unconfirmed_never_not_sent(conn: Sandbox, tmp_path: Path) -> None:
    people = [*PEOPLE, "nope", {"name": "Persona 5", "email": "persona5@example.com"}]
    batches = plan(tmp_path, recipients=people, max_invalid=1)  # 3 batches of 2 recipients; 1 invalid row
    campaign = tmp_path / "campaign"
    ledger = Ledger(campaign / "ledger")
    send_op(batches[0]).execute(ctx(FakeTaskStateStore()))  # accepted

    kill_mid_send(conn, batches[1])
    assert [r["event"] for r in ledger.records("00002")] == ["in_flight"]

    conn.inject("EnviarEMAILCERTIFICADO", Fault("drop_after_accept"))
    with pytest.raises(AirflowFailException):
        send_op(batches[2]).execute(ctx(FakeTaskStateStore(), map_index=2))
    assert campaigns_cli(["ledger", "clear", str(campaign / "ledger"), "00003", "--by", "ops",
                          "--note", "not in the panel"]) == 0
    assert [r["event"] for r in ledger.records("00003")] == ["in_flight", "ambiguous", "cleared"]

    context = ctx()
    with pytest.raises(AirflowFailException, match="batches not sent"):
        MensatekCampaignSummaryOperator(task_id="summary", campaign_path=f"file://{campaign}").execute(context)

    # Only the invalid row may be fixed and resent.
    assert [(r["line"], r["value"]) for r in rows(campaign / "not_sent.csv")] == [("6", "nope")]
    unconfirmed = rows(campaign / "unconfirmed.csv")
    assert [(r["line"], r["email"]) for r in unconfirmed] == [
        ("3", "persona2@example.com"), ("4", "persona3@example.com"),   # the killed worker's batch
        ("5", "persona4@example.com"), ("7", "persona5@example.com"),   # the cleared batch
    ]
    for row in unconfirmed[:2]:
        assert "worker stopped mid-send" in row["reason"]
        assert "check the vendor panel for reference camp-00002" in row["reason"]
    for row in unconfirmed[2:]:
        assert "ops cleared the batch for one resend by its task (not in the panel)" in row["reason"]
        assert "rather than resending from this file" in row["reason"]
    summary = context["ti"].pushed["summary"]
    assert summary["batch_states"] == {"accepted": 1, "in_flight": 1, "cleared": 1}
    assert summary["not_sent_reasons"] == {"invalid": 1}
    assert summary["unconfirmed_reasons"] == {"outcome_unknown": 2, "cleared": 2}
    # What the vendor holds: the killed worker's batch too (its request was answered after the kill).
    assert len(conn.requests_to("EnviarEMAILCERTIFICADO")) == 3
