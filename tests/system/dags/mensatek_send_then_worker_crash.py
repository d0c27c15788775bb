"""Test DAG: the vendor accepts the send, then the task dies before finishing (first try only).

The retry must return the recorded result and send nothing twice.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG

from airflow_provider_mensatek.operators.certified_email import MensatekSendCertifiedEmailOperator


class CrashAfterSendOperator(MensatekSendCertifiedEmailOperator):
    def execute(self, context: Any) -> Any:
        result = super().execute(context)
        if context["ti"].try_number == 1:
            raise RuntimeError("worker lost after the vendor accepted the send")
        return result


with DAG(
    dag_id="test_mensatek_send_then_worker_crash",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
) as dag:
    CrashAfterSendOperator(
        task_id="send",
        sender="avisos@example.com",
        recipients=[{"name": "Ana", "email": "ana@example.com"}],
        subject="Aviso para {{Nombre}} - {{ dag.dag_id }}",
        message="Texto",
        retries=1,
        retry_delay=timedelta(seconds=0),
    )
