"""Zero-poll on the workload of ``bench/polling.py``: waits woken by Mensatek's real-time reports.

The workload is polling.py's: 1,000 certified emails scheduled so that they become
certified at times spread uniformly over a simulated day (its
:func:`polling.schedule_workload`, same seed, same completion times). Here:

* a real Airflow deployment on loopback (``airflow db migrate`` on SQLite, then
  ``api-server`` with the provider's report receiver at ``/mensatek/reports`` and
  ``dag-processor``, which parses one DAG declaring the certified-email report
  Asset as an inlet, as a waiting sensor does, so its state store is active);
* the sandbox pushes a report on every status change to that receiver, as the
  vendor panel would (JSON, Basic auth; ``--copies 2`` by default: every report
  arrives twice), and its clock runs ``--speed`` times real time, so the day takes
  ``86,400 / speed`` real seconds;
* 1,000 ``MensatekCertifiedEmailTrigger`` s with ``wait_for="reports"`` run in one
  asyncio event loop, as in a triggerer: they read the channel Asset's state store
  through Airflow's in-process supervisor and Execution API (as ``dag.test()`` runs
  tasks; the triggerer's own channel goes to the same API in-process), one journal
  watcher wakes them, and a message with no news for ``reconcile_after`` (6 h
  simulated, the default) gets one status query. Each wait is told its message's
  send time (``send_at``, the minute the send asked for, as a sensor's ``send_at``
  gives it), so the silence of a message scheduled hours ahead counts from then;
* half-way through the day the api-server is killed (SIGKILL) and started again
  (``--no-restart`` to skip). Mensatek documents no redelivery, so what the sandbox
  pushes while it is down is lost on the vendor's side (``--retries N`` makes the
  sandbox retry, for comparison); the reconcile poll then ends those waits. While
  the api-server is down the simulated clock runs at real speed (1x, not
  ``--speed``): the outage costs its real duration of the vendor's day, as a real
  restart would, not 180 times as many pushes.

Printed: vendor calls per message (every status query: reconcile polls), split into
the polls of messages a push of which was refused during the restart and the others, delay from
the sandbox's push of the "certified" report (its 200) to the wait's end (real
seconds: the pipeline runs in real time, only the vendor's day is compressed),
reports acknowledged but not stored, pushes refused while the api-server was down,
waits ended by a reconcile poll instead of a report, duplicated Asset events and
wait ends; then ``bench/receiver_ack.py``'s sustained rate and acknowledgement
latency on one api-server worker, SQLite and PostgreSQL (``--skip-ack`` to skip).
A script, not a test; nothing is asserted:

    .venv/bin/python bench/webhooks.py [--messages 1000] [--speed 180] [--copies 2] [--seed 7]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import secrets
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # polling.py and receiver_ack.py, whose helpers this reuses
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# 1,000 triggers log every wake at INFO; the figures are what this script is for.
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")

from airflow_provider_mensatek.sandbox import Clock, Sandbox
from airflow_provider_mensatek.sandbox.deployment import AirflowDeployment

DAY = 86_400.0
REPORT = "GetReportEMAILCERTIFICADO"
USER = "bench-panel"
#: The bench's DAG: it only declares the report Asset (a waiting sensor adds it to its inlets the same way).
INLET_DAG = '''
from airflow.sdk import DAG, task
from airflow_provider_mensatek.webhooks.assets import CERTIFIED_EMAIL_REPORTS

with DAG("bench_reports_inlet", schedule=None):

    @task(inlets=[CERTIFIED_EMAIL_REPORTS])
    def waits() -> None:
        return None

    waits()
'''


@dataclass
class Ends:
    """When each wait ended (sandbox clock) and how."""

    at: dict[str, float] = field(default_factory=dict)
    count: Counter[str] = field(default_factory=Counter)
    by_reconcile: set[str] = field(default_factory=set)
    failed: dict[str, Any] = field(default_factory=dict)
    #: Real seconds until every wait had read its message once.
    startup_seconds: float = 0.0


def percentile(values: list[float], q: float) -> float:
    from polling import percentile as cut

    return cut(values, q) if values else float("nan")


def scaled_clock(sandbox: Sandbox, speed: float) -> Any:
    """The provider's clock on the sandbox's: reconcile timers count simulated time, sleeps last 1/speed."""
    from airflow_provider_mensatek.delivery import waiting

    class ScaledClock(waiting.WallClock):
        def now(self) -> float:
            return sandbox.clock.now().timestamp()

        def sleep(self, seconds: float) -> None:
            raise RuntimeError("the benchmark runs triggers only")

        async def async_sleep(self, seconds: float) -> None:
            # The sandbox's speed of the moment: 1x while the api-server restarts.
            await asyncio.sleep(max(seconds, 0.0) / (sandbox.clock.speed or speed))

    return ScaledClock()


def in_process_reads() -> Any:
    """State store reads as a task's or trigger's: Airflow's in-process supervisor and Execution API."""
    import psutil
    import structlog
    from airflow.sdk.execution_time.supervisor import (
        InProcessSupervisorComms,
        InProcessTestSupervisor,
        set_supervisor_comms,
    )
    from uuid6 import uuid7

    supervisor = InProcessTestSupervisor(id=uuid7(), pid=os.getpid(), process=psutil.Process(),
                                         process_log=structlog.get_logger(logger_name="task").bind(),
                                         client=InProcessTestSupervisor._api_client())
    comms = InProcessSupervisorComms(supervisor=supervisor)
    supervisor.comms = comms
    lock = threading.Lock()

    class Serial:  # the in-process channel answers through one queue: one request at a time
        def send(self, msg: Any) -> Any:
            with lock:
                return comms.send(msg)

    return set_supervisor_comms(Serial())


