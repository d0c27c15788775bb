"""What DAG parsing pays for the provider: import time over ``import airflow.sdk``, in fresh processes.

The dag-processor re-imports every DAG file every 30 s (``[dag_processor]
min_file_process_interval``), so every millisecond a DAG's imports cost is paid
again and again. Each measurement is a new Python process that times
``import airflow.sdk`` and then, on top of it, the modules of one line below:

* every public operator, sensor and notifier module of this provider together;
* the official HTTP provider's ``HttpOperator`` module, for comparison (the
  ``dev`` extra installs ``apache-airflow-providers-http``);
* each of our modules alone.

Lines alternate (run 1 of every line, then run 2, ...) so a load change on the
machine touches them all alike; the figure is the median of the runs, with
min, max and the spread (max - min). Every line is also given as a ratio of
the ``import airflow.sdk`` median of the same run of this script.

Each process reports the CPU time of its imports (``time.process_time``) and
the wall time (``time.perf_counter``). On an idle machine they agree within a
few percent; on a shared one the wall time measures the neighbours as much as
the imports (a busy 2-core machine showed wall times ten times the CPU time),
so the figures and the goal are read on CPU time and the wall median is shown
beside it.

Bytecode: one unmeasured warm-up process per line runs first with bytecode
writing allowed, so no line pays for compiling sources (an installed wheel
ships compiled; ``PYTHONDONTWRITEBYTECODE`` would otherwise make our modules
recompile on every import while Airflow's are already compiled).

    .venv/bin/python bench/import_cost.py [--runs 7] [--no-each]
    .venv/bin/python bench/import_cost.py --importtime   # what the provider's modules import, by cost

Goal (issue 15): every operator, sensor and notifier module together adds at
most 50 ms over ``import airflow.sdk``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "airflow_provider_mensatek"
GOAL_MS = 50.0

#: Every module a DAG file imports operators, sensors or notifiers from.
PUBLIC_MODULES = (
    f"{PACKAGE}.operators.certified_email",
    f"{PACKAGE}.operators.sms",
    f"{PACKAGE}.operators.email",
    f"{PACKAGE}.operators.rcs",
    f"{PACKAGE}.operators.files",
    f"{PACKAGE}.operators.legallymail",
    f"{PACKAGE}.operators.certificates",
    f"{PACKAGE}.operators.campaigns",
    f"{PACKAGE}.sensors.delivery",
    f"{PACKAGE}.notifications.mensatek",
)
HTTP_OPERATOR = "airflow.providers.http.operators.http"

#: Run in each fresh process: time airflow.sdk, then the modules given in argv on top of it (CPU and wall).
PROBE = """
import importlib, json, sys, time
cpu0, wall0 = time.process_time(), time.perf_counter()
import airflow.sdk
cpu1, wall1 = time.process_time(), time.perf_counter()
for name in sys.argv[1:]:
    importlib.import_module(name)
