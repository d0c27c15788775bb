"""``make demo``: run the certified-email example DAG end to end against the local sandbox, then zero-poll.

No account, no network beyond 127.0.0.1: a throwaway SQLite Airflow home in
``.demo/``, the sandbox emulating Mensatek on a free loopback port, the DAG
run with ``dag.test()``, then a summary of what Mensatek "received" and the
final status of every message. The second part (``scripts/demo_zero_poll.py``)
runs a real Airflow deployment whose api-server receives the sandbox's real-time
reports: a deferred sensor woken by a report, an event-driven DAG archiving the
certificate, no status query.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DAG_FILE = REPO / "example_dags" / "certified_email_scheduled.py"
HOME = REPO / ".demo" / "airflow-home"

# Airflow reads its configuration at import time: set the throwaway home first.
sys.path.insert(0, str(REPO))
from airflow_provider_mensatek.sandbox.dag_runner import airflow_environment  # noqa: E402

os.environ.update(airflow_environment(HOME, {"provider_examples": REPO / "example_dags"}))
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
# Airflow's own dependency noise, not ours; keep the demo output about the demo.
warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")

from airflow_provider_mensatek.clients import MensatekClient  # noqa: E402
from airflow_provider_mensatek.sandbox import Clock, Sandbox  # noqa: E402
from airflow_provider_mensatek.sandbox.dag_runner import (  # noqa: E402
    load_dag,
    prepare_airflow_home,
    run_dag,
    sandbox_connections,
)


def main() -> int:
    print(f"1/4 Preparing a throwaway Airflow home in {HOME.relative_to(REPO)} (SQLite, airflow db migrate)...")
    prepare_airflow_home(HOME)

    with Sandbox(clock=Clock(speed=0.0)) as sandbox:
        print(f"2/4 Sandbox listening on {sandbox.url} (Mensatek API at {sandbox.mensatek_url})")
        os.environ.update(sandbox_connections(sandbox))

        print(f"3/4 Running {DAG_FILE.relative_to(REPO)} with dag.test() ...")
        logging.getLogger("airflow").setLevel(logging.WARNING)
        result = run_dag(load_dag(DAG_FILE))

        print(f"4/4 DAG run {result.run_id}: {result.state.upper()}")
        for task_id, state in sorted(result.task_states.items()):
            print(f"    {task_id:<20} {state}")

        print("\nWhat Mensatek received (method, function, key parameters):")
        for req in sandbox.requests:
            shown = {k: v for k, v in req.params.items() if k in ("Idmensaje", "Fecha", "Asunto", "Aceptacion")}
            print(f"    {req.method} {req.function:<30} {shown}")

        client = MensatekClient(sandbox.mensatek_user, sandbox.mensatek_token, base_url=sandbox.mensatek_url)
        scheduled = result.xcoms.get("schedule_notice", {}).get("message_ids", [])
        sent_now = result.xcoms.get("send_now", {}).get("message_ids", [])
        print("\nScheduled notice (scheduled -> rescheduled -> cancelled):")
        for mid in scheduled:
            report = client.get_certified_email_report(mid)
            moved = result.xcoms.get("reschedule_notice", [{}])[0].get("send_at")
            print(f"    message {mid}: rescheduled to {moved} Europe/Madrid, final status "
                  f"{report.status_code} '{report.status_text}'")
        print("\nNotice sent now (status right after the run, then after 3 simulated minutes):")
        for report_now in result.xcoms.get("read_reports", []):
            print(f"    message {report_now['message_id']}: {report_now['status_code']} '{report_now['status_text']}'")
        sandbox.clock.advance(3 * sandbox.step_seconds)
        for mid in sent_now:
            report = client.get_certified_email_report(mid)
            print(f"    message {mid}: {report.status_code} '{report.status_text}'")
        print(f"\nCredits left in the sandbox account: {client.get_credits():g}")
        client.close()
    from demo_zero_poll import main as zero_poll  # scripts/ is on sys.path when this file runs

    return max(0 if result.state == "success" else 1, zero_poll())


if __name__ == "__main__":
    sys.exit(main())
