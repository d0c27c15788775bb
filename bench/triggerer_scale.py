"""One triggerer holding 10,000 waits: memory, event-loop lag, late checks and 429s.

10,000 deferred waits (by default 9,000 Mensatek certified emails and 1,000 LegallyMail
certified emails, signature requests and certified SMS) run as the provider's triggers in
one asyncio event loop, exactly as a triggerer runs them: their HTTP goes through the
provider's thread pool to the sandbox, which runs in a child process (as a remote vendor
would: its work does not compete with the loop for this process's GIL). Every message
completes at a random time of the simulated period.

Time is the sandbox's clock, injected into the provider (``waiting.CLOCK``, the
LegallyMail limiter) and shared with the child: it runs at real speed while anything is
working (a trigger's check, HTTP in the pool, the loop itself), and jumps to the next
wake-up when every wait is asleep. So real delays (a busy loop, a full pool) make checks
late, while idle hours pass in a moment.

Printed:

* RSS growth per 1,000 waits, measured as the waits are started, 1,000 at a time;
* event-loop lag p50 / p99: a probe task sleeping 50 ms and measuring how much later it
  woke (real time);
* checks made late: more than 1 s after their scheduled time. A check's scheduled time is
  when its message was due, or, for LegallyMail, the slot the shared limiter gave it if
  that is later (its 10 requests a minute are the vendor's limit, not a delay);
* 429s received, and the LegallyMail checks the limiter held (how many, for how long).

Goals: 0 late checks, loop lag p99 <= 100 ms, 0 429s. A script, not a test:

    .venv/bin/python bench/triggerer_scale.py [--mensatek 9000] [--legallymail 1000] [--hours 6]
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import itertools
import json
import math
import mmap
import os
import random
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# 10,000 triggers log every check at INFO; the figures are what this script is for.
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")

LATE = 1.0
PROBE_INTERVAL = 0.05
LEGALLYMAIL_CHANNELS = ("legallymail.email", "legallymail.signature", "legallymail.sms")


# -- the clock both processes read ------------------------------------------------------------------


class SharedOffset:
    """Seconds added to the wall clock, in an 8-byte file both processes map (the child only reads)."""

    def __init__(self, path: str) -> None:
        self._file = open(path, "r+b")
        self._map = mmap.mmap(self._file.fileno(), 8)

    def get(self) -> float:
        return float(struct.unpack_from("d", self._map, 0)[0])

    def add(self, seconds: float) -> None:
        struct.pack_into("d", self._map, 0, self.get() + seconds)


def serve(offset_path: str, mensatek: int, legallymail: int, hours: float, seed: int) -> None:
    """Child process: the sandbox on the shared clock, with the workload; ids on stdout, then serve."""
    from airflow_provider_mensatek.clients import MensatekClient
    from airflow_provider_mensatek.clients._http.rate_limit import RateLimiter
    from airflow_provider_mensatek.clients.legallymail.client import LegallyMailClient
    from airflow_provider_mensatek.sandbox import Clock, Sandbox
    from airflow_provider_mensatek.sandbox.pdf import make_pdf
    from airflow_provider_mensatek.sandbox.server import MADRID

    offset = SharedOffset(offset_path)

    class SharedClock(Clock):
        def now(self) -> datetime:
            return datetime.fromtimestamp(time.time() + offset.get(), tz=MADRID)

    rng = random.Random(seed)
    sandbox = Sandbox(clock=SharedClock(), max_logged_requests=1000).start()
    start = sandbox.clock.now()
    period = hours * 3600

    def spread() -> datetime:
        return start + timedelta(seconds=rng.uniform(60, period))

    sandbox.mensatek.credits = float(mensatek * 2)
    m_client = MensatekClient(sandbox.mensatek_user, sandbox.mensatek_token, base_url=sandbox.mensatek_url)
    mensatek_ids: list[int] = []
    for first in range(0, mensatek, 1000):
        batch = [f"cliente{i}@example.com" for i in range(first, min(first + 1000, mensatek))]
        mensatek_ids += m_client.send_certified_email("avisos@example.com", batch, "Aviso", "Texto").message_ids
    for mid in mensatek_ids:  # certified two steps after this time
        sandbox.mensatek.certified[mid].send_at = spread()
    app = sandbox.app("/legallymail/api")
    app.requests_per_minute = None  # setup only: the waits meet the vendor's limit
    app.remaining_emails = app.sms_credits = legallymail
    l_client = LegallyMailClient(sandbox.legallymail_token, base_url=sandbox.legallymail_url,
                                 rate_limiter=RateLimiter(1e9))
    legallymail_ids: dict[str, list[str]] = {c: [] for c in LEGALLYMAIL_CHANNELS}
    pdf = make_pdf(["Contrato"])
    for i in range(legallymail):
        channel = LEGALLYMAIL_CHANNELS[i % 3]
        if channel == "legallymail.email":
            tid = l_client.send_certified_email([f"l{i}@example.com"], "Aviso", "<p>Texto</p>").tracking_id
            app.emails[tid].created = spread()
        elif channel == "legallymail.signature":
            tid = l_client.request_signature(pdf, [{"name": "F", "email": f"f{i}@example.com"}],
                                             document_name="c.pdf").uuid
            app.signatures[tid].created = spread()
        else:
            tid = l_client.send_certified_sms(f"+346{i:08d}", "Codigo 1234").uuid
            app.sms[tid].created = spread()
        legallymail_ids[channel].append(str(tid))
    app.requests_per_minute = 10
    sandbox.clear_requests()
    print(json.dumps({"mensatek_url": sandbox.mensatek_url, "legallymail_url": sandbox.legallymail_url,
                      "mensatek_user": sandbox.mensatek_user, "mensatek_token": sandbox.mensatek_token,
                      "legallymail_token": sandbox.legallymail_token, "start": start.timestamp(),
                      "mensatek": [str(m) for m in mensatek_ids], "legallymail": legallymail_ids}), flush=True)
    sys.stdin.read()  # until the parent is done
    sandbox.stop()


# -- the parent: triggers in one event loop ---------------------------------------------------------


@dataclass
class Figures:
    lateness: list[float] = field(default_factory=list)
    checks: dict[str, int] = field(default_factory=dict)
    held: list[float] = field(default_factory=list)
    status_429: int = 0
    requests: int = 0
    lags: list[float] = field(default_factory=list)
    startup_lags: list[float] = field(default_factory=list)
    starting: bool = True
    rss_kib: list[int] = field(default_factory=list)


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise KeyError("VmRSS")


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))] if ordered else 0.0


def make_clock(offset: SharedOffset) -> Any:
    from airflow_provider_mensatek.delivery import waiting

    class FastForwardClock(waiting.WallClock):
        """Real time plus the jumps; sleepers wake in time order; a jump only when every wait is asleep."""

        def __init__(self) -> None:
            self.offset = offset
            self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
            self._seq = itertools.count()
            self.alive = 0
            self.asleep = 0
            self.frozen = True  # no jumps while the waits are being started
            self._kick: asyncio.Future[None] | None = None

        def now(self) -> float:
            return time.time() + self.offset.get()

        def sleep(self, seconds: float) -> None:
            raise RuntimeError("nothing in a trigger may sleep in a thread")

        async def async_sleep(self, seconds: float) -> None:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            heapq.heappush(self._sleepers, (self.now() + max(seconds, 0.0), next(self._seq), future))
            self.asleep += 1
            if self.idle():
                self.kick()
            try:
                await future
            finally:
                if not future.done() or future.cancelled():
                    self.asleep -= 1

        def watch(self, task: asyncio.Task[Any]) -> None:
            self.alive += 1

            def done(_: Any) -> None:
                self.alive -= 1
                self.kick()

            task.add_done_callback(done)

        def kick(self) -> None:
            if self._kick is not None and not self._kick.done():
                self._kick.set_result(None)

        def idle(self) -> bool:
            return self.asleep >= self.alive

        def _wake_due(self) -> None:
            now = self.now()
            while self._sleepers and self._sleepers[0][0] <= now:
                future = heapq.heappop(self._sleepers)[2]
                if not future.done():
                    self.asleep -= 1
                    future.set_result(None)

        async def drive(self, until: float) -> None:
            loop = asyncio.get_running_loop()
            while self.alive and self.now() < until:
                self._wake_due()
                if not self.frozen and self.idle() and self._sleepers:
                    self.offset.add(max(0.0, min(self._sleepers[0][0], until) - self.now()))
                    continue
                self._kick = loop.create_future()
                delay = self._sleepers[0][0] - self.now() if self._sleepers else 0.05
                handle = loop.call_later(min(max(delay, 0.0), 0.05), self.kick)
                await self._kick
                handle.cancel()

    return FastForwardClock()


def instrument(clock: Any, figures: Figures) -> None:
    """Count what the checks did: lateness per message checked, requests, 429s, limiter holds."""
    from airflow_provider_mensatek.clients._http import loop_waits
    from airflow_provider_mensatek.delivery.waiting import DeliveryWaiter
    from airflow_provider_mensatek.triggers import delivery

    granted_at: dict[int, float] = {}
    original_grant = loop_waits.LoopJob.grant

    def grant(self: Any, owner: object) -> None:
        granted_at[id(self)] = clock.now()
        original_grant(self, owner)

    loop_waits.LoopJob.grant = grant  # type: ignore[method-assign]
    original_poll = DeliveryWaiter.poll

    def poll(self: DeliveryWaiter, now: float) -> Any:
        job = loop_waits.current_job()
        slot = granted_at.get(id(job), 0.0)
        dues = [max(self.schedule.messages[k].next_at, self.schedule.not_before) for k in self.schedule.due(now)]
        vendor = "mensatek" if self.schedule.messages and next(iter(self.schedule.messages)).isdigit() else \
            "legallymail"
        outcome = original_poll(self, now)  # a round handed back to the loop (LoopWait) is counted when it runs
        for due in dues:
            if slot > due:
                figures.held.append(slot - due)
            figures.lateness.append(now - max(due, slot))
        figures.checks[vendor] = figures.checks.get(vendor, 0) + len(dues)
        return outcome

    DeliveryWaiter.poll = poll  # type: ignore[method-assign]

    def count(response: Any, *args: Any, **kwargs: Any) -> Any:
        figures.requests += 1
        if response.status_code == 429:
            figures.status_429 += 1
        return response

    for name, factory in list(delivery.CHANNELS.items()):
        def counted(client: Any, factory: Any = factory) -> Any:
            hooks = client.transport.session.hooks["response"]
            if count not in hooks:
                hooks.append(count)
            return factory(client)

        delivery.CHANNELS[name] = counted


def run(setup: dict[str, Any], offset: SharedOffset, hours: float, figures: Figures) -> dict[str, Any]:
    from airflow_provider_mensatek.clients._http import rate_limit
    from airflow_provider_mensatek.clients._http.transport import credential_key, resolve_base_url
    from airflow_provider_mensatek.delivery import waiting
    from airflow_provider_mensatek.delivery.polling import LEGALLYMAIL_POLICY, MENSATEK_POLICY
    from airflow_provider_mensatek.delivery.waiting import DeliveryWaiter
    from airflow_provider_mensatek.triggers import delivery, thread_pool

    os.environ["AIRFLOW_CONN_MENSATEK_BENCH"] = json.dumps({
        "conn_type": "mensatek", "login": setup["mensatek_user"], "password": setup["mensatek_token"],
        "host": setup["mensatek_url"]})
    os.environ["AIRFLOW_CONN_LEGALLYMAIL_BENCH"] = json.dumps({
        "conn_type": "legallymail", "password": setup["legallymail_token"], "host": setup["legallymail_url"]})
    clock = make_clock(offset)
    waiting.CLOCK = clock
    url = setup["legallymail_url"]
    key = credential_key("legallymail", resolve_base_url(url, default=url), setup["legallymail_token"])
    # The process-wide limiter of the token, as limiter_for builds it, on the shared clock.
    rate_limit._LIMITERS[key] = rate_limit.RateLimiter(10, window=rate_limit.SHARED_WINDOW, clock=clock.now,
                                                       sleep=clock.sleep, async_sleep=clock.async_sleep)
    instrument(clock, figures)
    start = setup["start"]
    waits: list[tuple[type[Any], str, Any, str]] = [
        (delivery.MensatekCertifiedEmailTrigger, m, MENSATEK_POLICY, "mensatek_bench") for m in setup["mensatek"]]
    classes = {"legallymail.email": delivery.LegallyMailEmailTrigger,
               "legallymail.signature": delivery.LegallyMailSignatureTrigger,
               "legallymail.sms": delivery.LegallyMailSmsTrigger}
    for channel, ids in setup["legallymail"].items():
        waits += [(classes[channel], i, LEGALLYMAIL_POLICY, "legallymail_bench") for i in ids]
    random.Random(1).shuffle(waits)
    targets = {"mensatek.certified_email": "certified", "legallymail.signature": "signed"}

    async def wait(cls: type[Any], key: str, policy: Any, conn_id: str) -> None:
        target = targets.get(cls.channel, "delivered")
        state = DeliveryWaiter.start(lambda keys: iter(()), key, target=target, min_fraction=1, policy=policy,
                                     now=start).state()
        trigger = cls(message_ids=[key], target=target, min_fraction=1, state=state, conn_id=conn_id)
        async for event in trigger.run():
            if event.payload["status"] != "success":
                raise RuntimeError(event.payload)
            return

    async def probe(stop: asyncio.Event) -> None:
        while not stop.is_set():
            before = time.perf_counter()
            await asyncio.sleep(PROBE_INTERVAL)
            lag = time.perf_counter() - before - PROBE_INTERVAL
            (figures.startup_lags if figures.starting else figures.lags).append(lag)

    async def main() -> dict[str, Any]:
        stop = asyncio.Event()
        prober = asyncio.create_task(probe(stop))
        tasks: list[asyncio.Task[None]] = []
        figures.rss_kib.append(rss_kib())
        for first in range(0, len(waits), 1000):
            for spec in waits[first:first + 1000]:
                task = asyncio.create_task(wait(*spec))
                clock.watch(task)
                tasks.append(task)
            while not clock.idle():  # every wait started, checked its kwargs and went to sleep
                await asyncio.sleep(0.01)
            figures.rss_kib.append(rss_kib())
        started_in = clock.now() - start
        figures.starting = False
        clock.frozen = False
        real = time.monotonic()
        await clock.drive(start + hours * 3600)
        real = time.monotonic() - real
        stop.set()
        await prober
        finished = sum(1 for t in tasks if t.done())
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        errors = [t.exception() for t in tasks if t.done() and not t.cancelled() and t.exception()]
        return {"finished": finished, "errors": errors[:3], "error_count": len(errors), "real": real,
                "started_in": started_in, "threads": thread_pool.configured_threads()}

    result = asyncio.run(main())
    thread_pool.shutdown_pool()
    return result


def show(args: argparse.Namespace, figures: Figures, result: dict[str, Any], setup_seconds: float) -> None:
    total = args.mensatek + args.legallymail
    growth = [(b - a) / 1024 for a, b in itertools.pairwise(figures.rss_kib)]
    late = [x for x in figures.lateness if x > LATE]
    lags_ms = [x * 1000 for x in figures.lags]
    print(f"{total:,} waits in one event loop ({args.mensatek:,} Mensatek certified emails, {args.legallymail:,} "
          f"LegallyMail emails / signatures / SMS), {args.hours:g} simulated hours, "
          f"{result['threads']} pool threads")
    print(f"  setup {setup_seconds:.0f} s; waits started in {result['started_in']:.1f} s; "
          f"simulated in {result['real']:.0f} s of real time; {result['finished']:,} waits ended (target reached)")
    print(f"  RSS: {figures.rss_kib[0] / 1024:.0f} MiB before, {figures.rss_kib[-1] / 1024:.0f} MiB with every "
          f"wait started; per 1,000 waits: {', '.join(f'{g:.1f}' for g in growth)} MiB "
          f"(mean {statistics.mean(growth):.1f})")
    print(f"  event-loop lag, all waits running: p50 {percentile(lags_ms, 0.5):.1f} ms, "
          f"p99 {percentile(lags_ms, 0.99):.1f} ms, "
          f"max {max(lags_ms, default=0):.1f} ms ({len(lags_ms):,} probes)   goal p99 <= 100 ms")
    startup_ms = [x * 1000 for x in figures.startup_lags]
    print(f"    while the waits were being started ({total:,} tasks created 1,000 at a time by this script): "
          f"p50 {percentile(startup_ms, 0.5):.1f} ms, p99 {percentile(startup_ms, 0.99):.1f} ms, "
          f"max {max(startup_ms, default=0):.1f} ms")
    print(f"  checks: {len(figures.lateness):,} ({', '.join(f'{k} {v:,}' for k, v in sorted(figures.checks.items()))}),"
          f" {figures.requests:,} requests")
    print(f"  late (> {LATE:g} s after scheduled): {len(late)}   goal 0;  lateness p50 "
          f"{percentile(figures.lateness, 0.5) * 1000:.0f} ms, p99 {percentile(figures.lateness, 0.99) * 1000:.0f} ms, "
          f"max {max(figures.lateness, default=0) * 1000:.0f} ms")
    print(f"  429s: {figures.status_429}   goal 0")
    if figures.held:
        print(f"  LegallyMail checks held by the 10/min limit: {len(figures.held):,} (awaited in the loop; hold p50 "
              f"{statistics.median(figures.held) / 60:.0f} min, max {max(figures.held) / 60:.0f} min)")
    print(f"  (load average of this machine at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())} on "
          f"{os.cpu_count()} cores)")
    if result["error_count"]:
        print(f"  WAITS THAT FAILED: {result['error_count']}, e.g. {result['errors']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mensatek", type=int, default=9000)
    parser.add_argument("--legallymail", type=int, default=1000)
    parser.add_argument("--hours", type=float, default=6.0, help="simulated hours (messages complete within them)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--serve", nargs=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], args.mensatek, args.legallymail, args.hours, args.seed)
        return
    with tempfile.NamedTemporaryFile(prefix="bench-triggerer-clock-") as handle:
        handle.write(struct.pack("d", 0.0))
        handle.flush()
        offset = SharedOffset(handle.name)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
            env.pop(var, None)
        began = time.monotonic()
        child = subprocess.Popen(
            [sys.executable, __file__, "--serve", handle.name, "--mensatek", str(args.mensatek), "--legallymail",
             str(args.legallymail), "--hours", str(args.hours), "--seed", str(args.seed)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        try:
            assert child.stdout is not None
            setup = json.loads(child.stdout.readline())
            setup_seconds = time.monotonic() - began
            figures = Figures()
            result = run(setup, offset, args.hours, figures)
        finally:
            if child.stdin:
                child.stdin.close()
            child.wait(timeout=60)
    show(args, figures, result, setup_seconds)


if __name__ == "__main__":
    main()
