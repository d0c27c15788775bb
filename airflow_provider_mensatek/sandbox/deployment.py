"""A real local Airflow 3 deployment on loopback, to run DAGs as users run them (for tests and demos).

``dag.test()`` runs a DAG in one process with a logical date; users trigger
from the CLI, the UI or the REST API, where Airflow 3 starts runs *without*
one, and tasks run in separate worker processes that reach the api-server
over HTTP. :class:`AirflowDeployment` starts exactly that, in a throwaway
home::

    with AirflowDeployment(home, dags_folder, env=sandbox_connections(sandbox)) as airflow:
        airflow.wait_for_dags(["mensatek_certified_email_scheduled"])
        run_id = airflow.trigger_cli("mensatek_certified_email_scheduled")
        run = airflow.wait_for_run("mensatek_certified_email_scheduled", run_id)

What it runs: ``airflow db migrate`` on SQLite in ``home`` (or in ``database_url``), then
``api-server`` (127.0.0.1, a free port, one worker by default), ``scheduler`` (with the
LocalExecutor), ``dag-processor`` and ``triggerer`` as separate processes,
each in its own process group with its output in ``home/<component>.log``.
Airflow 3.3 accepts the LocalExecutor on SQLite (only the scheduler,
dag-processor, triggerer and api-server open the database; task processes use
the Execution API), so no database server is needed.

Isolation: no ``AIRFLOW_*`` variable of the calling process is passed on
(a test session's own Airflow settings would otherwise leak in); DAGs are
unpaused at creation (a fresh deployment has nobody to unpause them); and
``TMPDIR`` points into ``home``, so whatever tasks write to
``tempfile.gettempdir()`` goes away with the home. The REST API is guarded by
Airflow's SimpleAuthManager with one admin whose random password lives only in
this object and in a 0600 file in ``home``; :meth:`api` fetches a JWT from
``POST /auth/token`` as any API client would.

Not a production setup: SQLite, one machine, a throwaway secret key.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from airflow_provider_mensatek.sandbox.dag_runner import airflow_environment

#: The long-running processes of an Airflow 3 deployment, in start order.
COMPONENTS: tuple[str, ...] = ("api-server", "scheduler", "dag-processor", "triggerer")
#: The part of ``GET /api/v2/monitor/health`` that reports on each component.
_HEALTH_KEYS = {"api-server": "metadatabase", "scheduler": "scheduler", "dag-processor": "dag_processor",
                "triggerer": "triggerer"}
FINAL_RUN_STATES = frozenset({"success", "failed"})
#: pysqlite's arguments for every Airflow process of a deployment (``[database] sql_alchemy_connect_args``
#: names this by import path). SQLite has one writer at a time; with four components and task updates
#: writing at once on a loaded machine the default 5 s wait for the lock ran out ("database is locked").
SQLITE_CONNECT_ARGS: dict[str, Any] = {"timeout": 60}
#: Seconds a REST call may take: longer than an api-server worker may wait for SQLite's write lock
#: (``SQLITE_CONNECT_ARGS``) behind the scheduler, so a call that waited for the lock is answered instead of
#: timing out on a busy machine (a timed-out POST may still create its run, and is never repeated).
API_TIMEOUT = 150.0
ADMIN_USER = "admin"


class DeploymentError(RuntimeError):
    """The deployment did not start, a component died, or a wait ran out (the message names the log)."""


@dataclass
class DagRun:
    """A DAG run as the REST API reports it, with the state of every task instance.

    ``task_states`` keys are task ids, ``task_id[i]`` for mapped instances.
    """

    dag_id: str
    run_id: str
    state: str
    logical_date: str | None
    run_after: str | None
    conf: dict[str, Any]
    task_states: dict[str, str | None] = field(default_factory=dict)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def connection_variables(connections: Mapping[str, Any]) -> dict[str, str]:
    """``{"mensatek_default": {...}}`` (a dict, JSON or URI string) -> ``{"AIRFLOW_CONN_MENSATEK_DEFAULT": ...}``."""
    return {f"AIRFLOW_CONN_{conn_id.upper()}": value if isinstance(value, str) else json.dumps(value)
            for conn_id, value in connections.items()}


class AirflowDeployment:
    """api-server, scheduler (LocalExecutor), dag-processor and triggerer on loopback, SQLite, one home.

    :param home: a new or empty folder: the AIRFLOW_HOME (database, ``airflow.cfg``, task logs under
        ``logs/``, component logs ``<component>.log``, ``tmp/`` as the processes' TMPDIR).
    :param dags_folder: the folder of DAG files (one local bundle, parsed by the dag-processor).
    :param connections: Airflow connections by id, given to every process as ``AIRFLOW_CONN_*``
        variables (a dict as in Airflow's JSON form, a JSON string or a URI).
    :param env: further environment variables for every process (e.g. ``AIRFLOW__CORE__...`` overrides);
        they win over the deployment's own settings.
    :param port: the api-server's port on 127.0.0.1 (0: a free one).
    :param parallelism: task instances run at once by the LocalExecutor (keep it low on small machines:
        every task is a fresh Python process).
    :param python: the interpreter that runs ``-m airflow`` (default: this one).
    :param components: which of :data:`COMPONENTS` to start (default all; the api-server is always needed
        by the others and by this class's REST helpers).
    :param database_url: the metadata database's SQLAlchemy URL (default: SQLite in ``home``), e.g. an
        empty PostgreSQL database (``postgresql+psycopg2://...``); ``airflow db migrate`` fills it.
    :param api_workers: api-server worker processes (``[api] workers``; one is enough for tests, several
        show what separate memories per worker do to a plugin).
    """

    def __init__(
        self,
        home: str | os.PathLike[str],
        dags_folder: str | os.PathLike[str],
        *,
        connections: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
        port: int = 0,
        parallelism: int = 4,
        python: str | None = None,
        components: Sequence[str] = COMPONENTS,
        api_workers: int = 1,
        database_url: str | None = None,
    ) -> None:
        unknown = set(components) - set(COMPONENTS)
        if unknown or "api-server" not in components:
            raise ValueError(f"components must include 'api-server' and be among {COMPONENTS}, got {components}")
        self.components = tuple(c for c in COMPONENTS if c in components)
        self.api_workers = api_workers
        self.database_url = database_url or f"sqlite:///{Path(home).resolve() / 'airflow.db'}"
        self.home = Path(home).resolve()
        self.dags_folder = Path(dags_folder).resolve()
        self.port = port or free_port()
        self.python = python or sys.executable
        self.tmp_dir = self.home / "tmp"
        self._password = secrets.token_urlsafe(24)
        self._token: str | None = None
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        self._session = requests.Session()
        self._session.trust_env = False  # loopback only: never through a proxy from the environment
        self.env = self._environment(connections or {}, env or {}, parallelism)

    def __repr__(self) -> str:  # never the admin password or the secrets in env
        return f"AirflowDeployment(home={str(self.home)!r}, url={self.url!r}, running={self.running})"

    # -- configuration ---------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> list[str]:
        return [name for name, proc in self._processes.items() if proc.poll() is None]

    def log_file(self, component: str) -> Path:
        return self.home / f"{component}.log"

    def _environment(self, connections: Mapping[str, Any], extra: Mapping[str, str],
                     parallelism: int) -> dict[str, str]:
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
            inherited.pop(proxy, None)  # task processes talk to 127.0.0.1 only
        settings = {
            **airflow_environment(self.home, {"dags-folder": self.dags_folder}),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.database_url,
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(parallelism),
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.home / "passwords.json"),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__BASE_URL": self.url,
            "AIRFLOW__API__WORKERS": str(self.api_workers),
            # Every process must sign and check task and API tokens with the same keys.
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.home / "logs"),
            "TMPDIR": str(self.tmp_dir),
        }
        if self.database_url.startswith("sqlite"):
            settings["AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS"] = f"{__name__}.SQLITE_CONNECT_ARGS"
            settings["AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS_ASYNC"] = f"{__name__}.SQLITE_CONNECT_ARGS"
        return {**inherited, **settings, **connection_variables(connections), **dict(extra)}

    # -- lifecycle -------------------------------------------------------------

    def start(self, timeout: float = 120.0) -> AirflowDeployment:
        """Migrate the database, start the components and wait until ``/api/v2/monitor/health`` reports each
        of them healthy; on any failure stop what was started and raise."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.tmp_dir.mkdir(exist_ok=True)
        passwords = self.home / "passwords.json"
        passwords.touch(mode=0o600)
        passwords.write_text(json.dumps({ADMIN_USER: self._password}))
        atexit.register(self.stop)  # processes in sessions of their own outlive us unless stopped
        try:
            self.airflow("db", "migrate", timeout=timeout)
            for component in self.components:
                self._spawn(component)
            self._wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn(self, component: str) -> None:
        args = [self.python, "-m", "airflow", component]
        if component == "api-server":
            args += ["--host", "127.0.0.1", "--port", str(self.port), "--workers", str(self.api_workers)]
        with open(self.log_file(component), "ab") as log:
            # A session (and process group) of its own: stop() signals the component with all its
            # children (executor workers, uvicorn workers) and nothing of the caller's.
            self._processes[component] = subprocess.Popen(
                args, cwd=self.home, env=self.env, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True)

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            try:
                health = self._session.get(f"{self.url}/api/v2/monitor/health", timeout=5).json()
                if all((health.get(_HEALTH_KEYS[part]) or {}).get("status") == "healthy"
                       for part in self.components):
                    return
            except (requests.RequestException, ValueError):
                health = None
            if time.monotonic() > deadline:
                raise DeploymentError(f"Airflow did not become healthy within {timeout:.0f} s "
                                      f"(last health {health}); logs in {self.home}")
            time.sleep(0.5)

    def restart(self, component: str, *, kill: bool = False, timeout: float = 120.0) -> None:
        """Stop one component (SIGTERM, or SIGKILL with ``kill``: a crash) and start it again with ``self.env``."""
        proc = self._processes.pop(component)
        _signal_group(proc, signal.SIGKILL if kill else signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
            proc.wait(timeout=5)
        _signal_group(proc, signal.SIGKILL)  # its group's leftovers (uvicorn workers)
        self._spawn(component)
        self._wait_healthy(timeout)

    def check_alive(self) -> None:
        """Raise (with the end of its log) if a component has exited."""
        for name, proc in self._processes.items():
            if proc.poll() is not None:
                raise DeploymentError(f"airflow {name} exited with {proc.returncode}:\n{self.tail(name)}")

    def tail(self, component: str, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_file(component).read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM every component's process group, SIGKILL what is left after ``grace`` seconds.

        Task processes put themselves in process groups of their own, so every descendant of a component
        is noted first (pid and start time, so a reused pid is never hit) and killed if it outlives the
        component.
        """
        family = {pid: started for proc in self._processes.values() for pid, started in _descendants(proc.pid).items()}
        for proc in self._processes.values():
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in self._processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            _signal_group(proc, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        for pid, started in family.items():
            if _start_time(pid) == started:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while any(_start_time(pid) == started for pid, started in family.items()) and time.monotonic() < deadline:
            time.sleep(0.05)  # SIGKILL is delivered asynchronously: return once they are gone
        self._processes.clear()
        self._session.close()
        atexit.unregister(self.stop)

    def __enter__(self) -> AirflowDeployment:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the CLI -----------------------------------------------------------------

    def airflow(self, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        """Run ``airflow <args>`` against this deployment; raise with its output if it fails."""
        proc = subprocess.run([self.python, "-m", "airflow", *args], cwd=self.home, env=self.env,
                              capture_output=True, text=True, timeout=timeout, check=False)
        if proc.returncode != 0:
            raise DeploymentError(f"airflow {' '.join(args)} exited with {proc.returncode}:\n"
                                  f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return proc

    def trigger_cli(self, dag_id: str, conf: Mapping[str, Any] | None = None) -> str:
        """``airflow dags trigger <dag_id> [--conf ...]`` as a user types it (no logical date); the run id."""
        args = ["dags", "trigger", dag_id, "--output", "json"]
        if conf is not None:
            args += ["--conf", json.dumps(dict(conf))]
        out = self.airflow(*args).stdout
        # Log lines come first on stdout; the run is the last line, a one-item JSON list.
        last = next((line for line in reversed(out.splitlines()) if line.startswith("[")), "")
        try:
            (created,) = json.loads(last)
        except ValueError as exc:
            raise DeploymentError(f"Cannot read the run created by 'airflow dags trigger': {out[-2000:]}") from exc
        return str(created["dag_run_id"])

    # -- the REST API ------------------------------------------------------------

    def token(self) -> str:
        """A JWT for the REST API from ``POST /auth/token`` (SimpleAuthManager), cached."""
        if self._token is None:
            answer = self._session.post(f"{self.url}/auth/token", timeout=API_TIMEOUT,
                                        json={"username": ADMIN_USER, "password": self._password})
            if answer.status_code != 201:
                raise DeploymentError(f"POST /auth/token answered {answer.status_code}")
            self._token = str(answer.json()["access_token"])
        return self._token

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        """An authenticated REST call (``path`` under ``/api/v2``); the decoded JSON answer."""
        headers = {**kwargs.pop("headers", {}), "Authorization": f"Bearer {self.token()}"}
        answer = self._session.request(method, f"{self.url}/api/v2/{path.lstrip('/')}", timeout=API_TIMEOUT,
                                       headers=headers, **kwargs)
        if answer.status_code >= 400:
            raise DeploymentError(f"{method} /api/v2/{path.lstrip('/')} answered {answer.status_code}: "
                                  f"{answer.text[:2000]}")
        return answer.json() if answer.content else None

    def trigger_api(self, dag_id: str, conf: Mapping[str, Any] | None = None,
                    logical_date: str | None = None) -> str:
        """``POST /api/v2/dags/{dag_id}/dagRuns`` (what the UI does); no logical date by default. The run id."""
        body = {"logical_date": logical_date, "conf": dict(conf or {})}
        return str(self.api("POST", f"dags/{quote(dag_id, safe='')}/dagRuns", json=body)["dag_run_id"])

    def wait_for_dags(self, dag_ids: Iterable[str], timeout: float = 120.0) -> None:
        """Wait until the dag-processor has parsed every DAG; fail at once on an import error."""
        wanted = set(dag_ids)
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            errors = self.api("GET", "importErrors")["import_errors"]
            if errors:
                raise DeploymentError("DAG import errors:\n" + "\n".join(
                    f"{e['filename']}: {e['stack_trace'][-1500:]}" for e in errors))
            seen = {d["dag_id"] for d in self.api("GET", "dags", params={"limit": 1000})["dags"]}
            if wanted <= seen:
                return
            if time.monotonic() > deadline:
                raise DeploymentError(f"DAGs not parsed within {timeout:.0f} s: {sorted(wanted - seen)}; "
                                      f"see {self.log_file('dag-processor')}")
            time.sleep(1.0)

    def dag_run(self, dag_id: str, run_id: str) -> DagRun:
        """The run and its task instances' states, from the REST API."""
        base = f"dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}"
        run = self.api("GET", base)
        instances = self.api("GET", f"{base}/taskInstances", params={"limit": 1000})["task_instances"]
        states = {(ti["task_id"] if ti["map_index"] < 0 else f"{ti['task_id']}[{ti['map_index']}]"): ti["state"]
                  for ti in instances}
        return DagRun(dag_id=dag_id, run_id=run_id, state=run["state"], logical_date=run.get("logical_date"),
                      run_after=run.get("run_after"), conf=run.get("conf") or {}, task_states=states)

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 180.0) -> DagRun:
        """Poll the run (every second) until it is ``success`` or ``failed``."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            run = self.dag_run(dag_id, run_id)
            if run.state in FINAL_RUN_STATES:
                return run
            if time.monotonic() > deadline:
                raise DeploymentError(f"{dag_id} run {run_id} still {run.state} after {timeout:.0f} s: "
                                      f"{run.task_states}")
            time.sleep(1.0)

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value", map_index: int = -1) -> Any:
        """A task's XCom value, deserialized."""
        path = (f"dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}/taskInstances/"
                f"{quote(task_id, safe='')}/xcomEntries/{quote(key, safe='')}")
        return self.api("GET", path, params={"map_index": map_index, "deserialize": "true"})["value"]

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1, map_index: int = -1) -> str:
        """A task try's log as text (for diagnosing a failed run)."""
        path = (f"dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}/taskInstances/"
                f"{quote(task_id, safe='')}/logs/{try_number}")
        answer = self.api("GET", path, params={"map_index": map_index, "full_content": "true"},
                          headers={"Accept": "application/json"})
        content = answer.get("content") if isinstance(answer, Mapping) else answer
        if isinstance(content, Sequence) and not isinstance(content, str):
            return "\n".join(_log_line(line) for line in content)
        return str(content)

    def explain(self, run: DagRun, lines: int = 30) -> str:
        """The end of the log of every task of ``run`` that did not succeed, for an assertion message."""
        parts = [f"{run.dag_id} {run.run_id}: {run.state} {run.task_states}"]
        for key, state in run.task_states.items():
            if state in ("success", "skipped"):
                continue
            task_id, _, index = key.partition("[")
            try:
                log = self.task_log(run.dag_id, run.run_id, task_id,
                                    map_index=int(index.rstrip("]")) if index else -1)
            except DeploymentError as exc:
                log = str(exc)
            parts.append(f"--- {key} ({state})\n" + "\n".join(log.splitlines()[-lines:]))
        return "\n".join(parts)


def _log_line(line: Any) -> str:
    """One structured task-log record as text, with the exception it carries (type and message)."""
    if not isinstance(line, Mapping):
        return str(line)
    text = str(line.get("event", line))
    for error in line.get("error_detail") or []:
        text += f"\n    {error.get('exc_type')}: {error.get('exc_value')}"
    return text


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def _start_time(pid: int) -> int | None:
    """A process's start time in clock ticks (Linux /proc), None once it is gone (or a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # the name in parentheses may hold spaces
    return None if fields[0] == "Z" else int(fields[19])  # state, start time (fields 3 and 22)


def _descendants(root: int) -> dict[int, int]:
    """Every process below ``root`` (Linux /proc; elsewhere none), with its start time."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            ppid = int(Path(entry, "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found: dict[int, int] = {}
    pending = list(children.get(root, []))
    while pending:
        pid = pending.pop()
        started = _start_time(pid)
        if started is not None and pid not in found:
            found[pid] = started
            pending.extend(children.get(pid, []))
    return found
