"""LegallyMail: ask two people to sign a contract, and tell them by certified email.

1. ``prepare_contract`` writes the contract PDF to object storage (here a
   generated one-page PDF; in real life it comes from your document system).
2. ``request_signature`` sends it to two signers (LegallyMail e-signature).
3. ``notify_signers`` sends both a certified email that names the request.
4. ``read_signature`` reads the request's status once (no loop: LegallyMail
   allows 10 requests per minute per IP).

Runs against the real LegallyMail API or the local sandbox, depending on the
``legallymail_default`` connection (e.g. ``AIRFLOW_CONN_LEGALLYMAIL_DEFAULT``
with ``host`` set to the sandbox URL). The contract is written to
``<tmp>/mensatek-examples-<user>/legallymail`` by default
(``tempfile.gettempdir()`` of the process that parses the DAG; the
``documents`` param changes it). It runs from ``airflow dags trigger``, the UI
and the REST API (no logical date): dates come from ``dag_run.run_after``.
"""

from __future__ import annotations

import getpass
import tempfile
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import DAG, ObjectStoragePath, Param, task

from airflow_provider_mensatek.clients.private_folder import private_target
from airflow_provider_mensatek.hooks.legallymail import LegallyMailHook
from airflow_provider_mensatek.operators.legallymail import (
    LegallyMailRequestSignatureOperator,
    LegallyMailSendCertifiedEmailOperator,
)

#: Where this example writes by default: a folder of the current user under the system temp dir
#: (``tempfile.gettempdir()``, e.g. ``/tmp/mensatek-examples-ana``), never a path every user shares; checked
#: before writing to be a real folder of this user with mode 0700 (``clients.private_folder``).
EXAMPLE_FILES = Path(tempfile.gettempdir()) / f"mensatek-examples-{getpass.getuser()}"

with DAG(
    dag_id="legallymail_signature",
    description="Request a signature from two signers and notify them by certified email",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="Europe/Madrid"),
    catchup=False,
    params={
        "documents": Param((EXAMPLE_FILES / "legallymail").as_uri(), type="string",
                           description="object storage folder for the contract (file://, s3://, gs://)"),
        "signers": Param(
            [{"name": "Ana García", "email": "ana.garcia@example.com"},
             {"name": "Bruno Díaz", "email": "bruno.diaz@example.com", "phone": "+34600000000"}],
            type="array",
        ),
    },
    tags=["legallymail", "e-signature", "certified-email", "example"],
) as dag:

    @task
    def prepare_contract(params: dict[str, Any] | None = None, dag_run: Any = None) -> str:
        """Write the contract where the signature operator can read it; return its URL.

        A stand-in for your own contract (any PDF up to 10 MB): in a real DAG it comes from
        upstream, already in object storage.
        """
        assert params is not None and dag_run is not None
        day = dag_run.run_after.strftime("%Y-%m-%d")  # every run has run_after; not every run a logical date
        folder = ObjectStoragePath(private_target(params["documents"], EXAMPLE_FILES))
        folder.mkdir(parents=True, exist_ok=True)
        contract = folder / f"contract-{day}.pdf"
        contract.write_bytes(f"%PDF-1.4\n% Service contract, {day}. Both parties agree to be nice.\n%%EOF\n".encode())
        return str(contract)

    request_signature = LegallyMailRequestSignatureOperator(
        task_id="request_signature",
        document="{{ ti.xcom_pull(task_ids='prepare_contract') }}",
        document_name="Contract {{ dag_run.run_after | ds }}.pdf",
        signers="{{ params.signers | tojson }}",
        language="es",
    )

    notify_signers = LegallyMailSendCertifiedEmailOperator(
        task_id="notify_signers",
        recipients="{{ params.signers | map(attribute='email') | list | tojson }}",
        subject="Contract {{ dag_run.run_after | ds }}: your signature is requested",
        message=(
            "<p>We have sent you the contract of {{ dag_run.run_after | ds }} for signature "
            "(request {{ ti.xcom_pull(task_ids='request_signature')['uuid'] }}).</p>"
            "<p>Look for the LegallyMail email with the signing link.</p>"
        ),
    )

    @task
    def read_signature(requested: dict[str, Any]) -> dict[str, Any]:
        """One status read (wait for signatures with a sensor, not a loop)."""
        return LegallyMailHook().get_conn().get_signature(requested["uuid"]).to_dict()

    prepare_contract() >> request_signature >> notify_signers
    read_signature(request_signature.output)


if __name__ == "__main__":
    dag.test()
