"""Test DAG: each mapped campaign batch is accepted by the vendor, then its worker dies (first try only).

The retries must return what the ledger recorded and send nothing twice.
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
            raise RuntimeError("worker lost after the vendor accepted the batch, before the XCom")
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