cpu2, wall2 = time.process_time(), time.perf_counter()
print(json.dumps({"sdk": cpu1 - cpu0, "extra": cpu2 - cpu1, "sdk_wall": wall1 - wall0, "extra_wall": wall2 - wall1}))
"""


def environment(source: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(source), env.get("PYTHONPATH", "")) if p)
    # Airflow reads its config at import: a throwaway home keeps a developer's airflow.cfg out of the figure.
    env.setdefault("AIRFLOW_HOME", str(Path(tempfile.gettempdir()) / "import-cost-airflow-home"))
    return env


def run(args: list[str], env: dict[str, str], check: bool = False) -> subprocess.CompletedProcess[str]:
    # Not from this checkout's folder: `python -c` puts the working directory first on sys.path.
    return subprocess.run([sys.executable, *args], env=env, cwd=tempfile.gettempdir(), capture_output=True,
                          text=True, timeout=300, check=check)


def probe(modules: tuple[str, ...], env: dict[str, str]) -> dict[str, float]:
    done = run(["-c", PROBE, *modules], env)
    if done.returncode != 0:
        raise SystemExit(f"importing {modules or 'airflow.sdk'} failed:\n{done.stderr[-2000:]}")
    return {k: v * 1000 for k, v in json.loads(done.stdout.splitlines()[-1]).items()}


def http_provider_installed(env: dict[str, str]) -> bool:
    check = "import importlib.util, sys; sys.exit(importlib.util.find_spec('airflow.providers.http') is None)"
    return run(["-c", check], env).returncode == 0


def figures(values: list[float], wall: list[float], base: float) -> str:
    median = statistics.median(values)
    return (f"{min(values):7.1f} / {median:7.1f} / {max(values):7.1f}  spread {max(values) - min(values):6.1f}"
            f"  {median / base:6.3f}x  | wall {statistics.median(wall):8.1f} (spread {max(wall) - min(wall):.0f})")


def importtime(env: dict[str, str], top: int) -> None:
    """``python -X importtime`` of airflow.sdk + our modules: what ours add, heaviest first."""
    probe(PUBLIC_MODULES, env)  # warm-up: bytecode written
    code = "import airflow.sdk\n" + "".join(f"import {m}\n" for m in PUBLIC_MODULES)
    done = run(["-X", "importtime", "-c", code], env, check=True)
    lines = [line for line in done.stderr.splitlines() if line.startswith("import time:")]
    sdk_end = max(i for i, line in enumerate(lines) if line.rstrip().endswith("| airflow.sdk"))
    rows = []
    for line in lines[sdk_end + 1:]:
        own, cumulative, name = (part.strip() for part in line[len("import time:"):].split("|"))
        if own.isdigit():
            rows.append((int(own), int(cumulative), name))
    outside = sorted({name.split(".")[0] for _, _, name in rows} - {PACKAGE})
    print(f"Modules first imported by ours, after airflow.sdk: {len(rows)} "
          f"({sum(own for own, _, _ in rows) / 1000:.1f} ms of own time in this one run)")
    print(f"  outside the provider (top-level packages): {', '.join(outside) or 'none'}")
    print(f"  heaviest {top} by own time (us own | us with what they import | module):")
    for own, cumulative, name in sorted(rows, reverse=True)[:top]:
        print(f"    {own:8d} | {cumulative:8d} | {name}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="fresh processes per line (default 7, at least 7)")
    parser.add_argument("--no-each", action="store_true", help="skip the per-module lines")
    parser.add_argument("--source", type=Path, default=REPO,
                        help="folder holding the airflow_provider_mensatek package to measure (default: this checkout)")
    parser.add_argument("--importtime", action="store_true", help="print python -X importtime's view instead")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    env = environment(args.source.resolve())
    if args.importtime:
        importtime(env, args.top)
        return 0
    runs = max(args.runs, 7)

    lines: dict[str, tuple[str, ...]] = {"airflow.sdk": ()}
    lines["every operator, sensor, notifier module"] = PUBLIC_MODULES
    has_http = http_provider_installed(env)
    if has_http:
        lines["HttpOperator (official http provider)"] = (HTTP_OPERATOR,)
    if not args.no_each:
        for module in PUBLIC_MODULES:
            lines[module.removeprefix(PACKAGE + ".")] = (module,)

    for modules in lines.values():  # warm-up: bytecode written, files in the page cache
        probe(modules, env)
    sdk: list[float] = []
    sdk_wall: list[float] = []
    extra: dict[str, list[float]] = {name: [] for name in lines}
    extra_wall: dict[str, list[float]] = {name: [] for name in lines}
    for _ in range(runs):
        for name, modules in lines.items():
            result = probe(modules, env)
            extra[name].append(result["extra"])
            extra_wall[name].append(result["extra_wall"])
            if not modules:
                sdk.append(result["sdk"])
                sdk_wall.append(result["sdk_wall"])
    base = statistics.median(sdk)

    def row(name: str) -> str:
        return f"  {name:<42} {figures(extra[name], extra_wall[name], base)}"

    print(f"Import cost over `import airflow.sdk`, {runs} fresh processes per line, alternating "
          f"(Python {sys.version.split()[0]}, {args.source.resolve()}).")
    print("CPU milliseconds: min / median / max, spread = max - min, ratio = median / airflow.sdk's median;"
          " then the wall-time median (and spread).\n")
    print(f"  {'import airflow.sdk (the baseline)':<42} {figures(sdk, sdk_wall, base)}")
    print("Added on top of it:")
    ours = statistics.median(extra["every operator, sensor, notifier module"])
    print(row("every operator, sensor, notifier module"))
    if has_http:
        print(row("HttpOperator (official http provider)"))
        theirs = statistics.median(extra["HttpOperator (official http provider)"])
        print(f"  ours / HttpOperator: {ours / theirs:.2f}")
    else:
        print("  (HttpOperator: apache-airflow-providers-http is not installed; `pip install -e '.[dev]'`)")
    print(f"  goal: at most {GOAL_MS:.0f} ms -> {'met' if ours <= GOAL_MS else 'NOT met'} ({ours:.1f} ms of CPU)")
    if not args.no_each:
        print("Each module alone, on top of airflow.sdk:")
        for module in PUBLIC_MODULES:
            print(row(module.removeprefix(PACKAGE + ".")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
