"""A throwaway PostgreSQL cluster for the tests, never the machine's own service.

``initdb`` into a new temporary folder, a server on a free loopback port with its unix
socket in that folder, and everything stopped and deleted at the end. PostgreSQL refuses
to run as root, so as root the server's commands run as the ``postgres`` user that the
Debian package creates (``runuser``), in a folder that user owns.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import secrets
import shutil
import socket
import stat
import subprocess
import tempfile
import time
from pathlib import Path

# Debian installs each major version side by side and puts none of them on PATH.
_DEBIAN_BINARIES = "/usr/lib/postgresql/*/bin/initdb"
_SUPERUSER = "postgres"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries on this machine."""


def find_bindir() -> Path:
    """The newest ``/usr/lib/postgresql/<major>/bin``, or the folder of an ``initdb`` on PATH."""
    candidates = sorted(glob.glob(_DEBIAN_BINARIES), key=lambda path: int(re.sub(r"\D", "", Path(path).parts[-3]) or 0))
    initdb = candidates[-1] if candidates else shutil.which("initdb")
    if not initdb or not Path(initdb).with_name("pg_ctl").exists():
        raise PostgresUnavailable(
            "PostgreSQL server binaries (initdb, pg_ctl) not found in /usr/lib/postgresql/*/bin or on PATH; "
            "install them with `apt-get install postgresql` (what .ci/run does)"
        )
    return Path(initdb).parent


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PostgresCluster:
    """One ``initdb`` cluster in a temporary folder, served on 127.0.0.1 while started.

    ``url`` is a SQLAlchemy URL (``postgresql+psycopg2://``, the driver Airflow documents for its
    metadata database) of a database created at start; ``create_database()`` makes more.
    """

    host = "127.0.0.1"
    user = _SUPERUSER

    def __init__(self, bindir: Path | None = None) -> None:
        self.bindir = bindir or find_bindir()
        self.version = self.bindir.parent.name
        self._run_as = self._server_user()
        # A password even on loopback: another local user must not be able to connect while it runs.
        self.password = secrets.token_hex(16)
        self.port = 0
        self.url = ""
        # Short: a unix socket path is limited to 107 bytes.
        self.root = Path(tempfile.mkdtemp(prefix="mensatek-pg-", dir=self._parent_folder()))
        self.data = self.root / "data"
        self.socket_dir = self.root / "socket"
        self.log = self.root / "server.log"

    def __repr__(self) -> str:
        return f"PostgresCluster(version={self.version!r}, port={self.port}, root={str(self.root)!r})"

    def _parent_folder(self) -> str:
        """The temp dir, unless the server's user could not reach into it: then ``/tmp``.

        pytest's temp folders, or a test session's own temp dir, are private to the user running
        the tests; as root the server runs as ``postgres`` and needs to traverse every folder above.
        """
        folder = Path(tempfile.gettempdir()).resolve()
        if self._run_as and not all(path.stat().st_mode & stat.S_IXOTH for path in (folder, *folder.parents)):
            return "/tmp"
        return str(folder)

    @staticmethod
    def _server_user() -> list[str]:
        if os.geteuid() != 0:
            return []
        try:
            pwd.getpwnam(_SUPERUSER)
        except KeyError:
            raise PostgresUnavailable(
                "running as root, and initdb refuses root: the 'postgres' user (created by Debian's "
                "postgresql package) is needed to run the test cluster"
            ) from None
        return ["runuser", "-u", _SUPERUSER, "--"]

    def _run(self, *command: str, timeout: float = 120.0) -> None:
        result = subprocess.run(
            [*self._run_as, *command], cwd=self.root, capture_output=True, text=True, timeout=timeout, check=False,
        )
        if result.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{Path(command[0]).name} failed ({result.returncode}): {result.stderr[-2000:]}\n{log}")

    def start(self, attempts: int = 3) -> PostgresCluster:
        self.socket_dir.mkdir()
        password_file = self.root / "password"
        password_file.write_text(self.password + "\n")
        if self._run_as:
            entry = pwd.getpwnam(_SUPERUSER)
            for path in (self.root, self.socket_dir, password_file):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        try:
            # --no-sync and the settings below trade durability for speed: the cluster is thrown away.
            self._run(
                str(self.bindir / "initdb"), "-D", str(self.data), "-U", _SUPERUSER, f"--pwfile={password_file}",
                "--auth=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions",
            )
            password_file.unlink()
            for attempt in range(attempts):
                # The port is free when chosen but could be taken before the server binds it: retry.
                self.port = _free_port()
                try:
                    self._run(
                        str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                        "-o", f"-p {self.port} -c listen_addresses={self.host} -k {self.socket_dir} "
                        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off",
                        "start",
                    )
                    break
                except RuntimeError:
                    if attempt == attempts - 1:
                        raise
            self.url = self.create_database("mensatek_test")
        except BaseException:
            self.stop()
            raise
        return self

    def url_for(self, database: str) -> str:
        return f"postgresql+psycopg2://{self.user}:{self.password}@{self.host}:{self.port}/{database}"

    def _admin(self, statement: str) -> None:
        import psycopg2  # the test extra's driver; imported here so a machine without it can still skip

        connection = psycopg2.connect(
            host=self.host, port=self.port, user=self.user, password=self.password, dbname="postgres",
        )
        try:
            connection.autocommit = True  # CREATE / DROP DATABASE cannot run inside a transaction
            with connection.cursor() as cursor:
                cursor.execute(statement)
        finally:
            connection.close()

    def create_database(self, prefix: str = "test") -> str:
        """A new empty database with a unique name; returns its SQLAlchemy URL."""
        name = f"{re.sub(r'[^a-z0-9_]', '_', prefix.lower())[:40]}_{secrets.token_hex(4)}"
        self._admin(f'CREATE DATABASE "{name}"')
        return self.url_for(name)

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        """Stop the server (immediately: nothing in it is kept) and delete its folder."""
        try:
            if (self.data / "postmaster.pid").exists():
                self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            for _ in range(50):  # the server's last files may still be closing
                shutil.rmtree(self.root, ignore_errors=True)
                if not self.root.exists():
                    break
                time.sleep(0.1)
