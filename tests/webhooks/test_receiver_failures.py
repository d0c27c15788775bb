"""The receiver when things go wrong: no connection, a rotation, a locked or unmigrated database, a crash.

An api-server of its own (these tests lock, drop and kill things), its connection
in the metastore (added and changed through the REST API, as the UI does), its
SQLite wait for a lock cut to 3 s.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from airflow_provider_mensatek.clients import MensatekClient
from airflow_provider_mensatek.sandbox import Sandbox
from airflow_provider_mensatek.webhooks.app import RETRY_AFTER_SECONDS
from airflow_provider_mensatek.webhooks.auth import SETTINGS_TTL
from tests.conftest import REPO
from tests.local_services.fixtures import new_postgres_cluster
from tests.webhooks.conftest import BACKENDS, Receiver, start_receiver
from tests.webhooks.support import (
    CONN_ID,
    PASSWORD,
    PREVIOUS_PASSWORD,
    USER,
    basic,
    connection_json,
    dedupe_key_of,
    post,
    wait_until,
)
from tests.webhooks.test_receiver_http import unique_sms

pytestmark = pytest.mark.deployment


@pytest.fixture(scope="module", params=BACKENDS)
def bare(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Receiver]:
    """The api-server alone; on PostgreSQL, with a cluster of its own (a test stops its server)."""
    # All-admins mode: Airflow's middleware appends "Authorization: Bearer <admin JWT>" to every request.
    env = {"AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True"}
    if request.param == "sqlite":
        env.update({"PYTHONPATH": str(REPO),
                    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS": "tests.webhooks.support.SQLITE_SHORT_WAIT"})
    cluster = new_postgres_cluster().start() if request.param == "postgresql" else None
    try:
        started = start_receiver(tmp_path_factory.mktemp(f"receiver-bare-{request.param}"),
                                 cluster.url if cluster is not None else None, components=("api-server",), env=env)
        started.cluster = cluster  # type: ignore[attr-defined]
        yield started
        started.deployment.stop()
        started.inbox.close()
    finally:
        if cluster is not None:
            cluster.stop()


def set_connection(receiver: Receiver, conn_json: str | None) -> None:
    """Replace the receiver's connection through the REST API (what the UI does), or delete it."""
    deployment = receiver.deployment
    existing = deployment.api("GET", "connections", params={"limit": 1000})["connections"]
    if any(c["connection_id"] == CONN_ID for c in existing):
        deployment.api("DELETE", f"connections/{CONN_ID}")
    if conn_json is not None:
        value = json.loads(conn_json)
        deployment.api("POST", "connections", json={
            "connection_id": CONN_ID, "conn_type": value["conn_type"], "login": value["login"],
            "password": value["password"], "extra": json.dumps(value["extra"])})


def status_becomes(receiver: Receiver, expected: int, **kwargs: object) -> requests.Response:
    """POST until the answer is ``expected``: a changed connection is read within SETTINGS_TTL."""
    def attempt() -> tuple[requests.Response] | None:  # a tuple: a 4xx Response is falsy
        answer = post(receiver.url, unique_sms(), **kwargs)  # type: ignore[arg-type]
        return (answer,) if answer.status_code == expected else None
    return wait_until(attempt, timeout=SETTINGS_TTL + 30, interval=1, what=f"HTTP {expected}")[0]


def test_without_its_connection_the_receiver_answers_503_then_reads_it_once_added(bare: Receiver) -> None:
    set_connection(bare, None)
    answer = post(bare.url, unique_sms())
    assert answer.status_code == 503 and answer.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert requests.get(bare.url, headers={"Authorization": basic()}, timeout=30).status_code == 503
    assert bare.inbox.reports() == []
    set_connection(bare, connection_json())
    status_becomes(bare, 200)
    assert "the connection 'mensatek_reports_default' does not exist" in bare.deployment.tail("api-server", 400)


