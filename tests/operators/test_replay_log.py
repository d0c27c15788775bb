"""A retry that returns the result an earlier try recorded says so in its log, instead of reading like
a second send ("Mensatek accepted 1 certified email(s)")."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_mensatek.operators.certified_email import MensatekSendCertifiedEmailOperator
from airflow_provider_mensatek.operators.legallymail import LegallyMailSendCertifiedSmsOperator
from airflow_provider_mensatek.operators.sms import MensatekSendSmsOperator
from airflow_provider_mensatek.sandbox import Sandbox
from tests.conftest import LEGALLYMAIL_TOKEN
from tests.operator_support import FakeTaskStateStore

REPLAY = re.compile(r"Not sent again: returning the result try 1 recorded at "
                    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+00:00\. ")


def try_context(store: FakeTaskStateStore, try_number: int) -> Any:
    ti = SimpleNamespace(dag_id="avisos", task_id="enviar", run_id="manual__1", map_index=-1, try_number=try_number)
    return {"ti": ti, "task_state_store": store}


def logged(capsys: pytest.CaptureFixture[str], operator: Any, context: Any) -> str:
    """What the task log shows (Airflow's task loggers write through structlog to the captured output)."""
    capsys.readouterr()
    operator.execute(context)
    return capsys.readouterr().out


def test_a_retry_returning_the_recorded_send_says_so(conn: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    store = FakeTaskStateStore()

    def op() -> MensatekSendCertifiedEmailOperator:
        return MensatekSendCertifiedEmailOperator(task_id="enviar", sender="avisos@example.com",
                                                  recipients=["ana@example.com"], subject="Aviso", message="Texto")

    first = logged(capsys, op(), try_context(store, 1))
    assert "Mensatek accepted 1 certified email(s)" in first and "Not sent again" not in first

    second = logged(capsys, op(), try_context(store, 2))
    line = next(line for line in second.splitlines() if "certified email(s)" in line)
    assert REPLAY.search(line), line
    assert len(conn.requests_to("EnviarEMAILCERTIFICADO")) == 1


def test_the_sms_and_legallymail_logs_say_so_too(conn: Sandbox, capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_LEGALLYMAIL_DEFAULT", json.dumps({
        "conn_type": "legallymail", "password": LEGALLYMAIL_TOKEN, "host": conn.legallymail_url}))
    for make, needle in [
        (lambda: MensatekSendSmsOperator(task_id="enviar", sender="MIEMPRESA", recipients=["+34600000001"],
                                         message="Aviso"), "Mensatek accepted 1 SMS"),
        (lambda: LegallyMailSendCertifiedSmsOperator(task_id="enviar", phone="+34600000001", message="Aviso"),
         "LegallyMail accepted certified SMS"),
    ]:
        store = FakeTaskStateStore()
        assert "Not sent again" not in logged(capsys, make(), try_context(store, 1))
        line = next(line for line in logged(capsys, make(), try_context(store, 3)).splitlines() if needle in line)
        assert REPLAY.search(line), line
    assert len(conn.requests_to("EnviarSMS")) == 1
    assert len([r for r in conn.requests if r.path.endswith("/sms/send")]) == 1


def test_a_record_from_before_tries_were_recorded_still_reads_as_an_earlier_try(
    conn: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    store = FakeTaskStateStore()
    op = MensatekSendCertifiedEmailOperator(task_id="enviar", sender="avisos@example.com",
                                            recipients=["ana@example.com"], subject="Aviso", message="Texto")
    result = op.execute(try_context(store, 1))
    store.set("mensatek.send", {"state": "accepted", "reference": result["reference"], "result": result})
    assert "Not sent again: returning the result an earlier try recorded. Mensatek accepted" in logged(
        capsys, op, try_context(store, 2))
