"""Send, then wait politely: a certified email waited on by a deferrable sensor, and a signature
request waited on in reschedule mode.

1. ``send_notice`` sends a Mensatek certified email.
2. ``wait_certified`` waits for "certified" (Mensatek codes 14 / 11) in the
   triggerer (``deferrable=True``): no worker slot is held, and the trigger
   checks no sooner than 5 minutes after the send, then backs off to hourly,
   because Mensatek treats status queries in a loop as an attack.
3. ``request_signature`` asks two people to sign a contract through LegallyMail.
4. ``wait_signed`` waits for both signatures in ``reschedule`` mode: the
   worker slot is freed between checks, the backoff continues across
   reschedules (task state store), and every request of the LegallyMail token
   in the process shares one limiter of 10 requests per minute.

Both sensors push the final per-id reports to XCom. Runs against the real
APIs or the local sandbox, depending on the ``mensatek_default`` and
``legallymail_default`` connections.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG, ObjectStoragePath, Param, task

from airflow_provider_mensatek.operators.certified_email import MensatekSendCertifiedEmailOperator
from airflow_provider_mensatek.operators.legallymail import LegallyMailRequestSignatureOperator
from airflow_provider_mensatek.sensors.delivery import LegallyMailSignatureSensor, MensatekCertifiedEmailSensor

with DAG(
    dag_id="certify_and_wait",
    description="Certified email waited on by a deferrable sensor; signatures waited on in reschedule mode",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="Europe/Madrid"),
    catchup=False,
    params={
        "sender": Param("notificaciones@example.com", type="string", description="validated sender"),
        "recipient": Param("ana.garcia@example.com", type="string"),
        "documents": Param("file:///tmp/certify-and-wait", type="string",
                           description="object storage folder for the contract (file://, s3://, gs://)"),
        "signers": Param(
            [{"name": "Ana García", "email": "ana.garcia@example.com"},
             {"name": "Bruno Díaz", "email": "bruno.diaz@example.com"}],
            type="array",
        ),
    },
    tags=["mensatek", "legallymail", "sensor", "deferrable", "example"],
) as dag:
    send_notice = MensatekSendCertifiedEmailOperator(
        task_id="send_notice",
        sender="{{ params.sender }}",
        recipients="{{ [params.recipient] | tojson }}",
        subject="Notificación fehaciente ({{ ds }})",
        message="Le notificamos fehacientemente el cambio de condiciones.",
    )

    wait_certified = MensatekCertifiedEmailSensor(
        task_id="wait_certified",
        message_ids="{{ ti.xcom_pull(task_ids='send_notice')['message_ids'] | tojson }}",
        target="certified",
        deferrable=True,
        timeout=timedelta(days=2),
    )

    @task
    def prepare_contract(params: dict[str, Any] | None = None, ds: str | None = None) -> str:
        """Write the contract where the signature operator can read it; return its URL."""
        from airflow_provider_mensatek.sandbox.pdf import make_pdf

        assert params is not None
        folder = ObjectStoragePath(params["documents"])
        folder.mkdir(parents=True, exist_ok=True)
        contract = folder / f"contract-{ds}.pdf"
        contract.write_bytes(make_pdf([f"Service contract, {ds}"]))
        return str(contract)

    request_signature = LegallyMailRequestSignatureOperator(
        task_id="request_signature",
        document="{{ ti.xcom_pull(task_ids='prepare_contract') }}",
        document_name="Contract {{ ds }}.pdf",
        signers="{{ params.signers | tojson }}",
    )

    wait_signed = LegallyMailSignatureSensor(
        task_id="wait_signed",
        message_ids="{{ ti.xcom_pull(task_ids='request_signature')['uuid'] }}",
        mode="reschedule",
        timeout=timedelta(days=14),
    )

    send_notice >> wait_certified
    prepare_contract() >> request_signature >> wait_signed


if __name__ == "__main__":
    dag.test()
