"""Under a real dag.test(): paths from dag_run.conf are read only inside the DAG author's roots."""

from __future__ import annotations

import base64
import json
import tempfile
from pathlib import Path

from airflow_provider_mensatek.sandbox import Sandbox
from tests.legallymail_support import PDF

DAG_FILE = "tests/system/dags/mensatek_files_from_run_conf.py"
TASKS = ("certified_email", "upload", "legallymail_email", "signature")


def _tries(run_id: str) -> dict[str, int]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(select(TaskInstance.task_id, TaskInstance.try_number).where(
            TaskInstance.run_id == run_id))
        return {task_id: try_number for task_id, try_number in rows}


def test_proc_self_environ_from_run_conf_is_refused_once_with_no_request(run_dag, sandbox: Sandbox) -> None:
    result = run_dag(DAG_FILE, run_conf={"attachments": ["/proc/self/environ"], "document": "/proc/self/environ"})

    assert result.task_states == {task: "failed" for task in TASKS}
    assert _tries(result.run_id) == {task: 1 for task in TASKS}  # a validation error: not retried
    assert sandbox.requests == []


def test_files_in_the_dag_folder_and_the_temp_dir_are_sent(run_dag, sandbox: Sandbox) -> None:
    dag_file = (Path(__file__).parent / "dags" / "mensatek_files_from_run_conf.py").resolve()
    with tempfile.TemporaryDirectory() as folder:
        contract = Path(folder) / "contract.pdf"
        contract.write_bytes(PDF)
        result = run_dag(DAG_FILE, run_conf={"attachments": [{"name": "dag.py", "path": str(dag_file)}],
                                             "document": str(contract)})

    assert result.task_states == {task: "success" for task in TASKS}
    (certified,) = sandbox.requests_to("EnviarEMAILCERTIFICADO")
    assert base64.b64decode(json.loads(certified.params["Adjuntos"])[0]["Contenido"]) == dag_file.read_bytes()
    (upload,) = sandbox.requests_to("CargarFichero")
    assert upload.params["Fichero"]["content"] == PDF
    by_path = {r.path.removeprefix("/legallymail/api/"): r for r in sandbox.requests
               if r.path.startswith("/legallymail/api/")}
    assert base64.b64decode(by_path["send"].params["attachments"][0]["content"]) == dag_file.read_bytes()
    assert base64.b64decode(by_path["signature/send"].params["document"]) == PDF
