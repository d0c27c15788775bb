"""Test DAG: a send rate-limited with a long Retry-After is retried by MensatekRetryPolicy, once."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG

from airflow_provider_mensatek.operators.certified_email import MensatekSendCertifiedEmailOperator
from airflow_provider_mensatek.retry_policy import MensatekRetryPolicy

with DAG(
    dag_id="test_mensatek_retry_policy",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
) as dag:
    send = MensatekSendCertifiedEmailOperator(
        task_id="send",
        sender="avisos@example.com",
        recipients=["ana@example.com"],
        subject="Aviso",
        message="Texto",
        retries=3,
        retry_delay=timedelta(minutes=30),  # the policy's Retry-After-based delay must win
        retry_policy=MensatekRetryPolicy(min_delay=timedelta(seconds=0)),
    )
    refused = MensatekSendCertifiedEmailOperator(
        task_id="send_from_unvalidated_sender",
        sender="avisos@unvalidated.example",
        recipients=["ana@example.com"],
        subject="Aviso",
        message="Texto",
        retries=3,
        retry_delay=timedelta(seconds=0),
        retry_policy=MensatekRetryPolicy(min_delay=timedelta(seconds=0)),
    )
    send >> refused
