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
``legallymail_default`` connections. The contract is written to
``<tmp>/mensatek-examples-<user>/certify-and-wait`` by default
(``tempfile.gettempdir()`` of the process that parses the DAG; the
``documents`` param changes it). It runs from ``airflow dags trigger``, the UI
and the REST API (no logical date): dates come from ``dag_run.run_after``.
"""

from __future__ import annotations

import getpass
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import DAG, Context, ObjectStoragePath, Param, task

from airflow_provider_mensatek.clients.private_folder import private_target
from airflow_provider_mensatek.operators.certified_email import MensatekSendCertifiedEmailOperator
from airflow_provider_mensatek.operators.legallymail import LegallyMailRequestSignatureOperator
from airflow_provider_mensatek.sensors.delivery import LegallyMailSignatureSensor, MensatekCertifiedEmailSensor

#: Where this example writes by default: a folder of the current user under the system temp dir
#: (``tempfile.gettempdir()``, e.g. ``/tmp/mensatek-examples-ana``), never a path every user shares; checked
#: before writing to be a real folder of this user with mode 0700 (``clients.private_folder``).
EXAMPLE_FILES = Path(tempfile.gettempdir()) / f"mensatek-examples-{getpass.getuser()}"


def poll_policy_from_params(context: Context, jinja_env: Any) -> dict[str, Any] | None:
    """The sensors' ``poll_policy``: the ``poll_policy`` param, None (the vendor's polite default) unless set.

    A callable template field: Airflow calls it with the run's context, so a run conf can hand the
    sensor a whole dict (``{"poll_policy": {"initial_delay": 1, "min_interval": 1}}``, e.g. against the
    local sandbox) without making it a string. Against a real vendor leave the param null.
    """
    return context["params"].get("poll_policy")

with DAG(
    dag_id="certify_and_wait",
    description="Certified email waited on by a deferrable sensor; signatures waited on in reschedule mode",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="Europe/Madrid"),
    catchup=False,
    params={
        "sender": Param("notificaciones@example.com", type="string", description="validated sender"),
        "recipient": Param("ana.garcia@example.com", type="string"),
        "documents": Param((EXAMPLE_FILES / "certify-and-wait").as_uri(), type="string",
                           description="object storage folder for the contract (file://, s3://, gs://)"),
        "poll_policy": Param(None, type=["null", "object"],
                             description="PollPolicy overrides for the sensors; null: the vendor's polite default"),
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
        subject="Notificación fehaciente ({{ dag_run.run_after | ds }})",
        message="Le notificamos fehacientemente el cambio de condiciones.",
    )

    wait_certified = MensatekCertifiedEmailSensor(
        task_id="wait_certified",
        message_ids="{{ ti.xcom_pull(task_ids='send_notice')['message_ids'] | tojson }}",
        target="certified",
        deferrable=True,
        timeout=timedelta(days=2),
        poll_policy=poll_policy_from_params,  # type: ignore[arg-type]  # rendered to a dict or None
    )

    @task
    def prepare_contract(params: dict[str, Any] | None = None, dag_run: Any = None) -> str:
        """Write the contract where the signature operator can read it; return its URL.

        A stand-in for your own contract (any PDF up to 10 MB): in a real DAG it comes from
        upstream, already in object storage.
        """
        assert params is not None and dag_run is not None
        day = dag_run.run_after.strftime("%Y-%m-%d")  # every run has run_after; not every run a logical date
        folder = ObjectStoragePath(private_target(params["documents"], EXAMPLE_FILES))
        folder.mkdir(parents=True, exist_ok=True)
        contract = folder / f"contract-{day}.pdf"
        contract.write_bytes(f"%PDF-1.4\n% Service contract, {day}\n%%EOF\n".encode())
        return str(contract)

    request_signature = LegallyMailRequestSignatureOperator(
        task_id="request_signature",
        document="{{ ti.xcom_pull(task_ids='prepare_contract') }}",
        document_name="Contract {{ dag_run.run_after | ds }}.pdf",
        signers="{{ params.signers | tojson }}",
    )

    wait_signed = LegallyMailSignatureSensor(
        task_id="wait_signed",
        message_ids="{{ ti.xcom_pull(task_ids='request_signature')['uuid'] }}",
        mode="reschedule",
        timeout=timedelta(days=14),
        poll_policy=poll_policy_from_params,  # type: ignore[arg-type]  # rendered to a dict or None
    )

    send_notice >> wait_certified
    prepare_contract() >> request_signature >> wait_signed


if __name__ == "__main__":
    dag.test()
