"""The provider's tables: the Alembic revisions build exactly what the ORM metadata describes."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from airflow_provider_mensatek.webhooks.db_manager import VERSION_TABLE, MensatekReportsDBManager
from airflow_provider_mensatek.webhooks.tables import metadata

TABLES = {"mensatek_report", "mensatek_message_state", "mensatek_channel_seq"}


def alembic_config(url: str) -> Config:
    config = Config(MensatekReportsDBManager.alembic_file)
    config.set_main_option("script_location", MensatekReportsDBManager.migration_dir)
    config.set_main_option("sqlalchemy.url", url)
    return config


def check_revisions_match_the_orm(url: str) -> None:
    config = alembic_config(url)
    command.upgrade(config, "heads")
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            assert TABLES | {VERSION_TABLE} <= set(inspect(conn).get_table_names())
            context = MigrationContext.configure(conn, opts={
                "compare_type": True, "include_name": lambda name, kind, _: kind != "table" or name in TABLES})
            assert compare_metadata(context, metadata) == []
            assert MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_heads() == \
                ("mk0001",)
        command.downgrade(config, "base")
        with engine.connect() as conn:
            assert not TABLES & set(inspect(conn).get_table_names())
    finally:
        engine.dispose()


def test_the_revisions_build_the_orm_tables_on_sqlite(tmp_path: Path) -> None:
    check_revisions_match_the_orm(f"sqlite:///{tmp_path / 'revisions.db'}")


def test_the_revisions_build_the_orm_tables_on_postgresql(postgres_database: str) -> None:
    check_revisions_match_the_orm(postgres_database)


def test_the_manager_is_what_airflow_expects() -> None:
    assert MensatekReportsDBManager.version_table_name == VERSION_TABLE != "alembic_version"
    assert MensatekReportsDBManager.supports_table_dropping
    assert Path(MensatekReportsDBManager.migration_dir, "env.py").is_file()
    assert Path(MensatekReportsDBManager.alembic_file).is_file()
    assert set(MensatekReportsDBManager.metadata.tables) == TABLES
