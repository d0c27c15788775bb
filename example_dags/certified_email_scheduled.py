"""Mensatek certified email: schedule, reschedule and cancel; and send now, then read the report.

Path 1 schedules a certified notice for tomorrow 09:00 Europe/Madrid, moves it
to the day after at 10:00, then cancels it (credits come back).
Path 2 sends a notice now and reads its report once.

Runs against the real Mensatek API or the local sandbox, depending on the
``mensatek_default`` connection (``make demo`` points it at the sandbox).
``{{Nombre}}`` in the subject and message is a Mensatek placeholder, filled
per recipient by Mensatek; ``{{ dag_run.run_after | ds }}`` (the day the run
was asked for) is rendered by Airflow. The operator keeps them apart.

It runs from ``airflow dags trigger``, the UI and the REST API, which start
runs without a logical date in Airflow 3: it uses only names every run has
(``dag_run.run_after``, ``run_id``, ``params``), never ``{{ ds }}``.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_mensatek.hooks.mensatek import MensatekHook
from airflow_provider_mensatek.operators.certified_email import (
    MensatekCancelCertifiedEmailOperator,
    MensatekRescheduleCertifiedEmailOperator,
    MensatekSendCertifiedEmailOperator,
)

MESSAGE = (
    "A la atención de {{Nombre}}:\n\n"
    "Le notificamos fehacientemente la renovación de su póliza {{Variable_1}} "
    "(aviso generado el {{ dag_run.run_after | ds }})."
)

with DAG(
    dag_id="mensatek_certified_email_scheduled",
    description="Schedule, reschedule and cancel a certified email; send one now and read its report",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="Europe/Madrid"),
    catchup=False,
    params={
        "sender": Param("notificaciones@example.com", type="string", description="validated sender"),
        "recipients": Param(
            [{"name": "Ana García", "email": "ana.garcia@example.com", "Variable_1": "P-2026-0042"}],
            type="array",
        ),
    },
    tags=["mensatek", "certified-email", "example"],
) as dag:

    @task
    def plan_dates() -> dict[str, str]:
        """Tomorrow 09:00 and the day after 10:00, Europe/Madrid (aware, so nothing is ambiguous)."""
        now = pendulum.now("Europe/Madrid")
        return {
            "first": now.add(days=1).at(9, 0).isoformat(),
            "moved_to": now.add(days=2).at(10, 0).isoformat(),
        }

    dates = plan_dates()

    schedule_notice = MensatekSendCertifiedEmailOperator(
        task_id="schedule_notice",
        sender="{{ params.sender }}",
        recipients="{{ params.recipients | tojson }}",
        subject="Aviso para {{Nombre}} ({{ dag_run.run_after | ds }})",
        message=MESSAGE,
        send_at="{{ ti.xcom_pull(task_ids='plan_dates')['first'] }}",
        require_acceptance=True,
        acceptance_days=10,
        retries=2,
    )

    reschedule_notice = MensatekRescheduleCertifiedEmailOperator(
        task_id="reschedule_notice",
        message_id="{{ ti.xcom_pull(task_ids='schedule_notice')['message_ids'] | tojson }}",
        send_at="{{ ti.xcom_pull(task_ids='plan_dates')['moved_to'] }}",
    )

    cancel_notice = MensatekCancelCertifiedEmailOperator(
        task_id="cancel_notice",
        message_id="{{ ti.xcom_pull(task_ids='schedule_notice')['message_ids'] | tojson }}",
    )

    send_now = MensatekSendCertifiedEmailOperator(
        task_id="send_now",
        sender="{{ params.sender }}",
        recipients="{{ params.recipients | tojson }}",
        subject="Aviso para {{Nombre}} ({{ dag_run.run_after | ds }})",
        message=MESSAGE,
        retries=2,
    )

    @task
    def read_reports(sent: dict[str, Any]) -> list[dict[str, Any]]:
        """One report read per message (no loop: Mensatek treats polling loops as an attack)."""
        client = MensatekHook().get_conn()
        return [client.get_certified_email_report(mid).to_dict() for mid in sent["message_ids"]]

    dates >> schedule_notice >> reschedule_notice >> cancel_notice
    read_reports(send_now.output)


if __name__ == "__main__":
    dag.test()
