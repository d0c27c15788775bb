"""SMS and email notifiers: rendered with the callback context, cut to the SMS part limit."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk import DAG

from airflow_provider_mensatek.notifications import MensatekEmailNotifier, MensatekSmsNotifier
from airflow_provider_mensatek.sandbox import Sandbox

LOG_URL = "http://airflow.example/dags/nightly/runs/scheduled__2026-11-24/tasks/load?try_number=1"


def task_context(**overrides: Any) -> dict[str, Any]:
    ctx: dict[str, Any] = {
        "dag": DAG("nightly", schedule=None),
        "run_id": "scheduled__2026-11-24",
        "ti": SimpleNamespace(task_id="load", state="failed", log_url=LOG_URL),
    }
    ctx.update(overrides)
    return ctx


def test_sms_notifier_names_dag_task_run_and_log(conn: Sandbox) -> None:
    MensatekSmsNotifier(sender="AIRFLOW", recipients=["+34 600 000 001"])(task_context())
    (req,) = conn.requests_to("EnviarSMS")
    assert req.param("Mensaje") == f"Airflow nightly.load failed run scheduled__2026-11-24 {LOG_URL}"
    assert req.param("Remitente") == "AIRFLOW"
    assert json.loads(req.param("Destinatarios")) == [{"Movil": "34600000001"}]
    assert req.param("Referenciausuario") == "nightly.scheduled__2026-11-24.sms"


def test_sms_notifier_works_for_dag_callbacks_without_a_task(conn: Sandbox) -> None:
    ctx = task_context()
    del ctx["ti"]
    MensatekSmsNotifier(sender="AIRFLOW", recipients="34600000001")(ctx)
    assert conn.requests_to("EnviarSMS")[0].param("Mensaje") == "Airflow nightly run scheduled__2026-11-24"


def test_long_text_is_cut_to_the_part_limit_not_split(conn: Sandbox) -> None:
    MensatekSmsNotifier(sender="AIRFLOW", recipients="34600000001",
                        message="{{ dag.dag_id }} failed: " + "x" * 400)(task_context())
    req = conn.requests_to("EnviarSMS")[0]
    assert len(req.param("Mensaje")) == 160 and req.param("Mensaje").endswith("...")
    assert req.param("Unicode") == "0"
    MensatekSmsNotifier(sender="AIRFLOW", recipients="34600000001", max_segments=2,
                        message="Falló " + "x" * 400)(task_context())
    unicode_req = conn.requests_to("EnviarSMS")[1]
    assert unicode_req.param("Unicode") == "1" and len(unicode_req.param("Mensaje")) == 134


def test_sms_notifier_refuses_bad_numbers_without_a_request(conn: Sandbox) -> None:
    with pytest.raises(Exception, match="not an international number"):
        MensatekSmsNotifier(sender="AIRFLOW", recipients="600")(task_context())
    assert len(conn.requests) == 0


def test_email_notifier(conn: Sandbox) -> None:
    MensatekEmailNotifier(sender_email="airflow@empresa.example", recipients=["ops@empresa.example"],
                          sender_name="Airflow")(task_context())
    req = conn.requests_to("EnviarEMAIL")[0]
    assert req.param("Asunto") == "Airflow: nightly load (scheduled__2026-11-24)"
    assert f'<a href="{LOG_URL}">Log</a>' in req.param("Mensaje")
    assert req.param("Nombreremitente") == "Airflow"
    MensatekEmailNotifier(sender_email="airflow@empresa.example", recipients="ops@empresa.example",
                          template_id=1234567)(task_context())
    params = conn.requests_to("EnviarEMAIL")[1].params
    assert params["Plantilla"] == "1234567" and "Mensaje" not in params


def test_one_notifier_instance_renders_each_call_afresh(conn: Sandbox) -> None:
    notifier = MensatekSmsNotifier(sender="AIRFLOW", recipients="34600000001")
    notifier(task_context())
    notifier(task_context(ti=SimpleNamespace(task_id="export", state="failed", log_url="http://x.example/l")))
    texts = [r.param("Mensaje") for r in conn.requests_to("EnviarSMS")]
    assert texts[1] == "Airflow nightly.export failed run scheduled__2026-11-24 http://x.example/l"
    assert notifier.message.startswith("Airflow {{ dag.dag_id }}")  # the template itself is untouched


def test_dag_callback_with_a_serialized_dag_and_a_reason(conn: Sandbox) -> None:
    # dag.test() passes DAG-level callbacks a SerializedDAG, which has no get_template_env.
    from airflow.serialization.serialized_objects import DagSerialization

    dag = DagSerialization.from_dict(DagSerialization.to_dict(DAG("nightly", schedule=None)))
    assert not hasattr(dag, "get_template_env")
    ctx = {"dag": dag, "run_id": "r1", "reason": "task_failure"}
    MensatekSmsNotifier(sender="AIRFLOW", recipients="34600000001")(ctx)
    assert conn.requests_to("EnviarSMS")[0].param("Mensaje") == "Airflow nightly task_failure run r1"


def test_sms_notifier_refuses_national_numbers_unless_given_a_default_country(conn: Sandbox) -> None:
    with pytest.raises(Exception, match="may lack its country code"):
        MensatekSmsNotifier(recipients="600000001")(task_context())
    assert conn.requests == []
    MensatekSmsNotifier(recipients="600000001", default_country_code="34")(task_context())
    (req,) = conn.requests_to("EnviarSMS")
    assert json.loads(req.param("Destinatarios")) == [{"Movil": "34600000001"}]
    assert req.params["Remitente"] == ""  # no sender given: the account's default sender
