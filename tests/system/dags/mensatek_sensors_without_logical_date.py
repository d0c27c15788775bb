"""Test DAG: every status sensor, in poke, reschedule and deferrable mode, with a templated field naming
a context name that only runs with a logical date have (``ds``, ``ts``, ``logical_date`` ...).

Run without a logical date (as ``airflow dags trigger`` starts runs), every task must fail once, not be
retried, saying so. ``FAILURES`` (task id -> the exception that failed it) is filled by the failure
callback, which ``dag.test()`` runs in this process.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG

from airflow_provider_mensatek.sensors.delivery import (
    LegallyMailEmailSensor,
    LegallyMailSignatureSensor,
    LegallyMailSmsSensor,
    MensatekCertifiedEmailSensor,
    MensatekSmsDeliverySensor,
)

UUID = "b1f0c6a2-5d1e-4f8a-9c3b-2a7e1d4f6b90"
#: Per sensor: its arguments (one field names a logical-date context name) and that field.
SENSORS: dict[type[Any], tuple[dict[str, Any], str]] = {
    MensatekCertifiedEmailSensor: ({"message_ids": "{{ ds_nodash }}"}, "message_ids"),
    MensatekSmsDeliverySensor: ({"message_ids": "108366001", "target": "{{ 'delivered' if ds }}"}, "target"),
    LegallyMailEmailSensor: ({"message_ids": "['{{ ts }}']"}, "message_ids"),
    LegallyMailSignatureSensor: ({"message_ids": UUID, "poll_policy": {"initial_delay": "{{ ds }}"}},
                                 "poll_policy"),
    LegallyMailSmsSensor: ({"message_ids": UUID, "min_fraction": "{{ 1 if logical_date else 0.5 }}"},
                           "min_fraction"),
}
MODES: dict[str, dict[str, Any]] = {"poke": {}, "reschedule": {"mode": "reschedule"},
                                    "deferrable": {"deferrable": True}}
FAILURES: dict[str, str] = {}


def record_failure(context: Any) -> None:
    exc = context["exception"]
    FAILURES[context["ti"].task_id] = f"{type(exc).__name__}: {exc}"


with DAG(
    dag_id="test_mensatek_sensors_without_logical_date",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    # Retries a retryable failure (Jinja's UndefinedError) would use.
    default_args={"retries": 2, "retry_delay": timedelta(seconds=0), "on_failure_callback": record_failure},
) as dag:
    for sensor, (arguments, _) in SENSORS.items():
        for mode, mode_arguments in MODES.items():
            sensor(task_id=f"{sensor.__name__}_{mode}", **arguments, **mode_arguments)
