"""Send a certified email, wait for its certification, archive the certificates, verify the archive.

1. ``send_notice``: a Mensatek certified email (sent once, even across retries).
2. ``wait_certified``: a deferrable sensor waits in the triggerer until Mensatek
   reports the message certified (code 14/11), checking politely (first check
   after 5 minutes, backing off to one per hour: Mensatek treats polling loops
   as an attack).
3. ``archive_certificates``: the certificate ZIP (PDFs + CSV) is downloaded,
   checked (no error body, sound ZIP, safe names, no bomb, real PDFs) and
   written atomically into the data lake under
   ``<lake>/mensatek/certified_email/<id>/`` with ``manifest.json`` last.
   The certificate can lag the "certified" report: while Mensatek answers
   "not generated yet" the task is retried (every 10 minutes, 6 times).
4. ``verify_archive``: every file is re-read and checked against its manifest
   (the same check as ``python -m airflow_provider_mensatek.certificates verify``).

The lake is ``file:///tmp/mensatek-lake`` by default; set the ``lake`` param
to ``s3://bucket/prefix`` (``pip install 'airflow-provider-mensatek[s3]'``)
and ``storage_conn_id`` to an AWS connection to archive to S3 instead.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_mensatek.operators.certificates import MensatekDownloadCertificatesOperator
from airflow_provider_mensatek.operators.certified_email import MensatekSendCertifiedEmailOperator
from airflow_provider_mensatek.sensors.delivery import MensatekCertifiedEmailSensor

MESSAGE_IDS = "{{ ti.xcom_pull(task_ids='send_notice')['message_ids'] | tojson }}"

with DAG(
    dag_id="mensatek_certify_and_archive",
    description="Certified email -> wait for certification -> archive certificates -> verify the manifest",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="Europe/Madrid"),
    catchup=False,
    params={
        "sender": Param("notificaciones@example.com", type="string", description="validated sender"),
        "recipients": Param([{"name": "Ana García", "email": "ana.garcia@example.com"}], type="array"),
        "lake": Param("file:///tmp/mensatek-lake", type="string",
                      description="data lake root: file://, s3:// (s3 extra) or gs:// (gcs extra)"),
        "storage_conn_id": Param(None, type=["null", "string"], description="connection for s3:// or gs://"),
    },
    tags=["mensatek", "certified-email", "certificates", "example"],
) as dag:
    send_notice = MensatekSendCertifiedEmailOperator(
        task_id="send_notice",
        sender="{{ params.sender }}",
        recipients="{{ params.recipients | tojson }}",
        subject="Notificación para {{Nombre}} ({{ ds }})",
        message="A la atención de {{Nombre}}: le notificamos fehacientemente el aviso del {{ ds }}.",
    )

    wait_certified = MensatekCertifiedEmailSensor(
        task_id="wait_certified",
        message_ids=MESSAGE_IDS,
        target="certified",
        deferrable=True,
        timeout=7 * 24 * 3600,
    )

    archive_certificates = MensatekDownloadCertificatesOperator(
        task_id="archive_certificates",
        message_ids=MESSAGE_IDS,
        destination="{{ params.lake }}",
        storage_conn_id="{{ params.storage_conn_id or '' }}",
    )

    @task
    def verify_archive(archived: dict[str, Any]) -> dict[str, Any]:
        """Re-hash every archived file against its manifest; fail naming any missing or altered file."""
        from airflow.sdk import ObjectStoragePath
        from airflow.sdk.exceptions import AirflowFailException

        from airflow_provider_mensatek.certificates.verify import verify_manifest

        reports = [verify_manifest(ObjectStoragePath(a["manifest_path"])) for a in archived["archives"]]
        problems = [f"{r.manifest_path}: {p}" for r in reports for p in r.problems]
        if problems:
            raise AirflowFailException("Archived certificates do not match their manifest:\n" + "\n".join(problems))
        return {"verified": [r.manifest_path for r in reports], "files": sum(r.checked for r in reports)}

    send_notice >> wait_certified >> archive_certificates
    verify_archive(archive_certificates.output)  # type: ignore[arg-type]  # an XComArg until run time


if __name__ == "__main__":
    dag.test()
