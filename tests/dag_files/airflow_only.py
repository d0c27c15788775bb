"""Airflow alone: what a DAG file pulls in before it names any provider class.

``tests/test_dag_parse_imports.py`` imports it first; packages it loads are not
counted against the provider (``DAG`` and ``@task`` load ``croniter`` and
``packaging``, whoever uses them).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param, task

with DAG(
    dag_id="airflow_only",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="Europe/Madrid"),
    params={"x": Param(1, type="integer")},
):

    @task
    def one(x: int) -> int:
        return x

    one.expand(x=[1, 2])
