"""Test DAG: attachment and document paths come from ``dag_run.conf``, as whoever triggers a run sets them."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG

from airflow_provider_mensatek.operators.certified_email import MensatekSendCertifiedEmailOperator
from airflow_provider_mensatek.operators.files import MensatekUploadFileOperator
from airflow_provider_mensatek.operators.legallymail import (
    LegallyMailRequestSignatureOperator,
    LegallyMailSendCertifiedEmailOperator,
)

retry = {"retries": 2, "retry_delay": timedelta(seconds=0)}

with DAG(
    dag_id="test_mensatek_files_from_run_conf",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
) as dag:
    MensatekSendCertifiedEmailOperator(
        task_id="certified_email", sender="avisos@example.com", recipients=["ana@example.com"],
        subject="Aviso", message="Texto", attachments="{{ dag_run.conf['attachments'] | tojson }}", **retry,
    )
    MensatekUploadFileOperator(task_id="upload", source="{{ dag_run.conf['document'] }}", name="contrato.pdf",
                               **retry)
    LegallyMailSendCertifiedEmailOperator(
        task_id="legallymail_email", recipients=["ana@example.com"], subject="Aviso", message="<p>Texto</p>",
        attachments="{{ dag_run.conf['attachments'] | tojson }}", **retry,
    )
    LegallyMailRequestSignatureOperator(
        task_id="signature", document="{{ dag_run.conf['document'] }}",
        signers=[{"name": "Ana", "email": "ana@example.com"}], **retry,
    )