def test_airflows_appended_bearer_header_lets_nobody_in(bare: Receiver) -> None:
    set_connection(bare, connection_json())
    status_becomes(bare, 200)
    # The REST API lets anyone in as admin here; the receiver does not.
    assert requests.get(f"{bare.deployment.url}/api/v2/dags", timeout=30).status_code == 200
    for authorization in (None, basic(password="wrong"), "Bearer " + bare.deployment.token()):
        headers = {"Content-Type": "application/json", **({"Authorization": authorization} if authorization else {})}
        payload = unique_sms()
        answer = requests.post(bare.url, data=json.dumps(payload), headers=headers, timeout=60)
        assert answer.status_code == 401
        assert bare.inbox.reports("message_id = :m", m=payload["idMensaje"]) == []
        assert requests.get(bare.url, headers=headers, timeout=30).status_code == 401
    assert post(bare.url, unique_sms()).status_code == 200


def test_a_password_rotation_takes_effect_within_the_settings_ttl(bare: Receiver) -> None:
    set_connection(bare, connection_json())
    status_becomes(bare, 200)
    new = PASSWORD + "-rotated"
    set_connection(bare, connection_json(password=new, previous=PASSWORD))
    status_becomes(bare, 200, authorization=basic(password=new))
    assert post(bare.url, unique_sms()).status_code == 200  # the old one, now previous_password
    assert post(bare.url, unique_sms(), authorization=basic(password=PREVIOUS_PASSWORD)).status_code == 401
    # The panel's URL check without credentials, when the connection allows it: GET and HEAD only.
    set_connection(bare, connection_json(anonymous_url_check=True))
    status_becomes(bare, 401, authorization=basic(password=new))
    assert requests.get(bare.url, timeout=30).status_code == 200
    assert requests.head(bare.url, timeout=30).status_code == 200
    assert requests.post(bare.url, json=unique_sms(), timeout=30).status_code == 401
    set_connection(bare, connection_json())
    wait_until(lambda: requests.get(bare.url, timeout=30).status_code == 401, timeout=SETTINGS_TTL + 30,
               what="the anonymous URL check to end")


