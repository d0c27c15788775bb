"""The throwaway PostgreSQL cluster: it serves SQL, holds Airflow's metadata, and leaves nothing behind."""

from __future__ import annotations

import asyncio
import os
import pwd
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.local_services import postgres as postgres_module
from tests.local_services.fixtures import new_postgres_cluster
from tests.local_services.postgres import PostgresCluster


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_the_cluster_serves_sql_from_its_own_folder(postgres_cluster: PostgresCluster) -> None:
    engine = sa.create_engine(postgres_cluster.url)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text("CREATE TABLE reports (id serial PRIMARY KEY, body text NOT NULL)"))
            connection.execute(sa.text("INSERT INTO reports (body) VALUES ('{\"Servicio\": \"SMSMASIVO\"}')"))
        with engine.connect() as connection:
            assert connection.execute(sa.text("SELECT body FROM reports")).scalars().all() == [
                '{"Servicio": "SMSMASIVO"}'
            ]
            # Not the machine's service: its data directory and socket are the throwaway folder's.
            assert connection.execute(sa.text("SHOW data_directory")).scalar() == str(postgres_cluster.data)
            assert connection.execute(sa.text("SHOW unix_socket_directories")).scalar() == str(
                postgres_cluster.socket_dir
            )
            assert connection.execute(sa.text("SHOW listen_addresses")).scalar() == "127.0.0.1"
            major = connection.execute(sa.text("SHOW server_version_num")).scalar()
        assert str(major).startswith(postgres_cluster.version)
    finally:
        engine.dispose()


def test_the_cluster_runs_as_postgres_when_root_and_asks_for_a_password(postgres_cluster: PostgresCluster) -> None:
    owner = pwd.getpwnam("postgres").pw_uid if os.geteuid() == 0 else os.geteuid()
    assert postgres_cluster.data.stat().st_uid == owner
    wrong = postgres_cluster.url.replace(postgres_cluster.password, "not-the-password")
    engine = sa.create_engine(wrong)
    try:
        with pytest.raises(sa.exc.OperationalError, match="password authentication failed"):
            engine.connect()
    finally:
        engine.dispose()


def test_the_async_url_airflow_derives_reaches_the_cluster(postgres_cluster: PostgresCluster) -> None:
    # Airflow's async engine (the api-server's) uses sql_alchemy_conn with asyncpg as the driver.
    from sqlalchemy.ext.asyncio import create_async_engine

    async def select_one() -> object:
        engine = create_async_engine(postgres_cluster.url.replace("postgresql+psycopg2://", "postgresql+asyncpg://"))
        try:
            async with engine.connect() as connection:
                return (await connection.execute(sa.text("SELECT current_database()"))).scalar()
        finally:
            await engine.dispose()

    assert asyncio.run(select_one()) == postgres_cluster.url.rsplit("/", 1)[1]


def test_each_new_database_is_empty_and_uniquely_named(postgres_cluster: PostgresCluster) -> None:
    first, second = postgres_cluster.create_database("webhooks"), postgres_cluster.create_database("webhooks")
    try:
        assert first != second
        assert first.rsplit("/", 1)[1].startswith("webhooks_")
        engine = sa.create_engine(second)
        try:
            assert sa.inspect(engine).get_table_names() == []
        finally:
            engine.dispose()
    finally:
        postgres_cluster.drop_database(first)
        postgres_cluster.drop_database(second)
    engine = sa.create_engine(postgres_cluster.url)
    try:
        with engine.connect() as connection:
            names = connection.execute(sa.text("SELECT datname FROM pg_database")).scalars().all()
    finally:
        engine.dispose()
    assert first.rsplit("/", 1)[1] not in names and second.rsplit("/", 1)[1] not in names


def test_airflow_db_migrate_puts_the_metadata_in_a_fresh_database(postgres_database: str, tmp_path: Path) -> None:
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": postgres_database}
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], env=env, capture_output=True, text=True, timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    engine = sa.create_engine(postgres_database)
    try:
        tables = set(sa.inspect(engine).get_table_names())
        with engine.connect() as connection:
            revision = connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()
    assert {"dag", "dag_run", "task_instance", "asset", "asset_event", "connection"} <= tables
    assert revision
    assert not (tmp_path / "airflow.db").exists()  # nothing went to SQLite


def test_stop_removes_the_server_and_its_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Started from a temp dir private to this user (as a test session may have), which the
    # server's own user could not enter when the tests run as root.
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    cluster = new_postgres_cluster().start()
    port, root = cluster.port, cluster.root
    assert root.parent == (Path("/tmp") if os.geteuid() == 0 else private)
    assert _port_open(port)
    cluster.stop()
    assert not _port_open(port)
    assert not root.exists()


def test_without_postgresql_a_test_skips_but_fails_under_ci(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(postgres_module, "_DEBIAN_BINARIES", str(tmp_path / "*" / "bin" / "initdb"))
    monkeypatch.setenv("PATH", str(tmp_path))
    # Skip and fail are both BaseExceptions that pytest reports as outcomes: catch either, then check.
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(BaseException) as local:
        new_postgres_cluster()
    assert local.type is pytest.skip.Exception and "initdb, pg_ctl" in str(local.value)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(BaseException) as ci:
        new_postgres_cluster()
    assert ci.type is pytest.fail.Exception and "CI is set and PostgreSQL is unavailable" in str(ci.value)
