"""Campaign throughput and memory: 100,000 certified-email recipients to the sandbox.

    .venv/bin/python bench/campaign.py [--recipients 100000] [--batch-size 1000] [--repeat 5]

The sandbox runs in a child process. The recipients are a CSV file
(``name;email;poliza``). The contenders, each run in a fresh process, alternating:

* **raw**: ``csv.DictReader`` over the file, batches of ``--batch-size``
  recipients, one ``requests.Session`` posting each batch to
  ``EnviarEMAILCERTIFICADO`` with the body the client sends, ``json.loads`` of
  the answer. No validation, no files, no ledger: the floor.
* **provider**: what the campaign operators do, end to end: the CSV read as a
  stream from an ``ObjectStoragePath`` (``file://``), every row validated and
  de-duplicated, batch files written, then every batch sent through the
  ledger (an ``in_flight`` and an ``accepted`` record each) with one
  ``MensatekClient``: one request at a time (the default), or 2 / 3 at a
  time (``provider x2`` / ``x3``).

Each prints recipients per second of the send phase, the CPU time the
contender's process spent per batch in it (all its threads), the provider's
rate as a ratio of the raw loop's, best run against best run and median
against median (goal: >= 0.9x), and the provider's peak RSS growth over its baseline
after imports (VmHWM reset through /proc/self/clear_refs; goal: <= 100 MB).
A benchmark prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SUBJECT = "Renovación de su póliza, {{Nombre}}"
MESSAGE = "A la atención de {{Nombre}}: su póliza {{Variable_1}} se renueva."
SENDER = "notificaciones@example.com"


def write_csv(path: Path, count: int) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(["name", "email", "poliza"])
        for i in range(count):
            writer.writerow([f"Cliente {i}", f"cliente{i}@example.com", f"P-{i:07d}"])


def serve() -> None:
    """Child process: the sandbox with credits for any campaign size.

    Each stdin line ``<latency ms> <sends>`` starts a new run: the sandbox forgets the
    previous run's messages and recorded requests, and every send answer then
    waits that long (a sleep in the server thread, as a remote vendor's
    processing and network time would be: it costs no CPU here).
    """
    from airflow_provider_mensatek.sandbox import Clock, Fault, Sandbox

    sandbox = Sandbox(clock=Clock(speed=0.0)).start()
    print(json.dumps({"mensatek_url": sandbox.mensatek_url}), flush=True)
    for line in sys.stdin:
        sandbox.reset()
        sandbox.mensatek.credits = 1e12
        latency_ms, sends = line.split()
        if float(latency_ms) > 0:
            sandbox.inject("EnviarEMAILCERTIFICADO", Fault("delay", delay=float(latency_ms) / 1000), times=int(sends))
    sandbox.stop()


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _reset_hwm() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def measure_raw(url: str, source: str, batch_size: int) -> dict[str, Any]:
    import requests

    from airflow_provider_mensatek.sandbox import DEFAULT_MENSATEK_TOKEN, DEFAULT_MENSATEK_USER

    session = requests.Session()
    session.auth = (DEFAULT_MENSATEK_USER, DEFAULT_MENSATEK_TOKEN)
    with open(source, newline="") as handle:
        recipients = [{"Nombre": row["name"], "Email": row["email"], "Variable_1": row["poliza"]}
                      for row in csv.DictReader(handle, delimiter=";")]
    batches = [recipients[i:i + batch_size] for i in range(0, len(recipients), batch_size)]
    baseline, hwm = _status_kib("VmRSS"), _reset_hwm()
    started, cpu = time.perf_counter(), time.process_time()
    sent = 0
    for number, batch in enumerate(batches, start=1):
        body = {"Remitente": SENDER, "Destinatarios": json.dumps(batch, ensure_ascii=False), "Asunto": SUBJECT,
                "Mensaje": MESSAGE, "Referenciausuario": f"raw-{number:05d}", "Resp": "JSON"}
        response = session.post(f"{url}/EnviarEMAILCERTIFICADO", json=body, timeout=(5, 120))
        response.raise_for_status()
        sent += int(json.loads(response.text)[0]["Enviados"])
    return {"send_seconds": time.perf_counter() - started, "send_cpu_seconds": time.process_time() - cpu,
            "batches": len(batches), "sent": sent, "rss_baseline_kib": baseline,
            "rss_peak_kib": _status_kib("VmHWM") if hwm else None}


def measure_provider(url: str, source: str, batch_size: int, campaign: str, max_parallel: int) -> dict[str, Any]:
    from airflow.sdk import ObjectStoragePath

    from airflow_provider_mensatek.campaigns.input import open_recipients, rows_from_stream
    from airflow_provider_mensatek.campaigns.plan import plan_campaign
    from airflow_provider_mensatek.campaigns.send import BatchSender
    from airflow_provider_mensatek.clients import MensatekClient
    from airflow_provider_mensatek.sandbox import DEFAULT_MENSATEK_TOKEN, DEFAULT_MENSATEK_USER

    client = MensatekClient(DEFAULT_MENSATEK_USER, DEFAULT_MENSATEK_TOKEN, base_url=url)
    folder = ObjectStoragePath(f"file://{campaign}")
    # Load the storage layer (Airflow attaches its lineage collector on the first write) before measuring,
    # as a worker has by the time a send task runs.
    warm = ObjectStoragePath(f"file://{campaign}-warmup")
    warm.write_text("warm")
    warm.unlink()
    baseline, hwm = _status_kib("VmRSS"), _reset_hwm()
    started = time.perf_counter()
    # As the plan operator reads it: a local file only inside an allowed root.
    with open_recipients(ObjectStoragePath(f"file://{source}"), allowed_roots=[os.path.dirname(source)]) as stream:
        plan = plan_campaign(rows_from_stream(stream, "csv"), folder, channel="certified_email",
                             campaign_reference="bench", columns={"variables": {"Variable_1": "poliza"}},
                             batch_size=batch_size)
    planned, cpu = time.perf_counter(), time.process_time()
    sender = BatchSender(folder, client, "certified_email",
                         {"sender": SENDER, "subject": SUBJECT, "message": MESSAGE})
    outcomes = sender.send_all(plan["batches"], max_parallel=max_parallel)
    return {"send_seconds": time.perf_counter() - planned, "send_cpu_seconds": time.process_time() - cpu,
            "batches": len(plan["batches"]), "plan_seconds": planned - started,
            "sent": sum(o["sent"] for o in outcomes), "rss_baseline_kib": baseline,
            "rss_peak_kib": _status_kib("VmHWM") if hwm else None}


CONTENDERS = {"raw": ("raw", 1), "provider": ("provider", 1), "provider x2": ("provider", 2),
              "provider x3": ("provider", 3)}


def run(recipients: int, batch_size: int, repeat: int, latencies: list[float], names: list[str]) -> None:
    python = sys.executable
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        env.pop(var, None)
    with tempfile.TemporaryDirectory(prefix="bench-campaign-") as work:
        source = Path(work) / "recipients.csv"
        write_csv(source, recipients)
        server = subprocess.Popen([python, __file__, "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True, env=env)
        all_results: dict[float, dict[str, list[dict[str, Any]]]] = {}
        try:
            assert server.stdout is not None and server.stdin is not None
            url = json.loads(server.stdout.readline())["mensatek_url"]
            for latency in latencies:
                results = all_results[latency] = {name: [] for name in names}
                for attempt in range(repeat):
                    for name in names:
                        kind, parallel = CONTENDERS[name]
                        server.stdin.write(f"{latency} {-(-recipients // batch_size)}\n")
                        server.stdin.flush()
                        campaign = str(Path(work) / f"campaign-{latency}-{attempt}-{name.replace(' ', '-')}")
                        out = subprocess.run([python, __file__, "--measure", kind, url, str(source),
                                              str(batch_size), campaign, str(parallel)], capture_output=True,
                                             text=True, env=env, check=True, timeout=600)
                        results[name].append(json.loads(out.stdout.strip().splitlines()[-1]))
        finally:
            if server.stdin:
                server.stdin.close()
            server.wait(timeout=30)
    for latency, results in all_results.items():
        report(recipients, batch_size, latency, results)


def report(recipients: int, batch_size: int, latency: float, results: dict[str, list[dict[str, Any]]]) -> None:
    print(f"\n{recipients:,} certified-email recipients, batches of {batch_size:,}, sandbox over loopback HTTP, "
          f"{latency:g} ms vendor latency per send")
    print(f"{'run':<12} {'sent':>8} {'send s':>7} {'rcpt/s':>8} {'cpu/batch':>9} {'plan s':>7} {'plan rows/s':>11} "
          f"{'RSS base':>9} {'RSS peak':>9} {'growth':>8}")
    best: dict[str, float] = {}
    rates: dict[str, list[float]] = {}
    for name, runs in results.items():
        for r in runs:
            rate = r["sent"] / r["send_seconds"]
            best[name] = max(best.get(name, 0.0), rate)
            rates.setdefault(name, []).append(rate)
            peak = r["rss_peak_kib"]
            growth = f"{(peak - r['rss_baseline_kib']) / 1024:7.1f}M" if peak else "     n/a"
            plan = (f"{r['plan_seconds']:7.2f} {recipients / r['plan_seconds']:11.0f}" if "plan_seconds" in r
                    else f"{'-':>7} {'-':>11}")
            cpu = f"{r['send_cpu_seconds'] / max(1, r['batches']) * 1000:7.1f}ms"
            print(f"{name:<12} {r['sent']:>8,} {r['send_seconds']:7.2f} {rate:8.0f} {cpu} {plan} "
                  f"{r['rss_baseline_kib'] / 1024:8.1f}M {(peak or 0) / 1024:8.1f}M {growth}")
    for name in results:
        if name != "raw" and "raw" in best:
            print(f"{name} / raw send throughput: best of each {best[name] / best['raw']:.2f}x, median of each "
                  f"{statistics.median(rates[name]) / statistics.median(rates['raw']):.2f}x  (goal: >= 0.9x)")
    growths = [(r["rss_peak_kib"] - r["rss_baseline_kib"]) / 1024
               for name, runs in results.items() if name != "raw" for r in runs if r["rss_peak_kib"]]
    if growths:
        print(f"provider peak RSS growth, plan + send: {max(growths):.1f} MB  (goal: <= 100 MB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5,
                        help="runs of each contender, alternating (a shared machine is noisy: best and median)")
    parser.add_argument("--latency-ms", type=float, nargs="+", default=[0, 50],
                        help="simulated vendor time per send answer; one round per value")
    parser.add_argument("--contenders", nargs="+", choices=list(CONTENDERS), default=list(CONTENDERS),
                        help="which runs to measure (default: all; the ratios need raw)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--measure", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve()
    elif args.measure:
        kind, url, source, size, campaign, parallel = args.measure
        if kind == "raw":
            result = measure_raw(url, source, int(size))
        else:
            result = measure_provider(url, source, int(size), campaign, int(parallel))
        print(json.dumps(result), flush=True)
    else:
        run(args.recipients, args.batch_size, args.repeat, args.latency_ms, args.contenders)


if __name__ == "__main__":
    main()
