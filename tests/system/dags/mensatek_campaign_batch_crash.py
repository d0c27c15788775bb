"""Test DAG: each mapped campaign batch is accepted by the vendor, then its first try fails anyway.

The failure is an exception raised after the send returned (the ledger and
the task state store both say accepted), standing in for a worker lost
between the vendor's answer and the XCom push; it is not a killed process.
The retries must return what the ledger recorded and send nothing twice. A
worker killed before the task state store was updated (store still
``in_flight``, ledger ``accepted``) is covered by
``tests/operators/test_campaign_operators.py::test_ledger_accepted_wins_over_a_stale_in_flight_task_state``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG, Param

from airflow_provider_mensatek.operators.campaigns import (
    MensatekPlanCampaignOperator,
    MensatekSendCampaignBatchOperator,
)


class CrashAfterAcceptOperator(MensatekSendCampaignBatchOperator):
    def execute(self, context: Any) -> Any:
        result = super().execute(context)
        if context["ti"].try_number == 1:
            raise RuntimeError("first try fails after the vendor accepted the batch, before the XCom")
        return result


with DAG(
    dag_id="test_mensatek_campaign_batch_crash",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"campaign_path": Param("file:///tmp/unused", type="string")},
) as dag:
    plan = MensatekPlanCampaignOperator(
        task_id="plan",
        recipients=[{"name": f"Persona {i}", "email": f"persona{i}@example.com"} for i in range(5)],
        campaign_path="{{ params.campaign_path }}",
        campaign_reference="crash-test",
        channel="certified_email",
        batch_size=2,
    )
    CrashAfterAcceptOperator.partial(
        task_id="send_batch",
        sender="avisos@example.com",
        subject="Aviso para {{Nombre}}",
        message="Texto",
        retries=1,
        retry_delay=timedelta(seconds=0),
    ).expand(batch=plan.output)