def query(sql: str, **params: Any) -> list[dict[str, Any]]:
    """Read the deployment's metadata database (this process is configured for it)."""
    from airflow.utils.session import create_session
    from sqlalchemy import text

    with create_session() as session:
        return [dict(row._mapping) for row in session.execute(text(sql), params)]


def wait_for_active_asset(deployment: AirflowDeployment, name: str, timeout: float = 180.0) -> None:
    deployment.wait_for_dags(["bench_reports_inlet"], timeout=timeout)
    deadline = time.monotonic() + timeout
    while not query("SELECT 1 FROM asset_active WHERE name = :n", n=name):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the Asset {name} did not become active")
        time.sleep(0.5)


def timed_reads(waits: list[float], watcher: list[float]) -> None:
    """Time every state store read of the waits and of the journal watcher (the names their modules call)."""
    from airflow_provider_mensatek.triggers import report_listening, report_watcher

    def timed(fn: Any, into: list[float]) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                into.append(time.perf_counter() - began)

        return call

    report_listening.read_for = timed(report_listening.read_for, waits)
    report_watcher.read_journal = timed(report_watcher.read_journal, watcher)


def run_waits(sandbox: Sandbox, completions: dict[str, float], send_times: dict[str, float], conn_id: str,
              speed: float, reconcile_after: float, restart: Any, reads: list[float]) -> Ends:
    """One trigger per message in one event loop, until every wait has ended."""
    from airflow_provider_mensatek.delivery import waiting
    from airflow_provider_mensatek.delivery.polling import MENSATEK_POLICY
    from airflow_provider_mensatek.delivery.report_waiting import ReportWait
    from airflow_provider_mensatek.triggers.delivery import MensatekCertifiedEmailTrigger

    ends = Ends()
    clock = waiting.CLOCK = scaled_clock(sandbox, speed)
    start = clock.now()

    async def wait_for(mid: str) -> None:
        state = ReportWait.start(lambda keys: iter(()), mid, target="certified", min_fraction=1,
                                 policy=MENSATEK_POLICY, now=start, reconcile_after=reconcile_after,
                                 send_at=send_times[mid]).state()
        trigger = MensatekCertifiedEmailTrigger(message_ids=[mid], target="certified", min_fraction=1, state=state,
                                                conn_id=conn_id, wait_for="reports")
        async for event in trigger.run():
            ends.count[mid] += 1
            if event.payload["status"] != "success":
                ends.failed[mid] = event.payload
                continue
            ends.at[mid] = clock.now()
            report = (event.payload.get("result") or {}).get("reports", {}).get(mid, {})
            if report.get("source") != "webhook":
                ends.by_reconcile.add(mid)

    async def main() -> None:
        tasks = [asyncio.create_task(wait_for(mid)) for mid in completions]
        # Every wait reads its message once when it starts (one read at a time per process): the day
        # begins once they all have, so the delays are those of listening waits, not of a start-up queue.
        began = time.monotonic()
        while len(reads) < len(completions):
            await asyncio.sleep(0.2)
        ends.startup_seconds = time.monotonic() - began
        sandbox.clock.set_speed(speed)
        restarter = asyncio.create_task(restart(clock, clock.now()))
        await asyncio.gather(*tasks)
        restarter.cancel()
        await asyncio.gather(restarter, return_exceptions=True)

    try:
        asyncio.run(main())
    finally:
        waiting.CLOCK = waiting.WallClock()
    return ends


