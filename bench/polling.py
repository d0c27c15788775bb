"""Polite polling vs a naive 60 s poller, on one simulated day against the sandbox.

1,000 Mensatek certified emails are scheduled so that they become certified
(status 14) at times spread uniformly over the next 24 hours. Then:

* **policy**: 1,000 ``MensatekCertifiedEmailTrigger`` s (one per message, as
  1,000 deferred sensors would be) run in one asyncio event loop, exactly as in
  a triggerer, with the default Mensatek ``PollPolicy`` (first check after
  5 min, doubling to hourly). Simulated time: the loop's clock only jumps
  forward when every trigger is asleep, so a day takes seconds.
* **naive**: a fixed 60 s poller (what a generic sensor does), over real HTTP
  for a random sample of the messages (a whole day of it for 1,000 messages
  is ~700,000 requests), plus its exact count for the whole workload, which
  is deterministic.

Printed: API calls per message, HTTP 429s received, detection delay (median /
p95, from certification to the wait noticing it), peak requests in a
simulated minute, and the policy / naive ratio. A script, not a test:

    .venv/bin/python bench/polling.py [--messages 1000] [--naive-sample 50] [--seed 7]
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import itertools
import json
import math
import os
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# 1,000 triggers log every check at INFO; the figures are what this script is for.
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")

from airflow_provider_mensatek.clients import MensatekClient
from airflow_provider_mensatek.clients.errors import MensatekError
from airflow_provider_mensatek.delivery import fetchers, waiting
from airflow_provider_mensatek.delivery.polling import MENSATEK_POLICY
from airflow_provider_mensatek.delivery.statuses import DeliveryStatus
from airflow_provider_mensatek.delivery.waiting import DeliveryWaiter
from airflow_provider_mensatek.sandbox import Clock, Sandbox
from airflow_provider_mensatek.sandbox.server import MADRID
from airflow_provider_mensatek.triggers import delivery

DAY = 86_400.0
NAIVE_INTERVAL = 60.0
REPORT = "GetReportEMAILCERTIFICADO"


class SimClock(waiting.WallClock):
    """Discrete-event time on the sandbox clock: sleepers wake in order, instantly."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self.sandbox.clock.now().timestamp()

    def sleep(self, seconds: float) -> None:
        raise RuntimeError("the benchmark runs triggers only")

    async def async_sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now() + max(seconds, 0.0), next(self._seq), future))
        await future

    def sleeping(self) -> int:
        return sum(1 for *_, f in self._sleepers if not f.done())

    def wake_next(self) -> None:
        wake, _, future = heapq.heappop(self._sleepers)
        if wake > self.now():
            self.sandbox.clock.advance(wake - self.now())
        future.set_result(None)
        while self._sleepers and self._sleepers[0][0] <= self.now():
            heapq.heappop(self._sleepers)[2].set_result(None)

    async def run(self, tasks: list[asyncio.Task[Any]]) -> None:
        """Advance time whenever every live task is asleep; otherwise let HTTP threads finish."""
        while True:
            alive = sum(1 for t in tasks if not t.done())
            if not alive:
                return
            if self.sleeping() == alive:
                self.wake_next()
                await asyncio.sleep(0)
            else:
                await asyncio.sleep(0.0005)


class Status429Counter:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, response: Any, *args: Any, **kwargs: Any) -> Any:
        if response.status_code == 429:
            self.count += 1
        return response


