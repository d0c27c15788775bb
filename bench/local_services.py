"""What the tests' local services cost: start and stop of the PostgreSQL cluster and the local S3.

    .venv/bin/python bench/local_services.py

Runs each service 3 times in this process (as the session fixtures do) and prints the
median and worst start and stop times, then the time of one ``airflow db migrate`` into a
fresh database of the cluster (a subprocess with a throwaway AIRFLOW_HOME). A benchmark
prints figures; it asserts nothing.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.local_services.postgres import PostgresCluster
from tests.local_services.s3 import LocalS3

RUNS = 3


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def report(name: str, starts: list[float], stops: list[float]) -> None:
    print(f"{name:<22} start median {statistics.median(starts):5.2f} s (worst {max(starts):5.2f} s), "
          f"stop median {statistics.median(stops):5.2f} s")


def main() -> None:
    starts, stops = [], []
    for _ in range(RUNS):
        cluster = PostgresCluster()
        starts.append(timed(cluster.start))
        stops.append(timed(cluster.stop))
    report(f"PostgreSQL {cluster.version} cluster", starts, stops)

    starts, stops = [], []
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(RUNS):
            s3 = LocalS3(Path(folder) / "moto.log")
            starts.append(timed(s3.start))
            stops.append(timed(s3.stop))
    report("local S3 (moto server)", starts, stops)

    cluster = PostgresCluster().start()
    try:
        with tempfile.TemporaryDirectory() as home:
            env = {**os.environ, "AIRFLOW_HOME": home,
                   "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": cluster.create_database("bench")}
            seconds = timed(lambda: subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"],
                                                   env=env, check=True, capture_output=True))
        print(f"airflow db migrate into a fresh PostgreSQL database: {seconds:.1f} s")
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