def push_times(attempts: list[dict[str, Any]]) -> dict[str, float]:
    """Message id -> when the sandbox's first accepted push of its "certified" (14) report was answered."""
    from datetime import datetime

    found: dict[str, float] = {}
    for attempt in attempts:
        if attempt["code"] == "14" and attempt["outcome"] == "delivered":
            at = datetime.fromisoformat(attempt["at"]).timestamp()
            found[attempt["message_id"]] = min(at, found.get(attempt["message_id"], at))
    return found


def losses(attempts: list[dict[str, Any]]) -> tuple[int, int, int]:
    """(distinct reports acknowledged, of those not stored, reports never acknowledged)."""
    from airflow_provider_mensatek.clients.mensatek.reports import parse_report

    acknowledged: dict[str, int] = {}
    refused: set[int] = set()
    for attempt in attempts:
        if attempt["outcome"] == "delivered":
            key = parse_report("application/json", json.dumps(attempt["payload"]).encode()).dedupe_key
            acknowledged[key] = attempt["report"]
        elif attempt["outcome"] == "lost":
            refused.add(attempt["report"])
    stored = {row["dedupe_key"] for row in query("SELECT dedupe_key FROM mensatek_report")}
    never = refused - set(acknowledged.values())
    return len(acknowledged), len(set(acknowledged) - stored), len(never)


def duplicated_events(asset_name: str) -> tuple[int, int]:
    """(Asset events emitted, events beyond one per stored report)."""
    rows = query("SELECT e.extra FROM asset_event e JOIN asset a ON a.id = e.asset_id WHERE a.name = :n",
                 n=asset_name)
    ids = Counter((json.loads(r["extra"]) if isinstance(r["extra"], str) else r["extra"])["report_id"] for r in rows)
    return len(rows), sum(n - 1 for n in ids.values())


def restarter(deployment: AirflowDeployment, sandbox: Sandbox, speed: float, enabled: bool,
              log: dict[str, float]) -> Any:
    async def restart(clock: Any, start: float) -> None:
        if not enabled:
            return
        while clock.now() < start + DAY / 2:
            await asyncio.sleep(1.0)
        began = time.monotonic()
        log["at_hours"] = (clock.now() - start) / 3600
        # A real outage of N seconds costs N seconds of the vendor's day, not N x speed.
        sandbox.clock.set_speed(1.0)
        try:
            await asyncio.to_thread(deployment.restart, "api-server", kill=True)
        finally:
            sandbox.clock.set_speed(speed)
        log["down_seconds"] = time.monotonic() - began
        log["down_simulated"] = clock.now() - start - log["at_hours"] * 3600

    return restart


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--speed", type=float, default=180.0, help="simulated seconds per real second")
    parser.add_argument("--copies", type=int, default=2, help="POSTs of each report (2: every one arrives twice)")
    parser.add_argument("--retries", type=int, default=0, help="sandbox retries of a refused push (vendor: none)")
    parser.add_argument("--retry-delay", type=float, default=5.0, help="real seconds between those retries")
    parser.add_argument("--reconcile-hours", type=float, default=6.0,
                        help="silence before a reconcile poll (the waits' default reconcile_after, 6 h)")
    parser.add_argument("--no-restart", action="store_true", help="do not kill the api-server half-way")
    parser.add_argument("--skip-ack", action="store_true", help="skip bench/receiver_ack.py's figures")
    parser.add_argument("--ack-reports", type=int, default=400)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    started = time.monotonic()
    password = secrets.token_urlsafe(24)
    with tempfile.TemporaryDirectory(prefix="bench-webhooks-") as home, \
            Sandbox(clock=Clock(speed=0.0), max_logged_requests=10_000_000) as sandbox:
        dags = Path(home) / "dags"
        dags.mkdir()
        (dags / "bench_reports_inlet.py").write_text(INLET_DAG)
        receiver = {"conn_type": "mensatek_reports", "login": USER, "password": password}
        mensatek = {"conn_type": "mensatek", "login": sandbox.mensatek_user, "password": sandbox.mensatek_token,
                    "host": sandbox.mensatek_url, "extra": {"reports": True}}
        deployment = AirflowDeployment(Path(home) / "airflow", dags, components=("api-server", "dag-processor"),
                                       env={"AIRFLOW_CONN_MENSATEK_REPORTS_DEFAULT": json.dumps(receiver)})
        # This process reads the deployment's database (the waits' state store reads, the figures).
        os.environ.update({k: v for k, v in deployment.env.items() if k.startswith("AIRFLOW")})
        os.environ["AIRFLOW_CONN_MENSATEK_BENCH"] = json.dumps(mensatek)
        with deployment:
            figures = run(args, sandbox, deployment, password)
    show(args, figures)
    print(f"(ran in {time.monotonic() - started:.0f} s of real time; load average during the day "
          f"{figures['load'][0]:.1f} -> {figures['load'][1]:.1f} on {os.cpu_count()} CPUs: every figure in "
          "seconds is real time, so it grows with the machine's load)", flush=True)
    if not args.skip_ack:
        import receiver_ack

        print()
        receiver_ack.main(["--reports", str(args.ack_reports), "--concurrency", "1", "4"])


