"""Send operators ask for real-time reports when the connection says they are set up, with a reference that
ties each report to its DAG run; explicit values win. What the sandbox received is asserted."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_mensatek.operators._base import MAX_REFERENCE, default_reference
from airflow_provider_mensatek.operators.campaigns import (
    MensatekPlanCampaignOperator,
    MensatekSendCampaignBatchOperator,
)
from airflow_provider_mensatek.operators.certified_email import MensatekSendCertifiedEmailOperator
from airflow_provider_mensatek.operators.email import MensatekSendEmailOperator
from airflow_provider_mensatek.operators.rcs import MensatekSendRcsOperator
from airflow_provider_mensatek.operators.sms import MensatekSendSmsOperator
from airflow_provider_mensatek.sandbox import Sandbox
from tests.operator_support import FakeTaskStateStore, context

RUN_REFERENCE = "avisos.enviar.manual__2026-11-24"


def connection(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, extra: dict[str, Any]) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_MENSATEK_DEFAULT", json.dumps({
        "conn_type": "mensatek", "login": sandbox.mensatek_user, "password": sandbox.mensatek_token,
        "host": sandbox.mensatek_url, "extra": {"max_retries": 1, **extra}}))


SENDS: dict[str, tuple[str, Any]] = {
    "EnviarEMAILCERTIFICADO": ("certified_email", lambda **kw: MensatekSendCertifiedEmailOperator(
        task_id="enviar", sender="avisos@example.com", recipients=[{"name": "Ana", "email": "ana@example.com"}],
        subject="Aviso", message="Texto", **kw)),
    "EnviarSMS": ("sms", lambda **kw: MensatekSendSmsOperator(
        task_id="enviar", sender="EMPRESA", recipients=["34600000001"], message="Hola", **kw)),
    "EnviarEMAIL": ("email", lambda **kw: MensatekSendEmailOperator(
        task_id="enviar", sender_email="avisos@example.com", recipients=[{"email": "ana@example.com"}],
        subject="Aviso", html="<p>Hola</p>", **kw)),
    "EnviarRCS": ("rcs", lambda **kw: MensatekSendRcsOperator(
        task_id="enviar", template_id="1234567", agent="sandbox-agent",
        recipients=[{"Nombre": "Ana", "Telefono": "34600000001", "variables": {"Importe": "10 €"}}], **kw)),
}


@pytest.mark.parametrize("function", list(SENDS))
def test_reports_configured_asks_for_them_with_the_run_reference(
    function: str, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch,
) -> None:
    connection(sandbox, monkeypatch, {"reports": True})
    _, make = SENDS[function]
    make().execute(context(FakeTaskStateStore()))
    (request,) = sandbox.requests_to(function)
    assert request.param("Report") == "1"
    assert request.param("Referenciausuario") == RUN_REFERENCE


@pytest.mark.parametrize("function", list(SENDS))
def test_explicit_values_win_and_no_extra_asks_for_nothing(
    function: str, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, make = SENDS[function]
    connection(sandbox, monkeypatch, {"reports": True})
    make(report=False, reference="mine-1").execute(context(FakeTaskStateStore()))
    connection(sandbox, monkeypatch, {})
    make().execute(context(FakeTaskStateStore()))
    explicit, plain = sandbox.requests_to(function)
    assert explicit.param("Report") == "0" and explicit.param("Referenciausuario") == "mine-1"
    assert plain.param("Report") is None and plain.param("Referenciausuario") == RUN_REFERENCE


def test_a_wrong_reports_extra_fails_the_send_before_any_request(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch,
) -> None:
    connection(sandbox, monkeypatch, {"reports": "sometimes"})
    with pytest.raises(AirflowFailException, match="extra 'reports' must be true or false"):
        SENDS["EnviarSMS"][1]().execute(context(FakeTaskStateStore()))
    assert sandbox.requests == []


def test_campaign_batches_ask_for_reports_unless_options_say(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    connection(sandbox, monkeypatch, {"reports": True})
    ti = SimpleNamespace(dag_id="campaign", task_id="send", run_id="manual__1", map_index=0, try_number=1,
                         xcom_push=lambda key, value: None)
    batches = MensatekPlanCampaignOperator(
        task_id="plan", campaign_path=f"file://{tmp_path}/campaign", campaign_reference="camp",
        channel="certified_email", batch_size=1,
        recipients=[{"name": "Ana", "email": "ana@example.com"}, {"name": "Ben", "email": "ben@example.com"}],
    ).execute({"ti": ti})  # type: ignore[arg-type]
    for batch, options in zip(batches, ({}, {"report": False}), strict=True):
        MensatekSendCampaignBatchOperator(task_id="send", batch=batch, sender="avisos@example.com",
                                          subject="Aviso", message="Texto", options=options
                                          ).execute({"ti": ti, "task_state_store": FakeTaskStateStore()})  # type: ignore[arg-type]
    first, second = sandbox.requests_to("EnviarEMAILCERTIFICADO")
    assert (first.param("Report"), first.param("Referenciausuario")) == ("1", "camp-00001")
    assert (second.param("Report"), second.param("Referenciausuario")) == ("0", "camp-00002")


def test_a_long_reference_keeps_its_limit_and_stays_distinct_per_run() -> None:
    def reference(run_id: str) -> str:
        ti = SimpleNamespace(dag_id="d" * 120, task_id="enviar", run_id=run_id, map_index=-1)
        return default_reference({"ti": ti})  # type: ignore[typeddict-item]

    one, two = reference("manual__2026-11-24T10:00:00+00:00"), reference("manual__2026-11-24T10:00:01+00:00")
    assert len(one) == len(two) == MAX_REFERENCE
    assert one != two and one.startswith("d" * 80)
