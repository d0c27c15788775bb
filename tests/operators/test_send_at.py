"""``send_at``: only None means "now". An empty, blank or "None" text (a template whose value was
missing) fails the task before anything reaches the vendor, for every operator that takes a send date."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_mensatek.operators.campaigns import (
    MensatekCampaignControlOperator,
    MensatekPlanCampaignOperator,
    MensatekSendCampaignBatchOperator,
    MensatekSendCampaignOperator,
)
from airflow_provider_mensatek.operators.certified_email import (
    MensatekRescheduleCertifiedEmailOperator,
    MensatekSendCertifiedEmailOperator,
)
from airflow_provider_mensatek.operators.email import MensatekSendEmailOperator
from airflow_provider_mensatek.operators.rcs import MensatekSendRcsOperator
from airflow_provider_mensatek.operators.sms import MensatekRescheduleSmsOperator, MensatekSendSmsOperator
from airflow_provider_mensatek.sandbox import Sandbox
from tests.operator_support import FakeTaskStateStore, context

# What templates render when the value they read is missing: "" (or blanks), and "None" for a None.
NOT_A_DATE = ["", "   ", "None", " none ", "null"]


def certified_email(send_at: Any) -> MensatekSendCertifiedEmailOperator:
    return MensatekSendCertifiedEmailOperator(task_id="enviar", sender="avisos@example.com",
                                              recipients=["ana@example.com"], subject="Aviso", message="Texto",
                                              send_at=send_at)


def sms(send_at: Any) -> MensatekSendSmsOperator:
    return MensatekSendSmsOperator(task_id="enviar", sender="MIEMPRESA", recipients=["+34600000001"],
                                   message="Aviso", send_at=send_at)


def email(send_at: Any) -> MensatekSendEmailOperator:
    return MensatekSendEmailOperator(task_id="enviar", sender_email="avisos@example.com",
                                     recipients=["ana@example.com"], subject="Aviso", html="<p>Aviso</p>",
                                     send_at=send_at)


def rcs(send_at: Any) -> MensatekSendRcsOperator:
    return MensatekSendRcsOperator(task_id="enviar", template_id="1234567", recipients=["34600000001"],
                                   check_variables=False, send_at=send_at)


SENDS: dict[str, Callable[[Any], Any]] = {"certified_email": certified_email, "sms": sms, "email": email,
                                          "rcs": rcs}


@pytest.mark.parametrize("value", NOT_A_DATE)
@pytest.mark.parametrize("kind", sorted(SENDS))
def test_a_send_date_that_rendered_to_nothing_fails_and_sends_nothing(kind: str, value: str,
                                                                       conn: Sandbox) -> None:
    store = FakeTaskStateStore()
    with pytest.raises(AirflowFailException, match=r"send_at is (empty|the text .*None|the text .*null).*"
                                                   r"Not sending now"):
        SENDS[kind](value).execute(context(store))
    assert conn.requests == [] and store.data == {}  # nothing sent, so a fixed retry may send


@pytest.mark.parametrize("kind", sorted(SENDS))
def test_only_none_means_now(kind: str, conn: Sandbox) -> None:
    SENDS[kind](None).execute(context(FakeTaskStateStore()))
    sends = [r for r in conn.requests if r.function.startswith("Enviar")]
    assert len(sends) == 1 and sends[0].param("Fecha") is None


@pytest.mark.parametrize("operator_class", [MensatekRescheduleCertifiedEmailOperator, MensatekRescheduleSmsOperator])
@pytest.mark.parametrize("value", ["", "None"])
def test_a_reschedule_to_no_date_fails_and_calls_nothing(operator_class: Any, value: str, conn: Sandbox) -> None:
    with pytest.raises(AirflowFailException, match="a reschedule needs a date"):
        operator_class(task_id="mover", message_id=[1, 2], send_at=value).execute(context(None))
    assert conn.requests == []


def campaign_context(store: FakeTaskStateStore | None) -> Any:
    ti = SimpleNamespace(dag_id="campaign", task_id="send", run_id="manual__1", map_index=0, try_number=1,
                         xcom_push=lambda key, value: None)
    return {"ti": ti, "task_state_store": store}


def planned_batch(tmp_path: Path) -> dict[str, Any]:
    (batch,) = MensatekPlanCampaignOperator(
        task_id="plan", campaign_path=f"file://{tmp_path}/campaign", campaign_reference="camp",
        channel="certified_email", recipients=[{"name": "Ana", "email": "ana@example.com"}],
    ).execute(campaign_context(FakeTaskStateStore()))
    return batch


@pytest.mark.parametrize("value", ["", "None"])
def test_a_campaign_batch_with_no_date_fails_before_the_ledger(value: str, conn: Sandbox, tmp_path: Path) -> None:
    batch = planned_batch(tmp_path)
    with pytest.raises(AirflowFailException, match="send_at is"):
        MensatekSendCampaignBatchOperator(task_id="send", batch=batch, sender="avisos@example.com",
                                          subject="Aviso", message="Texto", send_at=value
                                          ).execute(campaign_context(FakeTaskStateStore()))
    with pytest.raises(AirflowFailException, match="send_at is"):
        MensatekSendCampaignOperator(task_id="send_all", plan=[batch], sender="avisos@example.com",
                                     subject="Aviso", message="Texto", send_at=value
                                     ).execute(campaign_context(FakeTaskStateStore()))
    assert conn.requests == []
    assert not list((tmp_path / "campaign" / "ledger").glob("**/*.json"))  # no in_flight claim either


def test_a_campaign_reschedule_to_no_date_fails(conn: Sandbox, tmp_path: Path) -> None:
    planned_batch(tmp_path)
    with pytest.raises(AirflowFailException, match="a reschedule needs a date"):
        MensatekCampaignControlOperator(task_id="mover", campaign_path=f"file://{tmp_path}/campaign",
                                        action="reschedule", send_at="").execute(campaign_context(None))
    assert conn.requests == []
