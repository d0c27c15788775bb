"""Airflow alone: what a DAG file pulls in before it names any provider class.

``tests/test_dag_parse_imports.py`` imports it first; packages it loads are not
counted against the provider (``DAG`` and ``@task`` load ``croniter`` and
``packaging``, whoever uses them).

It declares an Asset with a URI: the first such Asset in a process (any scheme but
``file`` and ``x-``) makes Airflow import every installed provider's asset URI
handlers, e.g. with the Amazon provider (the ``s3`` extra) boto3 and requests. That
is Airflow's cost for any DAG using Assets, paid the same by the provider's report
Assets, not the provider's own.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Asset, Param, task

with DAG(
    dag_id="airflow_only",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="Europe/Madrid"),
    params={"x": Param(1, type="integer")},
):

    @task(outlets=[Asset(name="airflow_only_report", uri="s3://airflow-only/report.csv")])
    def one(x: int) -> int:
        return x

    one.expand(x=[1, 2])