def run(args: argparse.Namespace, sandbox: Sandbox, deployment: AirflowDeployment, password: str) -> dict[str, Any]:
    from polling import schedule_workload

    from airflow_provider_mensatek.clients import MensatekClient
    from airflow_provider_mensatek.delivery.report_assets import report_asset

    asset = report_asset("certified_email").name
    wait_for_active_asset(deployment, asset)
    sandbox.configure_reports(f"{deployment.url}/mensatek/reports", user=USER, password=password,
                              services=["EMAILCERTIFICADO"], copies=args.copies, retries=args.retries,
                              retry_delay=args.retry_delay, log_entries=1_000_000)
    client = MensatekClient(sandbox.mensatek_user, sandbox.mensatek_token, base_url=sandbox.mensatek_url)
    completions = schedule_workload(sandbox, client, args.messages, random.Random(args.seed))
    client.close()
    # What a sensor's send_at says: the minute the send asked for (schedule_workload adds seconds within it).
    send_times = {mid: sandbox.mensatek.certified[int(mid)].send_at.timestamp() // 60 * 60 for mid in completions}
    print(f"{args.messages} certified emails, certified uniformly over {DAY / 3600:.0f} simulated hours; the day "
          f"runs {DAY / args.speed / 60:.1f} real minutes; every report POSTed {args.copies}x", flush=True)
    sandbox.reports.flush(timeout=300)  # the "scheduled" report of every send, before the waits start
    sandbox.clear_requests()
    start = sandbox.clock.now().timestamp()
    restart_log: dict[str, float] = {}
    load = os.getloadavg()[0]
    with in_process_reads():
        from airflow_provider_mensatek.triggers.report_store import read_journal

        # The first read builds the in-process Execution API (tens of seconds on a loaded machine; a
        # triggerer pays it once when it starts): not part of any wait's delay.
        read_journal("certified_email")
        # The waits' log says each lost report and each silence (warnings): the figures below count them.
        logging.getLogger("airflow_provider_mensatek").setLevel(logging.ERROR)
        reads: list[float] = []
        journal_reads: list[float] = []
        timed_reads(reads, journal_reads)
        ends = run_waits(sandbox, completions, send_times, "mensatek_bench", args.speed, args.reconcile_hours * 3600,
                         restarter(deployment, sandbox, args.speed, not args.no_restart, restart_log), reads)
    sandbox.clock.set_speed(0.0)
    sandbox.reports.flush(timeout=300)
    attempts = sandbox.reports.attempts
    pushed = push_times(attempts)
    by_report = [m for m in ends.at if m in pushed and m not in ends.by_reconcile]
    delays = [(ends.at[m] - pushed[m]) / args.speed for m in by_report]
    halves = ([(ends.at[m] - pushed[m]) / args.speed for m in by_report if completions[m] < start + DAY / 2],
              [(ends.at[m] - pushed[m]) / args.speed for m in by_report if completions[m] >= start + DAY / 2])
    acknowledged, unstored, refused = losses(attempts)
    events, duplicate_events = duplicated_events(asset)
    polled = Counter(str(r.param("Idmensaje")) for r in sandbox.requests_to(REPORT))
    refused_ids = {str(a["message_id"]) for a in attempts if a["outcome"] == "lost"}
    return {"messages": args.messages, "calls": sum(polled.values()), "delays": delays, "halves": halves,
            "reads": reads + journal_reads, "startup": ends.startup_seconds,
            "lost_calls": sum(polled[m] for m in ends.by_reconcile),
            "refused_ids": len(refused_ids), "refused_calls": sum(polled[m] for m in refused_ids),
            "acknowledged": acknowledged, "unstored": unstored, "refused": refused, "events": events,
            "duplicate_events": duplicate_events, "ended": len(ends.at), "failed": len(ends.failed),
            "by_reconcile": len(ends.by_reconcile), "reconcile_delays": [
                (ends.at[m] - completions[m]) / 3600 for m in ends.by_reconcile],
            "duplicate_ends": sum(n - 1 for n in ends.count.values()), "restart": restart_log,
            "pushes": Counter(a["outcome"] for a in attempts), "load": (load, os.getloadavg()[0])}


def show(args: argparse.Namespace, f: dict[str, Any]) -> None:
    delays = f["delays"]
    print(f"\nvendor calls per message (status queries = reconcile polls after {args.reconcile_hours:g} h of "
          f"silence): {f['calls'] / f['messages']:.3f} ({f['calls']} for {f['messages']} messages: "
          f"{f['lost_calls']} on the waits a reconcile poll ended, {f['calls'] - f['lost_calls']} on waits a "
          "report ended)")
    others = f["calls"] - f["refused_calls"]
    print(f"    reconcile polls of the {f['refused_ids']} messages a push of which was refused during the restart: "
          f"{f['refused_calls'] / f['messages']:.3f} per message ({f['refused_calls']}); others: "
          f"{others / f['messages']:.3f} per message ({others})")
    if delays:
        print(f"push of the 'certified' report -> wait ended: p50 {statistics.median(delays):.1f} s, "
              f"p95 {percentile(delays, 0.95):.1f} s, max {max(delays):.1f} s (real time, {len(delays)} waits)")
    for name, half in zip(("first half of the day", "second half"), f["halves"], strict=True):
        if half:
            print(f"    {name}: p50 {statistics.median(half):.1f} s, p95 {percentile(half, 0.95):.1f} s")
    print(f"the {f['messages']} waits' first reads (before the day starts): {f['startup']:.0f} s")
    reads = [r * 1000 for r in f["reads"]]
    if reads:
        print(f"state store reads (journal ticks and wakes, one at a time per process): {len(reads)}, "
              f"p50 {statistics.median(reads):.0f} ms, p95 {percentile(reads, 0.95):.0f} ms, max {max(reads):.0f} ms")
    restart = f["restart"]
    if restart:
        print(f"api-server killed and restarted at {restart['at_hours']:.1f} simulated h: back in "
              f"{restart['down_seconds']:.1f} s (the simulated clock ran at 1x meanwhile, not {args.speed:g}x: "
              f"{restart['down_simulated']:.0f} simulated s of pushes went to a down receiver)")
    print(f"sandbox pushes: {dict(f['pushes'])}")
    print(f"reports acknowledged (200) and not stored: {f['unstored']} of {f['acknowledged']}")
    print(f"reports never acknowledged (refused while the api-server was down; no redelivery): {f['refused']}")
    reconcile = f["reconcile_delays"]
    print(f"waits ended by a reconcile poll instead of a report: {f['by_reconcile']}"
          + (f" (certification -> end: max {max(reconcile):.1f} simulated h)" if reconcile else ""))
    print(f"waits ended: {f['ended']} of {f['messages']}, failed {f['failed']}; duplicated wait ends: "
          f"{f['duplicate_ends']}; Asset events {f['events']}, duplicated: {f['duplicate_events']}")


if __name__ == "__main__":
    main()
