"""Runs without a logical date (Airflow 3's ``airflow dags trigger``, REST API, UI): a template naming
``{{ ds }}`` fails saying so, for every channel, and nothing reaches the vendor.

Operators are rendered and executed as the task runner does (``render_template_fields`` with a
context, then ``execute``), inside a DAG so the environment is Airflow's (StrictUndefined).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any

import jinja2
import pytest
from airflow.sdk import DAG
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_mensatek.notifications import MensatekSmsNotifier
from airflow_provider_mensatek.operators._base import protect_vendor_placeholders
from airflow_provider_mensatek.operators._context_names import AIRFLOW_CONTEXT_NAMES, known_template_names
from airflow_provider_mensatek.operators.campaigns import MensatekSendCampaignBatchOperator
from airflow_provider_mensatek.operators.certified_email import MensatekSendCertifiedEmailOperator
from airflow_provider_mensatek.operators.email import MensatekSendEmailOperator
from airflow_provider_mensatek.operators.legallymail import (
    LegallyMailRequestSignatureOperator,
    LegallyMailSendCertifiedEmailOperator,
    LegallyMailSendCertifiedSmsOperator,
)
from airflow_provider_mensatek.operators.rcs import MensatekSendRcsOperator
from airflow_provider_mensatek.operators.sms import MensatekSendSmsOperator
from airflow_provider_mensatek.sandbox import Sandbox
from tests.conftest import LEGALLYMAIL_TOKEN
from tests.operator_support import FakeTaskStateStore

RUN_AFTER = datetime(2026, 11, 24, 10, 30, tzinfo=timezone.utc)


def run_context(*, logical_date: datetime | None = None) -> dict[str, Any]:
    """What the Task SDK gives a task: no logical date (nor ds, ts, ...) unless the run has one."""
    ti = SimpleNamespace(dag_id="avisos", task_id="enviar", run_id="manual__2026-11-24T10:30:00+00:00",
                         map_index=-1, try_number=1)
    ctx: dict[str, Any] = {
        "ti": ti, "task_instance": ti, "run_id": ti.run_id, "params": {},
        "dag_run": SimpleNamespace(run_id=ti.run_id, run_after=RUN_AFTER, logical_date=logical_date),
        "task_state_store": FakeTaskStateStore(),
    }
    if logical_date is not None:
        ctx.update(logical_date=logical_date, ds=logical_date.strftime("%Y-%m-%d"), ts=logical_date.isoformat())
    return ctx


def run_task(operator: Any, context: dict[str, Any]) -> Any:
    operator.render_template_fields(context)
    return operator.execute(context)


def in_dag(factory: Any) -> Any:
    with DAG("avisos", schedule=None):
        return factory()


MENSATEK_CASES = {
    "certified_email": (lambda: MensatekSendCertifiedEmailOperator(
        task_id="enviar", sender="avisos@example.com", recipients=[{"name": "Ana", "email": "ana@example.com"}],
        subject="Aviso para {{Nombre}} ({{ ds }})", message="Texto"), "subject", "{{ dag_run.run_after | ds }}"),
    "sms": (lambda: MensatekSendSmsOperator(
        task_id="enviar", sender="MIEMPRESA", recipients=[{"Movil": "+34600000001", "Variable_1": "Ana"}],
        message="Hola {{Variable_1}}, su cita es el {{ds}}"), "message", "{{ dag_run.run_after | ds }}"),
    "email": (lambda: MensatekSendEmailOperator(
        task_id="enviar", sender_email="avisos@example.com", recipients=["ana@example.com"],
        subject="Factura {{ ds_nodash }}", html="<p>Hola</p>"), "subject", "{{ dag_run.run_after | ds_nodash }}"),
    "rcs": (lambda: MensatekSendRcsOperator(
        task_id="enviar", template_id="1234567", recipients=[{"Telefono": "34600000001"}],
        reference="rcs-{{ ts }}"), "reference", "{{ dag_run.run_after | ts }}"),
    "campaign_batch": (lambda: MensatekSendCampaignBatchOperator(
        task_id="enviar", batch={}, sender="avisos@example.com", subject="Aviso {{Nombre}}",
        message="Aviso del {{ logical_date }}"), "message", "{{ dag_run.run_after }}"),
}


@pytest.mark.parametrize("case", sorted(MENSATEK_CASES))
def test_mensatek_operators_say_the_run_has_no_logical_date(case: str, conn: Sandbox) -> None:
    factory, field, instead = MENSATEK_CASES[case]
    with pytest.raises(AirflowFailException) as raised:
        run_task(in_dag(factory), run_context())
    text = str(raised.value)
    assert "this run has no logical date" in text and f"in {field!r}" in text and instead in text
    assert "lacks" not in text and "not an SMS variable" not in text  # never blamed on the recipients
    assert conn.requests == []


LEGALLYMAIL_CASES = {
    "certified_email": (lambda: LegallyMailSendCertifiedEmailOperator(
        task_id="enviar", recipients=["ana@example.com"], subject="Contract {{ ds }}", message="<p>Hi</p>"),
        "subject"),
    "signature": (lambda: LegallyMailRequestSignatureOperator(
        task_id="enviar", document=b"%PDF-1.4 contract", signers=[{"name": "Ana", "email": "ana@example.com"}],
        document_name="Contract {{ ds }}.pdf"), "document_name"),
    "certified_sms": (lambda: LegallyMailSendCertifiedSmsOperator(
        task_id="enviar", phone="+34600000001", message="Aviso del {{ ds }}"), "message"),
}


@pytest.mark.parametrize("case", sorted(LEGALLYMAIL_CASES))
def test_legallymail_operators_say_the_run_has_no_logical_date(
    case: str, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_LEGALLYMAIL_DEFAULT", json.dumps({
        "conn_type": "legallymail", "password": LEGALLYMAIL_TOKEN, "host": sandbox.legallymail_url}))
    factory, field = LEGALLYMAIL_CASES[case]
    with pytest.raises(AirflowFailException, match=r"this run has no logical date") as raised:
        run_task(in_dag(factory), run_context())
    assert f"in {field!r}" in str(raised.value) and "{{ dag_run.run_after | ds }}" in str(raised.value)
    assert sandbox.requests == []


def test_a_notifier_says_the_run_has_no_logical_date(conn: Sandbox) -> None:
    notifier = MensatekSmsNotifier(sender="AIRFLOW", recipients="34600000001",
                                   message="{{ dag.dag_id }} failed on {{ ds }}")
    context = {"dag": DAG("nightly", schedule=None), "run_id": "manual__2026-11-24", "reason": "task_failure"}
    with pytest.raises(AirflowFailException, match=r"uses \{\{ ds \}\}, but this run has no logical date"):
        notifier(context)
    assert conn.requests == []


def test_names_every_run_has_render_and_vendor_placeholders_still_reach_the_vendor(conn: Sandbox) -> None:
    op = in_dag(lambda: MensatekSendCertifiedEmailOperator(
        task_id="enviar", sender="avisos@example.com", recipients=[{"name": "Ana", "email": "ana@example.com"}],
        subject="Aviso para {{Nombre}} ({{ dag_run.run_after | ds }})", message="Run {{ run_id }}"))
    run_task(op, run_context())
    (req,) = conn.requests_to("EnviarEMAILCERTIFICADO")
    assert req.param("Asunto") == "Aviso para {{Nombre}} (2026-11-24)"
    assert req.param("Mensaje") == "Run manual__2026-11-24T10:30:00+00:00"


def test_with_a_logical_date_ds_still_renders(conn: Sandbox) -> None:
    op = in_dag(MENSATEK_CASES["certified_email"][0])
    run_task(op, run_context(logical_date=datetime(2026, 11, 20, tzinfo=timezone.utc)))
    (req,) = conn.requests_to("EnviarEMAILCERTIFICADO")
    assert req.param("Asunto") == "Aviso para {{Nombre}} (2026-11-20)"


def test_a_context_name_this_task_lacks_is_named_as_such(conn: Sandbox) -> None:
    op = in_dag(lambda: MensatekSendCertifiedEmailOperator(
        task_id="enviar", sender="avisos@example.com", recipients=["ana@example.com"],
        subject="Aviso ({{ reason }})", message="Texto"))
    with pytest.raises(AirflowFailException, match=r"\{\{ reason \}\}, an Airflow context name this run does not set"):
        run_task(op, run_context())
    assert conn.requests == []


def test_other_undefined_values_keep_jinjas_own_error(conn: Sandbox) -> None:
    op = in_dag(lambda: MensatekSendCertifiedEmailOperator(
        task_id="enviar", sender="avisos@example.com", recipients=["ana@example.com"],
        subject="Aviso ({{ params.missing }})", message="Texto"))
    with pytest.raises(jinja2.UndefinedError, match="missing"):
        run_task(op, run_context())
    assert conn.requests == []


def test_the_protection_knows_context_names_the_run_lacks() -> None:
    assert {"ds", "ts", "logical_date", "data_interval_start", "run_id", "dag_run", "params", "reason"} \
        <= AIRFLOW_CONTEXT_NAMES
    known = known_template_names(run_context(), jinja2.Environment())
    assert protect_vendor_placeholders("{{Nombre}} {{ ds }}", known) == "{% raw %}{{Nombre}}{% endraw %} {{ ds }}"
