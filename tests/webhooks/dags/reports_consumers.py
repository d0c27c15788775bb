"""DAGs that consume the report Assets, for the receiver's deployment tests.

Each task returns what its run was triggered by (the events' report ids, partition
keys and codes), so a test reads it back from XCom. The channels: certified email
(partitioned consumer), SMS (a plain ``schedule=[Asset]`` consumer), email (a
partitioned consumer paused at creation), SMS received (declared only as inlets,
as a waiting sensor declares it). RCS: no DAG declares it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import DAG, PartitionedAssetTimetable, task

from airflow_provider_mensatek.delivery.report_assets import report_from_event
from airflow_provider_mensatek.webhooks.assets import (
    CERTIFIED_EMAIL_REPORTS,
    EMAIL_REPORTS,
    SMS_INBOUND_REPORTS,
    SMS_REPORTS,
)

#: One retry: on a loaded machine a consumer's task has been seen to die right after starting
#: (its log ends at "Pre Execute"); what it returns is deterministic, so a real failure fails twice.
RETRY = {"retries": 1, "retry_delay": timedelta(seconds=2)}


def _seen(context: Any) -> dict[str, Any]:
    events = [event for each in context["triggering_asset_events"].values() for event in each]
    # Airflow lists a run's events in no particular order: sort them as the docs tell consumers to.
    events.sort(key=lambda event: event.extra["report_id"])
    return {
        "partition_key": context["dag_run"].partition_key,
        "events": [{"report_id": e.extra["report_id"], "partition_key": e.partition_key,
                    "message_id": report_from_event(e.extra).message_id,
                    "code": report_from_event(e.extra).status.code, "advanced": e.extra["advanced"],
                    "has_recipient": e.extra.get("recipient") is not None} for e in events],
    }


with DAG("reports_partitioned", schedule=PartitionedAssetTimetable(assets=CERTIFIED_EMAIL_REPORTS), default_args=RETRY):

    @task
    def seen_partitioned(**context: Any) -> dict[str, Any]:
        return _seen(context)

    seen_partitioned()


with DAG("reports_plain", schedule=[SMS_REPORTS], default_args=RETRY):

    @task
    def seen_plain(**context: Any) -> dict[str, Any]:
        return _seen(context)

    seen_plain()


with DAG("reports_paused", schedule=PartitionedAssetTimetable(assets=EMAIL_REPORTS), is_paused_upon_creation=True,
         default_args=RETRY):

    @task
    def seen_paused(**context: Any) -> dict[str, Any]:
        return _seen(context)

    seen_paused()


with DAG("reports_inlets", schedule=None):

    @task(inlets=[SMS_INBOUND_REPORTS, SMS_REPORTS])
    def declares() -> None:
        return None

    declares()
