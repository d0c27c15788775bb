"""Mensatek SMS, email and RCS in one DAG, with a failure notifier.

1. ``make_invoice`` writes a small PDF (to
   ``<tmp>/mensatek-examples-<user>/invoices``, ``<tmp>`` being
   ``tempfile.gettempdir()``); ``upload_invoice`` puts it in the Mensatek file
   library (the name must be up to 15 letters/digits plus extension).
2. ``send_sms`` texts the customers a link to that file, refusing to cost more
   than two SMS parts each; the text is checked (GSM or Unicode, parts) before
   anything is sent. ``{{Variable_1}}`` is filled per recipient by Mensatek,
   ``{{ dag_run.run_after | ds }}`` by Airflow: the operator keeps them apart.
   (``dag_run.run_after``, not ``ds``: runs started by ``airflow dags trigger``,
   the UI or the REST API have no logical date in Airflow 3.)
3. ``send_email`` sends a panel template whose ``###Motivo###`` is filled per
   recipient, never during the night (forbidden interval 22:00-08:00).
4. ``send_rcs`` sends an RCS template after checking, in one call, that every
   recipient supplies the variables the template needs.

If the run fails, ``MensatekSmsNotifier`` texts the on-call phone once with the
DAG, the failed task, the run and the log URL, cut to one SMS part (put it in
``default_args={"on_failure_callback": ...}`` instead for one SMS per failed task).

``(SMSFILE:name)`` is how this example links a library file in an SMS: the
document's Appendix 1, which lists these codes, was lost; the code is modelled
on the documented ``(SMSLAND:2:idLanding)`` and the sandbox understands it.
Check the Mensatek panel for the exact code before using it for real.
"""

from __future__ import annotations

import getpass
import tempfile
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_mensatek.clients.private_folder import private_folder
from airflow_provider_mensatek.notifications import MensatekSmsNotifier
from airflow_provider_mensatek.operators.email import MensatekSendEmailOperator
from airflow_provider_mensatek.operators.files import MensatekUploadFileOperator
from airflow_provider_mensatek.operators.rcs import MensatekSendRcsOperator
from airflow_provider_mensatek.operators.sms import MensatekSendSmsOperator

#: Where this example writes by default: a folder of the current user under the system temp dir
#: (``tempfile.gettempdir()``, e.g. ``/tmp/mensatek-examples-ana``), never a path every user shares; checked
#: before writing to be a real folder of this user with mode 0700 (``clients.private_folder``).
EXAMPLE_FILES = Path(tempfile.gettempdir()) / f"mensatek-examples-{getpass.getuser()}"

with DAG(
    dag_id="mensatek_sms_and_email",
    description="Upload a file, SMS a link to it, email a template and send an RCS; SMS on failure",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="Europe/Madrid"),
    catchup=False,
    params={
        "sms_sender": Param("MIEMPRESA", type="string", maxLength=15),
        "phones": Param([{"Movil": "34600000001", "Variable_1": "Ana"}], type="array"),
        "email_sender": Param("avisos@example.com", type="string"),
        "emails": Param([{"email": "ana.garcia@example.com", "name": "Ana",
                          "variables": {"Motivo": "su factura ya está disponible"}}], type="array"),
        "rcs": Param([{"Nombre": "Ana", "Telefono": "34600000001", "variables": {"Importe": "42,00 €"}}],
                     type="array"),
        "on_call": Param("34600000999", type="string"),
    },
    on_failure_callback=MensatekSmsNotifier(sender="AIRFLOW", recipients="{{ params.on_call }}",
                                            max_segments=1),
    tags=["mensatek", "sms", "email", "rcs", "example"],
) as dag:

    @task
    def make_invoice(dag_run: Any = None) -> str:
        """A stand-in for the real document (any PDF up to the library's size limit)."""
        assert dag_run is not None
        folder = private_folder(EXAMPLE_FILES) / "invoices"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"factura{dag_run.run_after:%Y%m%d}.pdf"
        path.write_bytes(b"%PDF-1.4\n% example invoice\n%%EOF\n")
        return str(path)

    upload_invoice = MensatekUploadFileOperator(
        task_id="upload_invoice",
        source="{{ ti.xcom_pull(task_ids='make_invoice') }}",
    )

    send_sms = MensatekSendSmsOperator(
        task_id="send_sms",
        sender="{{ params.sms_sender }}",
        recipients="{{ params.phones | tojson }}",
        message="Hola {{Variable_1}}, su factura del {{ dag_run.run_after | ds }}: "
                "(SMSFILE:{{ ti.xcom_pull(task_ids='upload_invoice')['name'] }})",
        max_segments=2,
        retries=2,
    )

    send_email = MensatekSendEmailOperator(
        task_id="send_email",
        sender_email="{{ params.email_sender }}",
        sender_name="Mi Empresa",
        recipients="{{ params.emails | tojson }}",
        subject="###Nombre###, ###Motivo###",
        template_id=1234567,
        forbidden_interval={"start": "22:00", "end": "8:00"},
        list_unsubscribe="<https://example.com/baja>",
        retries=2,
    )

    send_rcs = MensatekSendRcsOperator(
        task_id="send_rcs",
        template_id="1234567",
        recipients="{{ params.rcs | tojson }}",
        retries=2,
    )

    make_invoice() >> upload_invoice >> send_sms


if __name__ == "__main__":
    dag.test()
