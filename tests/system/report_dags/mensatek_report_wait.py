"""Send a certified email, then wait for its certification by listening to Mensatek's reports (deferred).

The connection's extra says reports are configured, so the send asks for them and the sensor's
``wait_for="auto"`` listens: it looks at the stored reports once, then defers to the triggerer.
"""

from __future__ import annotations

from airflow.sdk import DAG

from airflow_provider_mensatek.operators.certified_email import MensatekSendCertifiedEmailOperator
from airflow_provider_mensatek.sensors.delivery import MensatekCertifiedEmailSensor

with DAG("mensatek_report_wait", schedule=None, catchup=False, tags=["test"]) as dag:
    send = MensatekSendCertifiedEmailOperator(
        task_id="send", sender="avisos@example.com",
        recipients=[{"name": "Ana", "email": "ana@example.com"}, {"name": "Ben", "email": "ben@example.com"}],
        subject="Aviso", message="Texto")
    wait = MensatekCertifiedEmailSensor(
        task_id="wait", message_ids="{{ ti.xcom_pull(task_ids='send')['message_ids'] | tojson }}", deferrable=True)
    send >> wait
