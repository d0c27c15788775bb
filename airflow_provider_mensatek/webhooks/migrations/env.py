"""Alembic environment of the provider's tables (run by ``airflow db migrate``), with their own version table."""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import engine_from_config, pool
from sqlalchemy.engine import Connection

from airflow_provider_mensatek.webhooks.db_manager import VERSION_TABLE
from airflow_provider_mensatek.webhooks.tables import metadata

config = context.config


def _configure(**kwargs: Any) -> None:
    context.configure(target_metadata=metadata, version_table=VERSION_TABLE,
                      # SQLite alters tables by copying them: batch mode does that for revisions that alter.
                      render_as_batch=True, compare_type=True, **kwargs)


def _run(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    _configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    connectable = config.attributes.get("connection")
    if connectable is None:
        engine = engine_from_config(config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.",
                                    poolclass=pool.NullPool)
        with engine.connect() as connection:
            _run(connection)
    else:
        _run(connectable)
