"""Fixtures for the local services the tests start themselves (registered in ``tests/conftest.py``).

Each service starts the first time a test asks for it and stops at the end of the session,
so a run that needs neither pays nothing.

PostgreSQL:
    ``postgres_cluster`` (session): the :class:`PostgresCluster`; ``.url`` is the SQLAlchemy URL of
    a database made at start, ``.create_database(prefix)`` returns the URL of a new empty one.
    ``postgres_database`` (module): the URL of a fresh empty database for the test module
    (dropped after it), e.g. for ``airflow db migrate``.
S3:
    ``local_s3`` (session): the :class:`LocalS3` server (``.endpoint_url``, ``.conn_id``,
    ``.connection``, ``.create_bucket()``, ``.client()``). Once started, the ``aws`` connection
    ``local_s3.conn_id`` (``AIRFLOW_CONN_MENSATEK_TEST_S3``) and ``local_s3.environment`` are set
    for the rest of the session, so
    ``ObjectStoragePath(f"s3://{s3_bucket}/key", conn_id=local_s3.conn_id)`` reaches it.
    ``s3_bucket`` (function): the name of a new empty bucket, deleted with its content after the test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.local_services.postgres import PostgresCluster, PostgresUnavailable
from tests.local_services.s3 import LocalS3


def new_postgres_cluster() -> PostgresCluster:
    """A cluster not started yet; without PostgreSQL, skips the test, or fails it when ``CI`` is set."""
    try:
        return PostgresCluster()
    except PostgresUnavailable as missing:
        # CI installs PostgreSQL (.ci/run): there a missing server is a failure, never a skip.
        if os.environ.get("CI"):
            pytest.fail(f"CI is set and PostgreSQL is unavailable: {missing}", pytrace=False)
        pytest.skip(str(missing))


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    cluster = new_postgres_cluster().start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module")
def postgres_database(postgres_cluster: PostgresCluster, request: pytest.FixtureRequest) -> Iterator[str]:
    url = postgres_cluster.create_database(request.module.__name__.rsplit(".", 1)[-1])
    yield url
    postgres_cluster.drop_database(url)


@pytest.fixture(scope="session")
def local_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalS3]:
    s3 = LocalS3(tmp_path_factory.mktemp("local-s3") / "moto.log").start()
    # For the whole session once started: a later test that forgets its own connection still
    # cannot reach real AWS, and Airflow processes the tests start inherit the same setup.
    with pytest.MonkeyPatch.context() as patch:
        for key, value in s3.environment.items():
            patch.setenv(key, value)
        yield s3
    s3.stop()


@pytest.fixture
def s3_bucket(local_s3: LocalS3) -> Iterator[str]:
    name = local_s3.create_bucket()
    yield name
    local_s3.delete_bucket(name)
