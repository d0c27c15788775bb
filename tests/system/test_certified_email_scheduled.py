"""The certified-email example DAG, end to end with dag.test() against the sandbox."""

from __future__ import annotations

import json
import re

from airflow_provider_mensatek.sandbox import Sandbox
from tests.conftest import MENSATEK_TOKEN, MENSATEK_USER


def test_example_dag_schedules_reschedules_and_cancels(run_dag, sandbox: Sandbox, capfd, caplog) -> None:
    result = run_dag("example_dags/certified_email_scheduled.py")
    out, err = capfd.readouterr()
    assert "EnviarEMAILCERTIFICADO" in out + err + caplog.text  # the task logs were captured...
    assert MENSATEK_TOKEN not in out + err + caplog.text  # ...and hold no token

    assert result.state == "success", result.task_states
    assert set(result.task_states.values()) == {"success"}

    scheduled = result.xcoms["schedule_notice"]
    (message_id,) = scheduled["message_ids"]
    sends = sandbox.requests_to("EnviarEMAILCERTIFICADO")
    assert len(sends) == 2  # schedule_notice and send_now, once each
    for req in sends:
        assert req.method == "POST"
        assert req.basic_auth == (MENSATEK_USER, MENSATEK_TOKEN)
        assert req.query == {}  # everything in the body, Resp included
        assert req.param("Resp") == "JSON"
    first = next(r for r in sends if r.param("Fecha"))
    assert first.param("Aceptacion") == "SI" and first.param("Caducidadaceptacion") == 10
    assert json.loads(first.param("Destinatarios"))[0]["Email"] == "ana.garcia@example.com"
    # Mensatek placeholders intact, Airflow macro rendered.
    assert re.fullmatch(r"Aviso para \{\{Nombre\}\} \(\d{4}-\d{2}-\d{2}\)", first.param("Asunto"))
    assert "{{ ds }}" not in first.param("Asunto") and "{{Variable_1}}" in first.param("Mensaje")

    (resched,) = sandbox.requests_to("ReprogramarEMAILCERTIFICADO")
    assert resched.param("Idmensaje") == message_id
    assert resched.param("Fecha").endswith("10:00")
    assert result.xcoms["reschedule_notice"][0]["send_at"] == resched.param("Fecha")

    (cancel,) = sandbox.requests_to("CancelarEMAILCERTIFICADO")
    assert cancel.param("Idmensaje") == message_id
    assert result.xcoms["cancel_notice"][0]["cancelled"] == 1
    assert sandbox.mensatek.certified[message_id].cancelled_at is not None

    reports = result.xcoms["read_reports"]
    assert [r["message_id"] for r in reports] == result.xcoms["send_now"]["message_ids"]
    assert reports[0]["status_code"] == 2  # frozen sandbox clock: accepted, awaiting delivery

    token_free = json.dumps(result.xcoms)
    assert MENSATEK_TOKEN not in token_free
