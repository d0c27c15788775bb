"""``make demo``, second part: the zero-poll path in a real Airflow deployment on loopback.

A throwaway deployment in ``.demo/zero-poll`` (``airflow db migrate`` on SQLite, then
``api-server``, ``scheduler``, ``dag-processor`` and ``triggerer`` as separate
processes on 127.0.0.1) whose api-server mounts the provider's report receiver at
``/mensatek/reports``. The sandbox plays the vendor panel and POSTs a report there
on every status change. Its clock stands still until the sensor has deferred, then
jumps three status steps, so the order is always the one the demo is about:

send (``Report=1``) -> the sensor looks once and defers -> the sandbox pushes the
"certified" report -> the receiver stores it -> the triggerer wakes the sensor ->
``mensatek_archive_on_certified`` (an event-driven example DAG) archives the
certificate. Then every call the vendor received: no status query among them.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from airflow_provider_mensatek.sandbox import Clock, Sandbox
from airflow_provider_mensatek.sandbox.dag_runner import sandbox_connections
from airflow_provider_mensatek.sandbox.deployment import AirflowDeployment, DagRun

REPO = Path(__file__).resolve().parent.parent
HOME = REPO / ".demo" / "zero-poll"
DAG_FILES = (REPO / "scripts" / "demo_dags" / "send_and_listen.py", REPO / "example_dags" / "archive_on_certified.py")
SEND_DAG = "mensatek_demo_send_and_listen"
ARCHIVE_DAG = "mensatek_archive_on_certified"
REPORTS_USER = "mensatek-panel"
T = TypeVar("T")


def _until(check: Callable[[], T | None], what: str, timeout: float = 180.0, interval: float = 0.5) -> T:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:.0f} s for {what}")
        time.sleep(interval)


def _connections(sandbox: Sandbox, password: str) -> dict[str, str]:
    env = sandbox_connections(sandbox)
    mensatek = json.loads(env["AIRFLOW_CONN_MENSATEK_DEFAULT"])
    # The panel sends real-time reports to this deployment: sends ask for them, waits listen to them.
    env["AIRFLOW_CONN_MENSATEK_DEFAULT"] = json.dumps({**mensatek, "extra": {"reports": True}})
    env["AIRFLOW_CONN_MENSATEK_REPORTS_DEFAULT"] = json.dumps(
        {"conn_type": "mensatek_reports", "login": REPORTS_USER, "password": password})
    return env


class _Watch:
    """Prints each task state change of a run, with the seconds since the watch began."""

    def __init__(self, deployment: AirflowDeployment, dag_id: str, run_id: str) -> None:
        self.deployment, self.dag_id, self.run_id = deployment, dag_id, run_id
        self.began = time.monotonic()
        self.seen: dict[str, str | None] = {}

    def say(self, text: str) -> None:
        print(f"    {time.monotonic() - self.began:6.1f} s  {text}", flush=True)

    def poll(self) -> DagRun:
        run = self.deployment.dag_run(self.dag_id, self.run_id)
        for task_id, state in sorted(run.task_states.items()):
            if self.seen.get(task_id, "-") != state and state is not None:
                self.say(f"{task_id:<16} {state}")
            self.seen[task_id] = state
        return run

    def finished(self) -> DagRun | None:
        run = self.poll()
        return run if run.state in ("success", "failed") else None


def _archive_runs(deployment: AirflowDeployment, message_id: str) -> list[DagRun] | None:
    runs = deployment.api("GET", f"dags/{quote(ARCHIVE_DAG, safe='')}/dagRuns", params={"limit": 100})["dag_runs"]
    mine = [deployment.dag_run(ARCHIVE_DAG, r["dag_run_id"]) for r in runs
            if r.get("partition_key") == message_id and r["state"] in ("success", "failed")]
    archived = any(r.task_states.get("verify_archive") in ("success", "failed") for r in mine)
    return sorted(mine, key=lambda r: r.run_after or "") if archived else None


def main() -> int:
    print("\n== Zero-poll: Mensatek's real-time reports received by Airflow ==")
    shutil.rmtree(HOME, ignore_errors=True)
    dags = HOME / "dags"
    dags.mkdir(parents=True)
    for path in DAG_FILES:
        shutil.copy(path, dags / path.name)
    password = secrets.token_urlsafe(24)
    with Sandbox(clock=Clock(speed=0.0)) as sandbox:
        deployment = AirflowDeployment(HOME / "airflow-home", dags, env=_connections(sandbox, password))
        print(f"5/9 Starting Airflow in {HOME.relative_to(REPO)}: api-server on {deployment.url} (receiver at "
              "/mensatek/reports), scheduler, dag-processor, triggerer ...", flush=True)
        with deployment:
            deployment.wait_for_dags([SEND_DAG, ARCHIVE_DAG])
            receiver = f"{deployment.url}/mensatek/reports"
            sandbox.configure_reports(receiver, user=REPORTS_USER, password=password)
            print(f"6/9 The sandbox pushes every status change to {receiver} (JSON, Basic auth), as the panel would")
            outcome = _run(deployment, sandbox)
        print(f"    (deployment stopped; its logs are in {HOME.relative_to(REPO)}/airflow-home)")
    return outcome


def _run(deployment: AirflowDeployment, sandbox: Sandbox) -> int:
    run_id = deployment.trigger_api(SEND_DAG)
    print(f"7/9 Triggered {SEND_DAG} through the REST API (no logical date); its tasks:")
    watch = _Watch(deployment, SEND_DAG, run_id)
    _until(lambda: watch.poll().task_states.get("wait_certified") == "deferred", "the sensor to defer")
    (message_id,) = [str(m) for m in deployment.xcom(SEND_DAG, run_id, "send_notice")["message_ids"]]
    steps = 3  # 10 "sent" at one step, 14 "certified" at two, the certificate downloadable at three
    sandbox.clock.advance(steps * sandbox.step_seconds)
    watch.say(f"sandbox clock +{steps * sandbox.step_seconds:.0f} s: message {message_id} sent, then certified")
    run = _until(watch.finished, "the run to end")
    watch.say(f"{SEND_DAG}: {run.state.upper()}")

    print("8/9 Reports pushed by the sandbox, and what the receiver answered:")
    for attempt in sandbox.reports.attempts:
        print(f"    {attempt['service']} message {attempt['message_id']} code {attempt['code']:>2} -> "
              f"HTTP {attempt['http_status']} ({attempt['outcome']})")
    listing = subprocess.run([deployment.python, "-m", "airflow_provider_mensatek.webhooks", "reports", "list"],
                             env=deployment.env, cwd=deployment.home, capture_output=True, text=True, timeout=120,
                             check=False)
    print("    Stored (python -m airflow_provider_mensatek.webhooks reports list):")
    for line in (listing.stdout or listing.stderr).strip().splitlines():
        print(f"      {line}")

    print(f"9/9 {ARCHIVE_DAG} ran on the report Asset (one run per report of message {message_id}):")
    archive_runs = _until(lambda: _archive_runs(deployment, message_id), "the certificate to be archived")
    for archive in archive_runs:
        print(f"    {archive.run_id[:40]:<42} {archive.state:<8} {archive.task_states}")
    archived = next((deployment.xcom(ARCHIVE_DAG, r.run_id, "archive_certificates") for r in archive_runs
                     if r.task_states.get("archive_certificates") == "success"), None)
    if archived:
        for entry in archived["archives"]:
            print(f"    certificate of {entry['id']}: {entry['status']} at {entry['manifest_path']}")

    print("\nWhat Mensatek received in this part (every vendor call):")
    calls: dict[str, int] = {}
    for req in sandbox.requests:
        calls[req.function] = calls.get(req.function, 0) + 1
        shown: dict[str, Any] = {k: v for k, v in req.params.items()
                                 if k in ("Idmensaje", "Report", "Referenciausuario")}
        print(f"    {req.method} {req.function:<32} {shown}")
    print(f"    status queries (GetReportEMAILCERTIFICADO): {calls.get('GetReportEMAILCERTIFICADO', 0)}")
    ok = run.state == "success" and archived is not None and all(r.state == "success" for r in archive_runs)
    if not ok:
        print(deployment.explain(run))
    return 0 if ok else 1
