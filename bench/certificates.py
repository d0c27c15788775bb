"""Peak memory of archiving a 1 MB and a 100 MB Mensatek certificate ZIP.

    .venv/bin/python bench/certificates.py [--sizes 1 100]

The sandbox runs in a child process and serves a crafted certificate ZIP
(one big PDF entry of random, incompressible bytes, plus the CSV) over real
HTTP for a given message id. Each archive run happens in a fresh process that
imports everything first, then measures only the download -> checks ->
atomic write into a ``file://`` lake: the Python heap peak (tracemalloc) and
the resident-set peak (VmHWM, reset through /proc/self/clear_refs just before
the run). Prints both per size and the 100 MB / 1 MB ratios (goal: <= 1.2x).
A benchmark prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

MIB = 1024 * 1024
ROOT = Path(__file__).resolve().parent.parent


def build_zip(path: Path, megabytes: int) -> None:
    """A certificate-shaped ZIP: one large PDF-looking entry and the ;-separated CSV, streamed to disk."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        with archive.open("certificado_1.pdf", "w", force_zip64=True) as entry:
            entry.write(b"%PDF-1.4\n")
            for _ in range(megabytes):
                entry.write(os.urandom(MIB))
        archive.writestr("resultado_1.csv", "idMensaje;Destinatario;Estado\n1;ana@example.com;14\n")


def serve(zips: dict[str, str]) -> None:
    """Child process: the sandbox, answering the certificate download of each id with its ZIP."""
    from airflow_provider_mensatek.sandbox import Clock, Sandbox
    from airflow_provider_mensatek.sandbox.server import SandboxResponse

    sandbox = Sandbox(clock=Clock(speed=0.0)).start()
    sandbox.mensatek.stores["certificate_responses"] = {
        mid: SandboxResponse(200, Path(path).read_bytes(), "application/zip") for mid, path in zips.items()
    }
    print(json.dumps({"mensatek_url": sandbox.mensatek_url}), flush=True)
    sys.stdin.read()  # until the parent closes our stdin
    sandbox.stop()


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def measure(url: str, message_id: int, lake: str) -> None:
    """Child process: archive one certificate set and print its memory figures as JSON."""
    import tracemalloc

    from airflow_provider_mensatek.certificates.mensatek import archive_mensatek_certified_email
    from airflow_provider_mensatek.clients import MensatekClient
    from airflow_provider_mensatek.object_storage import to_storage_path
    from airflow_provider_mensatek.sandbox import DEFAULT_MENSATEK_TOKEN, DEFAULT_MENSATEK_USER

    client = MensatekClient(DEFAULT_MENSATEK_USER, DEFAULT_MENSATEK_TOKEN, base_url=url)
    destination = to_storage_path(lake)
    destination.fs  # noqa: B018  (attach the filesystem before measuring)
    baseline_kib = _status_kib("VmRSS")
    try:
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
        hwm_reset = True
    except OSError:
        hwm_reset = False
    tracemalloc.start()
    started = time.perf_counter()
    outcome = archive_mensatek_certified_email(client, message_id, destination)
    elapsed = time.perf_counter() - started
    _, heap_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    archived = sum(f["size"] for f in outcome.manifest["files"])
    print(json.dumps({
        "status": outcome.status, "archived_bytes": archived, "seconds": elapsed,
        "heap_peak": heap_peak, "rss_baseline_kib": baseline_kib,
        "rss_peak_kib": _status_kib("VmHWM") if hwm_reset else None,
    }), flush=True)


def run(sizes: list[int]) -> None:
    python = sys.executable
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        env.pop(var, None)
    with tempfile.TemporaryDirectory(prefix="bench-certificates-") as work:
        zips = {}
        for size in sizes:
            path = Path(work) / f"certificates_{size}mb.zip"
            build_zip(path, size)
            zips[str(1000 + size)] = str(path)
        server = subprocess.Popen([python, __file__, "--serve", json.dumps(zips)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True, env=env)
        try:
            assert server.stdout is not None
            url = json.loads(server.stdout.readline())["mensatek_url"]
            results = {}
            for size in sizes:
                lake = Path(work) / f"lake_{size}"
                out = subprocess.run([python, __file__, "--measure", url, str(1000 + size), str(lake)],
                                     capture_output=True, text=True, env=env, check=True, timeout=600)
                results[size] = json.loads(out.stdout.strip().splitlines()[-1])
                results[size]["zip_bytes"] = Path(zips[str(1000 + size)]).stat().st_size
        finally:
            if server.stdin:
                server.stdin.close()
            server.wait(timeout=30)
    report(results)


def report(results: dict[int, dict]) -> None:
    print(f"{'ZIP':>9} {'archived':>10} {'time s':>7} {'heap peak':>10} {'RSS base':>9} {'RSS peak':>9} "
          f"{'RSS growth':>10}")
    for r in results.values():
        peak = r["rss_peak_kib"]
        growth = f"{(peak - r['rss_baseline_kib']) / 1024:9.1f}M" if peak is not None else "       n/a"
        peak_text = f"{peak / 1024:8.1f}M" if peak is not None else "      n/a"
        print(f"{r['zip_bytes'] / MIB:8.1f}M {r['archived_bytes'] / MIB:9.1f}M {r['seconds']:7.2f} "
              f"{r['heap_peak'] / MIB:9.2f}M {r['rss_baseline_kib'] / 1024:8.1f}M {peak_text} {growth}")
    sizes = sorted(results)
    if len(sizes) >= 2:
        small, big = results[sizes[0]], results[sizes[-1]]
        print(f"ratio {sizes[-1]} MB / {sizes[0]} MB: heap peak {big['heap_peak'] / small['heap_peak']:.2f}x", end="")
        if small["rss_peak_kib"] and big["rss_peak_kib"]:
            print(f", RSS peak {big['rss_peak_kib'] / small['rss_peak_kib']:.2f}x", end="")
        print("  (goal: <= 1.2x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 100], help="ZIP sizes in MB")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--measure", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(json.loads(args.serve))
    elif args.measure:
        url, mid, lake = args.measure
        measure(url, int(mid), lake)
    else:
        run(args.sizes)


if __name__ == "__main__":
    main()
