"""A certified-email campaign from a CSV in a data lake: plan, send mapped batches, reschedule, summarize.

1. ``write_demo_csv`` puts a recipients CSV into the lake (a local ``file://``
   folder here; ``s3://`` / ``gs://`` work the same with the extras). Two of
   its rows are wrong on purpose: they are reported with their line numbers,
   not sent, and listed in ``not_sent.csv``.
2. ``plan`` reads the CSV as a stream and writes the batches beside the
   campaign's send ledger.
3. ``send_batch`` is mapped: one task per batch, spread over the workers,
   each scheduled for tomorrow 09:00 Europe/Madrid. The ledger makes every
   batch at-most-once, across task retries and re-runs of the DAG run.
4. ``reschedule`` moves every message of the campaign to the day after at
   10:00 (ids read from the ledger); ``summary`` writes the totals.

Re-running the DAG with the same ``campaign`` param sends nothing twice: the
ledger returns what each batch already got. A batch whose send outcome is
unknown (connection lost after the request left) stays blocked until
someone checks the Mensatek panel for its reference and clears it::

    python -m airflow_provider_mensatek.campaigns ledger clear <lake>/campaigns/<campaign>/ledger 00002 \\
        --by ana@example.com --note "not in the panel"

The lake is ``<tmp>/mensatek-examples-<user>/lake`` by default
(``tempfile.gettempdir()`` of the process that parses the DAG, and its user);
the ``lake`` param changes it. It runs from ``airflow dags trigger``, the UI
and the REST API (no logical date): the message names
``{{ dag_run.run_after | ds }}``, never ``{{ ds }}``.
"""

from __future__ import annotations

import getpass
import tempfile
from pathlib import Path

import pendulum
from airflow.sdk import DAG, ObjectStoragePath, Param, task

from airflow_provider_mensatek.clients.private_folder import private_target
from airflow_provider_mensatek.operators.campaigns import (
    MensatekCampaignControlOperator,
    MensatekCampaignSummaryOperator,
    MensatekPlanCampaignOperator,
    MensatekSendCampaignBatchOperator,
)

DEMO_ROWS = [
    "nombre;correo;poliza",
    "Ana García;ana.garcia@example.com;P-2026-0001",
    "Luis Pérez;luis.perez@example.com;P-2026-0002",
    "Marta Ruiz;marta.ruiz@example;P-2026-0003",  # no top-level domain: reported, not sent
    "Jorge Sanz;jorge.sanz@example.com;P-2026-0004",
    "Ana (otra vez);ANA.GARCIA@example.com;P-2026-0005",  # duplicate of line 2
    "Elena Gil;elena.gil@example.com;P-2026-0006",
    "Pablo Ramos;pablo.ramos@example.com;P-2026-0007",
]
CAMPAIGN = "{{ params.lake }}/campaigns/{{ params.campaign }}"
#: Where this example writes by default: a folder of the current user under the system temp dir
#: (``tempfile.gettempdir()``, e.g. ``/tmp/mensatek-examples-ana``), never a path every user shares; checked
#: before writing to be a real folder of this user with mode 0700 (``clients.private_folder``).
EXAMPLE_FILES = Path(tempfile.gettempdir()) / f"mensatek-examples-{getpass.getuser()}"

with DAG(
    dag_id="mensatek_scheduled_campaign",
    description="CSV in a data lake -> planned batches -> mapped at-most-once sends -> reschedule -> summary",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="Europe/Madrid"),
    catchup=False,
    # One run of a campaign at a time. The ledger's exclusive claim already keeps two workers from
    # sending one batch (storage without exclusive create is refused); this keeps runs from interleaving.
    max_active_runs=1,
    params={
        "lake": Param((EXAMPLE_FILES / "lake").as_uri(), type="string",
                      description="data lake root (ObjectStoragePath URL)"),
        "campaign": Param("renovaciones-2026-11", type="string", description="campaign folder and reference"),
        "batch_size": Param(2, type="integer", minimum=1),
        "sender": Param("notificaciones@example.com", type="string"),
    },
    tags=["mensatek", "campaign", "example"],
) as dag:

    @task
    def write_demo_csv(lake: str) -> str:
        """The demo's recipients file; in real life another pipeline drops it into the lake."""
        path = ObjectStoragePath(private_target(lake, EXAMPLE_FILES)) / "incoming" / "renovaciones.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(DEMO_ROWS) + "\n")
        return str(path)

    @task
    def campaign_dates() -> dict[str, str]:
        """Tomorrow 09:00 and the day after 10:00, Europe/Madrid (aware, so nothing is ambiguous)."""
        now = pendulum.now("Europe/Madrid")
        return {"send_at": now.add(days=1).at(9, 0).isoformat(),
                "moved_to": now.add(days=2).at(10, 0).isoformat()}

    csv_path = write_demo_csv("{{ params.lake }}")
    dates = campaign_dates()

    plan = MensatekPlanCampaignOperator(
        task_id="plan",
        recipients_path=csv_path,
        campaign_path=CAMPAIGN,
        campaign_reference="{{ params.campaign }}",
        channel="certified_email",
        columns={"name": "nombre", "email": "correo", "variables": {"Variable_1": "poliza"}},
        batch_size="{{ params.batch_size }}",
        max_invalid=5,
    )

    send_batch = MensatekSendCampaignBatchOperator.partial(
        task_id="send_batch",
        sender="{{ params.sender }}",
        subject="Renovación de su póliza, {{Nombre}}",
        message="A la atención de {{Nombre}}: su póliza {{Variable_1}} se renueva "
                "(aviso del {{ dag_run.run_after | ds }}).",
        send_at="{{ ti.xcom_pull(task_ids='campaign_dates')['send_at'] }}",
        retries=2,
    ).expand(batch=plan.output)

    reschedule = MensatekCampaignControlOperator(
        task_id="reschedule",
        campaign_path=CAMPAIGN,
        action="reschedule",
        send_at="{{ ti.xcom_pull(task_ids='campaign_dates')['moved_to'] }}",
    )

    summary = MensatekCampaignSummaryOperator(task_id="summary", campaign_path=CAMPAIGN,
                                              trigger_rule="all_done")

    dates >> plan
    send_batch >> reschedule >> summary


if __name__ == "__main__":
    dag.test()
