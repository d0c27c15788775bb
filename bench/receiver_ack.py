"""How fast the report receiver acknowledges: a real ``airflow api-server`` (one worker), SQLite and PostgreSQL.

For each database, a throwaway deployment (``airflow db migrate``, then the
api-server alone, with the receiver's connection) receives ``--reports`` distinct
SMS reports (two per message: "pending" then "delivered", so half of them advance a
message state), POSTed ``--concurrency`` at a time over keep-alive connections, as
the vendor panel would. Printed: acknowledgements per second, and the latency from
sending a report to its 200 (p50, p95, p99, max) — each 200 only after the report is
committed. Nothing is asserted: a script, not a test.

    .venv/bin/python bench/receiver_ack.py [--reports 400] [--concurrency 1 4] [--postgres-url URL]

PostgreSQL runs in a throwaway cluster (the tests' ``tests/local_services``), or in
the empty database ``--postgres-url`` names (``postgresql+psycopg2://...``). The
helpers (:func:`sms_reports`, :func:`acknowledge`, :func:`summary`, :func:`receiver`)
are importable by other benchmarks from this folder.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from airflow_provider_mensatek.sandbox.deployment import AirflowDeployment

USER = "bench-panel"
PASSWORD = "bench-password-not-secret"


@dataclass(frozen=True)
class AckStats:
    reports: int
    concurrency: int
    seconds: float
    latencies: tuple[float, ...]
    statuses: dict[int, int]

    @property
    def rate(self) -> float:
        return self.reports / self.seconds if self.seconds else float("nan")


def sms_reports(count: int, *, prefix: str = "7") -> Iterator[dict[str, str]]:
    """``count`` distinct SMS reports, two per message (2 then 11), in the documents' shape."""
    for number in range(count):
        message, second = divmod(number, 2)
        yield {"Servicio": "SMSMASIVO", "Resultado": "11" if second else "2", "Remitente": "BENCH",
               "Movil": "34611111111", "Fecha": f"2024-03-01 10:0{second}:00", "Segundos": "3",
               "idMensaje": f"{prefix}{message:09d}", "Referencia": "bench.ack.run", "idReport": str(number)}


def acknowledge(url: str, reports: Sequence[dict[str, str]], *, user: str = USER, password: str = PASSWORD,
                concurrency: int = 1) -> AckStats:
    """POST every report (``concurrency`` threads, one keep-alive session each); latency of each answer."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    queue = iter(reports)

    def worker() -> None:
        with requests.Session() as session:
            session.trust_env = False
            session.auth = (user, password)
            while True:
                with lock:
                    report = next(queue, None)
                if report is None:
                    return
                started = time.perf_counter()
                answer = session.post(url, data=json.dumps(report), timeout=120,
                                      headers={"Content-Type": "application/json"})
                took = time.perf_counter() - started
                with lock:
                    latencies.append(took)
                    statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return AckStats(reports=len(reports), concurrency=concurrency, seconds=time.perf_counter() - began,
                    latencies=tuple(latencies), statuses=statuses)


def summary(stats: AckStats) -> str:
    ms = sorted(value * 1000 for value in stats.latencies)
    cut = statistics.quantiles(ms, n=100, method="inclusive") if len(ms) > 1 else ms * 99
    return (f"{stats.reports} reports, concurrency {stats.concurrency}: {stats.rate:.1f} acknowledged/s; "
            f"latency ms p50 {cut[49]:.1f}, p95 {cut[94]:.1f}, p99 {cut[98]:.1f}, max {ms[-1]:.1f}; "
            f"HTTP {dict(sorted(stats.statuses.items()))}")


@contextlib.contextmanager
def receiver(database_url: str | None = None, api_workers: int = 1) -> Iterator[str]:
    """A throwaway deployment (api-server alone) with the receiver; yields its ``/mensatek/reports`` URL."""
    connection = json.dumps({"conn_type": "mensatek_reports", "login": USER, "password": PASSWORD})
    with tempfile.TemporaryDirectory(prefix="bench-receiver-") as home:
        (Path(home) / "dags").mkdir()
        deployment = AirflowDeployment(home, Path(home) / "dags", components=("api-server",),
                                       database_url=database_url, api_workers=api_workers,
                                       env={"AIRFLOW_CONN_MENSATEK_REPORTS_DEFAULT": connection})
        with deployment:
            url = f"{deployment.url}/mensatek/reports"
            acknowledge(url, list(sms_reports(20, prefix="6")))  # the first requests import the receiver's code
            yield url


def run(label: str, database_url: str | None, reports: int, concurrencies: Sequence[int]) -> None:
    with receiver(database_url) as url:
        for index, concurrency in enumerate(concurrencies):
            batch = list(sms_reports(reports, prefix=str(index + 1)))
            print(f"{label}: {summary(acknowledge(url, batch, concurrency=concurrency))}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=400)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--postgres-url", help="an empty PostgreSQL database for the PostgreSQL run")
    args = parser.parse_args(argv)
    print("Receiver acknowledgement on one api-server worker (each 200 after the report's commit)")
    run("SQLite", None, args.reports, args.concurrency)
    if args.postgres_url:
        run("PostgreSQL", args.postgres_url, args.reports, args.concurrency)
        return 0
    from tests.local_services.postgres import PostgresCluster, PostgresUnavailable

    try:
        cluster = PostgresCluster().start()
    except PostgresUnavailable as missing:
        print(f"PostgreSQL: skipped ({missing})")
        return 0
    try:
        run(f"PostgreSQL {cluster.version}", cluster.url, args.reports, args.concurrency)
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