@contextlib.contextmanager
def database_locked(receiver: Receiver) -> Iterator[None]:
    """Another process holds the lock the receiver's insert needs (SQLite: the database; PostgreSQL: the table)."""
    if receiver.backend == "sqlite":
        code = ("import sqlite3, sys\n"
                f"db = sqlite3.connect({str(receiver.deployment.home / 'airflow.db')!r}, isolation_level=None)\n"
                "db.execute('BEGIN EXCLUSIVE')\n")
    else:
        code = ("import sys, psycopg2\n"
                f"db = psycopg2.connect({receiver.inbox.engine.url.render_as_string(hide_password=False)!r}"
                ".replace('postgresql+psycopg2', 'postgresql'))\n"
                "db.cursor().execute('LOCK TABLE mensatek_report IN ACCESS EXCLUSIVE MODE')\n")
    locker = subprocess.Popen([sys.executable, "-c", code + "print('locked', flush=True)\nsys.stdin.read()\n"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert locker.stdout is not None and locker.stdout.readline().strip() == "locked"
        yield
    finally:
        assert locker.stdin is not None
        locker.stdin.close()
        locker.wait(timeout=30)


@contextlib.contextmanager
def server_stopped(receiver: Receiver) -> Iterator[None]:
    """The PostgreSQL server down (a fast shutdown), then up again on the same port."""
    cluster = receiver.cluster  # type: ignore[attr-defined]
    pg_ctl = [str(cluster.bindir / "pg_ctl"), "-D", str(cluster.data)]
    cluster._run(*pg_ctl, "-m", "fast", "-w", "stop")
    try:
        yield
    finally:
        cluster._run(*pg_ctl, "-l", str(cluster.log), "-w", "-o",
                     f"-p {cluster.port} -c listen_addresses={cluster.host} -k {cluster.socket_dir}", "start")


def refused_then_taken(receiver: Receiver, outage: contextlib.AbstractContextManager[None], reason: str) -> None:
    payload = unique_sms()
    with outage:
        answer = post(receiver.url, payload)
        assert answer.status_code == 503 and answer.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
        assert answer.content == b""
    assert receiver.inbox.reports("message_id = :m", m=payload["idMensaje"]) == []
    assert post(receiver.url, payload).status_code == 200  # what the vendor's retry would find
    assert len(receiver.inbox.reports("message_id = :m", m=payload["idMensaje"])) == 1
    log = receiver.deployment.tail("api-server", 600)
    assert "answering 503" in log and f"({reason}" in log
    assert "INSERT" not in log and payload["idMensaje"] not in log  # no statement, no value


def test_a_locked_database_is_a_503_with_retry_after_and_the_report_is_taken_once_free(bare: Receiver) -> None:
    set_connection(bare, connection_json())
    status_becomes(bare, 200)
    reason = ("OperationalError: database is locked" if bare.backend == "sqlite"
              else "OperationalError: canceling statement due to lock timeout")
    refused_then_taken(bare, database_locked(bare), reason)


@pytest.mark.parametrize("bare", ["postgresql"], indirect=True)  # SQLite has no server to stop
def test_a_stopped_database_server_is_a_503_and_the_report_is_taken_once_it_is_back(bare: Receiver) -> None:
    set_connection(bare, connection_json())
    status_becomes(bare, 200)
    refused_then_taken(bare, server_stopped(bare), "OperationalError: connection to server at")


def test_missing_tables_are_a_503_until_airflow_db_migrate_creates_them(bare: Receiver) -> None:
    set_connection(bare, connection_json())
    status_becomes(bare, 200)
    with bare.inbox.engine.begin() as conn:
        for table in ("mensatek_message_state", "mensatek_channel_seq", "mensatek_report", "mensatek_alembic_version"):
            conn.exec_driver_sql(f"DROP TABLE {table}")
    assert post(bare.url, unique_sms()).status_code == 503
    assert "its tables do not exist; run `airflow db migrate`" in bare.deployment.tail("api-server", 400)
    bare.deployment.airflow("db", "migrate")
    assert bare.inbox.query("SELECT version_num FROM mensatek_alembic_version") == [{"version_num": "mk0001"}]
    payload = unique_sms()
    assert post(bare.url, payload).status_code == 200
    assert len(bare.inbox.reports("message_id = :m", m=payload["idMensaje"])) == 1


def test_a_killed_api_server_loses_nothing_it_acknowledged(bare: Receiver, sandbox: Sandbox,
                                                            mensatek_client: MensatekClient) -> None:
    set_connection(bare, connection_json())
    status_becomes(bare, 200)
    sandbox.configure_reports(bare.url, user=USER, password=PASSWORD, retries=10, retry_delay=1.0, timeout=30)
    stop = threading.Event()

    def keep_sending() -> None:
        number = 0
        while not stop.is_set():
            mensatek_client.send_sms("MIEMPRESA", f"3461{number:07d}", "Hola")
            sandbox.clock.advance(60)  # the previous ones are delivered: one more report each
            number += 1
            time.sleep(0.05)

    sender = threading.Thread(target=keep_sending)
    sender.start()
    try:
        wait_until(lambda: len(sandbox.reports.attempts) >= 40, timeout=120, what="pushes under way")
        bare.deployment.restart("api-server", kill=True)  # SIGKILL mid-stream, then start again
        acknowledged_before = sum(1 for a in sandbox.reports.attempts if a["http_status"] == 200)
        wait_until(lambda: sum(1 for a in sandbox.reports.attempts if a["http_status"] == 200)
                   > acknowledged_before + 40, timeout=120, what="pushes after the restart")
    finally:
        stop.set()
        sender.join()
    sandbox.reports.flush(timeout=300)
    attempts = sandbox.reports.attempts
    acknowledged = {dedupe_key_of(a["payload"]) for a in attempts if a["http_status"] == 200}
    failed = [a for a in attempts if a["http_status"] != 200]
    assert failed, "the api-server was killed while reports were being pushed"
    stored = bare.inbox.dedupe_keys()
    assert acknowledged <= stored  # every 200 the sandbox logged is a row
    assert len(bare.inbox.reports()) == len(stored)
    print(f"\nrestart mid-stream: {len(attempts)} attempts, {len(acknowledged)} reports acknowledged, "
          f"{len(failed)} attempts refused or unanswered during the restart, "
          f"{sandbox.reports.state()['counts'].get('lost', 0)} reports lost by the sender (not acknowledged)")
