"""The zero-poll demo's DAG: send a certified email, then wait for its certification by listening to reports.

With the Mensatek connection's extra ``reports: true`` the send asks Mensatek for
real-time reports (``Report=1``, with the run's reference) and the sensor's default
``wait_for="auto"`` listens to the reports the api-server's receiver stores: it looks
once, defers, and the triggerer wakes it when the "certified" report arrives. No
status query is made (only a reconcile poll after hours of silence would ask).
The certificate is archived by ``mensatek_archive_on_certified``, an event-driven
example DAG, not here.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from airflow_provider_mensatek.operators.certified_email import MensatekSendCertifiedEmailOperator
from airflow_provider_mensatek.sensors.delivery import MensatekCertifiedEmailSensor

with DAG(
    dag_id="mensatek_demo_send_and_listen",
    description="Certified email -> deferred wait woken by Mensatek's real-time report (make demo)",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="Europe/Madrid"),
    catchup=False,
    tags=["mensatek", "demo"],
) as dag:
    send_notice = MensatekSendCertifiedEmailOperator(
        task_id="send_notice",
        sender="notificaciones@example.com",
        recipients=[{"name": "Ana García", "email": "ana.garcia@example.com"}],
        subject="Notificación para {{Nombre}} ({{ dag_run.run_after | ds }})",
        message="A la atención de {{Nombre}}: le notificamos fehacientemente el aviso.",
    )
    wait_certified = MensatekCertifiedEmailSensor(
        task_id="wait_certified",
        message_ids="{{ ti.xcom_pull(task_ids='send_notice')['message_ids'] | tojson }}",
        target="certified",
        deferrable=True,
        timeout=3600,
    )
    send_notice >> wait_certified
