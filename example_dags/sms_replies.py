"""Record every SMS reply the moment Mensatek reports it: an event-driven DAG, no sensor, no polling.

Mensatek POSTs an ``SMSRECIBIDO`` report when someone answers one of your SMS
(or texts your number unprompted). The provider's receiver on the api-server
stores it and emits an event on the ``SMS_INBOUND_REPORTS`` Asset; this DAG is
scheduled on that Asset, so it runs with no task waiting anywhere.

* **Partitioned** (the receiver's default ``asset_events: partitioned``): the
  partition key is the id of the SMS answered, so each run is about one of your
  sends; an SMS nobody asked for has the key ``report:<report id>``. With
  ``asset_events: plain`` use ``schedule=[SMS_INBOUND_REPORTS]`` instead: the task
  below works unchanged.
* **One run can absorb many events**: replies to the same send (several phones,
  or one phone twice) that arrive before the run starts all land in it, so the
  task loops over ``triggering_asset_events``, sorted by ``report_id`` (Airflow
  gives them in no particular order).
* **Idempotent**: each reply is written to ``<replies_folder>/<report_id>.json``
  (written whole, then renamed), so a replayed event (``reports replay``)
  rewrites the same file instead of adding a second reply.
* **The reply text is personal data**: the receiver puts it in the event only
  when its connection (``mensatek_reports_default``) has the extra
  ``personal_data: true``. Without it every reply is recorded with the answer
  ``not-shared`` and the task log says so.

The answers understood here are a sketch of a confirmation campaign: ``SI``/``SÍ``/``YES``
confirm, ``NO`` declines, ``BAJA``/``STOP`` opts out, anything else is ``other``.

Triggered by hand (``airflow dags trigger``, the UI or the REST API, no logical
date) the run has no events and records nothing. The folder defaults to
``<tmp>/mensatek-examples-<user>/sms-replies`` (``<tmp>`` being
``tempfile.gettempdir()`` of the process that parses the DAG).
"""

from __future__ import annotations

import getpass
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import DAG, Param, PartitionedAssetTimetable, task

from airflow_provider_mensatek.delivery.report_assets import report_from_event
from airflow_provider_mensatek.webhooks.assets import SMS_INBOUND_REPORTS

#: Where this example writes by default: a folder of the current user under the system temp dir.
EXAMPLE_FILES = Path(tempfile.gettempdir()) / f"mensatek-examples-{getpass.getuser()}"

ANSWERS = {"SI": "confirmed", "SÍ": "confirmed", "YES": "confirmed", "NO": "declined", "BAJA": "opt-out",
           "STOP": "opt-out"}


def answer_of(text: str | None) -> str:
    """What a reply means for the campaign (``not-shared`` when the event carries no text)."""
    if text is None:
        return "not-shared"
    first = re.match(r"[^\W\d_]+", text.strip().upper())  # the first word, without its punctuation
    return ANSWERS.get(first.group(), "other") if first else "other"


with DAG(
    dag_id="mensatek_sms_replies",
    description="Record each SMS reply (Mensatek SMSRECIBIDO) as the receiver reports it; no sensor",
    schedule=PartitionedAssetTimetable(assets=SMS_INBOUND_REPORTS),
    start_date=pendulum.datetime(2026, 1, 1, tz="Europe/Madrid"),
    catchup=False,
    params={"replies_folder": Param(str(EXAMPLE_FILES / "sms-replies"), type="string",
                                    description="local folder where each reply is recorded")},
    tags=["mensatek", "sms", "reports", "example"],
) as dag:

    @task
    def record_replies(**context: Any) -> dict[str, Any]:
        """One file per reply of this run's events; returns what was recorded."""
        import logging

        log = logging.getLogger("airflow.task")
        events = [event for each in context["triggering_asset_events"].values() for event in each]
        folder = Path(context["params"]["replies_folder"])
        recorded = []
        for event in sorted(events, key=lambda e: e.extra["report_id"]):
            report = report_from_event(event.extra)
            answer = answer_of(report.reply_text)
            if answer == "not-shared":
                log.warning("Report %s carries no reply text: set personal_data true in the receiver's "
                            "connection to read replies", event.extra["report_id"])
            reply = {"report_id": event.extra["report_id"], "answers_message_id": report.message_id,
                     "reference": report.reference, "sender": report.reply_sender,
                     "received_at": report.occurred_at.isoformat() if report.occurred_at else None,
                     "answer": answer}
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / f"{reply['report_id']}.json"
            partial = target.with_suffix(f".{os.getpid()}.tmp")
            partial.write_text(json.dumps(reply, ensure_ascii=False, indent=2))
            partial.replace(target)  # a reader never sees half a reply
            recorded.append({"report_id": reply["report_id"], "answer": answer})
        log.info("Recorded %d repl%s for partition %s", len(recorded), "y" if len(recorded) == 1 else "ies",
                 context["dag_run"].partition_key)
        return {"partition_key": context["dag_run"].partition_key, "replies": recorded}

    record_replies()


if __name__ == "__main__":
    dag.test()
