"""Archive a certified email's certificate as soon as Mensatek reports it certified: event-driven, no polling.

Mensatek POSTs a report each time a certified email changes status; the
provider's receiver on the api-server stores it and emits an event on the
``CERTIFIED_EMAIL_REPORTS`` Asset, with the message id as partition key (the
receiver's default ``asset_events: partitioned``). This DAG runs once per
message and status change, whoever sent the email (a DAG, a campaign, the panel):

1. ``certified``: loops over the run's ``triggering_asset_events`` (several
   reports of one message can land in one run, in no particular order) and
   goes on only when one of them says the message reached "certified";
   a run for an earlier status (pending, sent) or a failure skips the rest.
2. ``archive_certificates``: downloads the certificate ZIP of that message and
   archives it into the lake under ``<lake>/mensatek/certified_email/<id>/``
   (checked, written atomically, ``manifest.json`` last). Archiving the same
   certificate twice changes nothing, so a replayed event is harmless. A
   certificate can lag the report: while Mensatek answers "not generated yet"
   the task is retried (every 10 minutes, 6 times).
3. ``verify_archive``: every file is re-read and checked against its manifest.

No sensor and no status query: the only vendor call is the certificate download.
Triggered by hand (``airflow dags trigger``, the UI, the REST API; no logical
date, no partition) the run has no events and skips. The lake defaults to
``<tmp>/mensatek-examples-<user>/lake`` (``<tmp>`` being ``tempfile.gettempdir()``);
see ``certify_and_archive.py`` for ``s3://`` and ``gs://`` lakes.
"""

from __future__ import annotations

import getpass
import tempfile
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import DAG, Param, PartitionedAssetTimetable, task

from airflow_provider_mensatek.delivery.report_assets import report_from_event
from airflow_provider_mensatek.operators.certificates import MensatekDownloadCertificatesOperator
from airflow_provider_mensatek.webhooks.assets import CERTIFIED_EMAIL_REPORTS

#: Where this example writes by default: a folder of the current user under the system temp dir.
EXAMPLE_FILES = Path(tempfile.gettempdir()) / f"mensatek-examples-{getpass.getuser()}"

with DAG(
    dag_id="mensatek_archive_on_certified",
    description="Archive a certificate when the Mensatek report says certified (event-driven, no sensor)",
    schedule=PartitionedAssetTimetable(assets=CERTIFIED_EMAIL_REPORTS),
    start_date=pendulum.datetime(2026, 1, 1, tz="Europe/Madrid"),
    catchup=False,
    params={
        "lake": Param((EXAMPLE_FILES / "lake").as_uri(), type="string",
                      description="data lake root: file://, s3:// (s3 extra) or gs:// (gcs extra)"),
        "storage_conn_id": Param(None, type=["null", "string"], description="connection for s3:// or gs://"),
    },
    tags=["mensatek", "certified-email", "certificates", "reports", "example"],
) as dag:

    @task.short_circuit
    def certified(**context: Any) -> bool:
        """True when one of this run's reports says the message reached "certified"."""
        import logging

        from airflow_provider_mensatek.delivery.statuses import DeliveryStatus  # at run time: parsing stays light

        log = logging.getLogger("airflow.task")
        events = [event for each in context["triggering_asset_events"].values() for event in each]
        reached = False
        for event in sorted(events, key=lambda e: e.extra["report_id"]):
            report = report_from_event(event.extra)
            log.info("Report %s: message %s is %s", event.extra["report_id"], report.message_id,
                     report.status.describe())
            reached = reached or report.status.has_reached(DeliveryStatus.CERTIFIED)
        return reached

    archive_certificates = MensatekDownloadCertificatesOperator(
        task_id="archive_certificates",
        message_ids="{{ dag_run.partition_key }}",
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

    certified() >> archive_certificates
    verify_archive(archive_certificates.output)  # type: ignore[arg-type]  # an XComArg until run time


if __name__ == "__main__":
    dag.test()