@dataclass
class Result:
    name: str
    messages: int
    calls: int
    http_429: int
    delays: list[float]
    peak_per_minute: int
    note: str = ""

    @property
    def per_message(self) -> float:
        return self.calls / self.messages


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def peak_per_minute(times: Iterable[float]) -> int:
    counts = Counter(int(t // 60) for t in times)
    return max(counts.values(), default=0)


def schedule_workload(sandbox: Sandbox, client: MensatekClient, n: int, rng: random.Random) -> dict[str, float]:
    """n certified emails whose certification (send time + 2 sandbox steps) falls uniformly in the day.

    Sent through the API, scheduled (``Fecha``); the sandbox's record of each then gets a random
    second within its minute (setup only, nothing the pollers can see).
    """
    sandbox.mensatek.credits = float(n * 2)
    start = sandbox.clock.now()
    base = start.replace(second=0, microsecond=0)
    completions: dict[str, float] = {}
    for i in range(n):
        minute = rng.randint(2, int(DAY // 60) - 3)
        send_at = (base + timedelta(minutes=minute)).astimezone(MADRID)
        result = client.send_certified_email("avisos@example.com", [f"cliente{i}@example.com"], "Aviso",
                                             "Notificación", send_at=send_at)
        (mid,) = result.message_ids
        # Fecha has minute resolution; a random second within the minute keeps completions
        # continuous, or every naive check would land at the same offset after one.
        message = sandbox.mensatek.certified[mid]
        message.send_at = send_at + timedelta(seconds=rng.uniform(0, 60))
        completions[str(mid)] = message.send_at.timestamp() + 2 * sandbox.step_seconds
    return completions


def run_policy(sandbox: Sandbox, completions: dict[str, float], conn_id: str) -> Result:
    clock = SimClock(sandbox)
    waiting.CLOCK = clock
    counter = Status429Counter()

    original = delivery.CHANNELS["mensatek.certified_email"]

    def counted_fetch(client: Any) -> Any:
        # The triggers share one client: count its answers once.
        if counter not in client.transport.session.hooks["response"]:
            client.transport.session.hooks["response"].append(counter)
        return original(client)

    delivery.CHANNELS["mensatek.certified_email"] = counted_fetch
    detected: dict[str, float] = {}

    async def wait_for(mid: str) -> None:
        state = DeliveryWaiter.start(lambda keys: iter(()), mid, target="certified", min_fraction=1,
                                     policy=MENSATEK_POLICY, now=start).state()
        trigger = delivery.MensatekCertifiedEmailTrigger(message_ids=[mid], target="certified", min_fraction=1,
                                                         state=state, conn_id=conn_id)
        async for event in trigger.run():
            if event.payload["status"] != "success":
                raise RuntimeError(event.payload)
            detected[mid] = clock.now()

    async def main() -> None:
        tasks = [asyncio.create_task(wait_for(mid)) for mid in completions]
        await clock.run(tasks)
        for task in tasks:
            task.result()

    sandbox.clear_requests()
    start = clock.now()
    try:
        asyncio.run(main())
    finally:
        delivery.CHANNELS["mensatek.certified_email"] = original
        waiting.CLOCK = waiting.WallClock()
    requests = sandbox.requests_to(REPORT)
    return Result("policy (triggers)", len(completions), len(requests), counter.count,
                  [detected[m] - completions[m] for m in completions],
                  peak_per_minute(r.at.timestamp() for r in requests))


def run_naive_sample(sandbox: Sandbox, client: MensatekClient, completions: dict[str, float], start: float,
                     sample: list[str]) -> Result:
    """A fixed 60 s poller over real HTTP: check at start, then every minute, until certified."""
    sandbox.clock.set(datetime.fromtimestamp(start, tz=MADRID))
    sandbox.clear_requests()
    counter = Status429Counter()
    client.transport.session.hooks["response"].append(counter)
    fetch = fetchers.mensatek_certified_email(client)
    pending = set(sample)
    detected: dict[str, float] = {}
    while pending:
        now = sandbox.clock.now().timestamp()
        for key, answer in list(fetch(sorted(pending))):
            if isinstance(answer, MensatekError):
                raise answer
            if answer.status.has_reached(DeliveryStatus.CERTIFIED):
                detected[key] = now
                pending.discard(key)
        sandbox.clock.advance(NAIVE_INTERVAL)
    requests = sandbox.requests_to(REPORT)
    return Result("naive 60 s (sample, HTTP)", len(sample), len(requests), counter.count,
                  [detected[m] - completions[m] for m in sample],
                  peak_per_minute(r.at.timestamp() for r in requests),
                  note=f"{len(sample)} random messages")


def naive_exact(completions: dict[str, float], start: float) -> Result:
    """The naive poller's behaviour on the whole workload (checks at start + k*60 s, deterministic)."""
    calls = 0
    delays = []
    per_minute: Counter[int] = Counter()
    for done in completions.values():
        k = max(0, math.ceil((done - start) / NAIVE_INTERVAL))
        calls += k + 1
        delays.append(start + k * NAIVE_INTERVAL - done)
        for j in range(k + 1):
            per_minute[int((start + j * NAIVE_INTERVAL) // 60)] += 1
    return Result("naive 60 s (exact, all)", len(completions), calls, 0, delays, max(per_minute.values()),
                  note="computed: same schedule, no HTTP")


def show(results: list[Result], ratio: float) -> None:
    print(f"{'poller':28} {'msgs':>5} {'calls':>8} {'calls/msg':>10} {'429s':>5} {'delay p50':>10} "
          f"{'delay p95':>10} {'peak/min':>9}")
    for r in results:
        print(f"{r.name:28} {r.messages:5d} {r.calls:8d} {r.per_message:10.1f} {r.http_429:5d} "
              f"{statistics.median(r.delays) / 60:8.1f} m {percentile(r.delays, 0.95) / 60:8.1f} m "
              f"{r.peak_per_minute:9d}  {r.note}")
    print(f"\npolicy calls per message = {ratio:.1%} of the naive poller's")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--naive-sample", type=int, default=50)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    started = time.monotonic()
    # The figures count the report calls the sandbox logged: keep them all (tens of thousands).
    with Sandbox(clock=Clock(speed=0.0), max_logged_requests=10_000_000) as sandbox:
        os.environ["AIRFLOW_CONN_MENSATEK_BENCH"] = json.dumps({
            "conn_type": "mensatek", "login": sandbox.mensatek_user, "password": sandbox.mensatek_token,
            "host": sandbox.mensatek_url})
        client = MensatekClient(sandbox.mensatek_user, sandbox.mensatek_token, base_url=sandbox.mensatek_url)
        start = sandbox.clock.now().timestamp()
        completions = schedule_workload(sandbox, client, args.messages, rng)
        print(f"{args.messages} certified emails, certified uniformly over {DAY / 3600:.0f} simulated hours; "
              f"Mensatek policy {MENSATEK_POLICY.to_dict()}\n")
        policy = run_policy(sandbox, completions, "mensatek_bench")
        sample = rng.sample(sorted(completions), min(args.naive_sample, len(completions)))
        naive = run_naive_sample(sandbox, client, completions, start, sample)
        exact = naive_exact(completions, start)
        client.close()
    show([policy, naive, exact], policy.per_message / exact.per_message)
    print(f"(ran in {time.monotonic() - started:.1f} s of real time)")


if __name__ == "__main__":
    main()
