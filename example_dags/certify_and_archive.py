"""Send a certified email, wait for its certification, archive the certificates, verify the archive.

0. ``check_lake``: the default lake's per-user folder must be this user's
   private folder (not a symlink, mode 0700), checked before anything is sent.
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

The lake is ``<tmp>/mensatek-examples-<user>/lake`` by default (``<tmp>`` is
``tempfile.gettempdir()`` of the process that parses the DAG, ``<user>`` the
user it runs as); set the ``lake`` param to ``s3://bucket/prefix``
(``pip install 'airflow-provider-mensatek[s3]'``) and ``storage_conn_id`` to an
AWS connection to archive to S3 instead.

It runs from ``airflow dags trigger``, the UI and the REST API (runs without a
logical date in Airflow 3): its templates use ``{{ dag_run.run_after | ds }}``,
never ``{{ ds }}``.
"""

from __future__ import annotations

import getpass
import tempfile
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import DAG, Context, Param, task

from airflow_provider_mensatek.clients.private_folder import private_target
from airflow_provider_mensatek.operators.certificates import MensatekDownloadCertificatesOperator
from airflow_provider_mensatek.operators.certified_email import MensatekSendCertifiedEmailOperator
from airflow_provider_mensatek.sensors.delivery import MensatekCertifiedEmailSensor

MESSAGE_IDS = "{{ ti.xcom_pull(task_ids='send_notice')['message_ids'] | tojson }}"
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
    dag_id="mensatek_certify_and_archive",
    description="Certified email -> wait for certification -> archive certificates -> verify the manifest",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="Europe/Madrid"),
    catchup=False,
    params={
        "sender": Param("notificaciones@example.com", type="string", description="validated sender"),
        "recipients": Param([{"name": "Ana García", "email": "ana.garcia@example.com"}], type="array"),
        "lake": Param((EXAMPLE_FILES / "lake").as_uri(), type="string",
                      description="data lake root: file://, s3:// (s3 extra) or gs:// (gcs extra)"),
        "storage_conn_id": Param(None, type=["null", "string"], description="connection for s3:// or gs://"),
        "poll_policy": Param(None, type=["null", "object"],
                             description="PollPolicy overrides for the sensors; null: the vendor's polite default"),
    },
    tags=["mensatek", "certified-email", "certificates", "example"],
) as dag:
    @task
    def check_lake(params: dict[str, Any] | None = None) -> None:
        """Refuse a default lake folder another local user made or can write to, before the notice is sent."""
        assert params is not None
        private_target(params["lake"], EXAMPLE_FILES)

    send_notice = MensatekSendCertifiedEmailOperator(
        task_id="send_notice",
        sender="{{ params.sender }}",
        recipients="{{ params.recipients | tojson }}",
        subject="Notificación para {{Nombre}} ({{ dag_run.run_after | ds }})",
        message="A la atención de {{Nombre}}: le notificamos fehacientemente el aviso del "
                "{{ dag_run.run_after | ds }}.",
    )

    wait_certified = MensatekCertifiedEmailSensor(
        task_id="wait_certified",
        message_ids=MESSAGE_IDS,
        target="certified",
        deferrable=True,
        timeout=7 * 24 * 3600,
        poll_policy=poll_policy_from_params,  # type: ignore[arg-type]  # rendered to a dict or None
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

    check_lake() >> send_notice >> wait_certified >> archive_certificates
    verify_archive(archive_certificates.output)  # type: ignore[arg-type]  # an XComArg until run time


if __name__ == "__main__":
    dag.test()
