"""The provider's tables under Airflow's external DB manager: ``airflow db migrate`` creates and upgrades them.

Declared in the provider info (``db-managers``). A new database gets the tables
from :mod:`~airflow_provider_mensatek.webhooks.tables` and is stamped at the head
revision; an existing one is upgraded through ``migrations/versions``, with its
own version table so it never mixes with Airflow's. ``airflow db reset`` drops
and recreates them (``supports_table_dropping``). After upgrading the provider,
run ``airflow db migrate``: ``airflow db check-migrations`` waits for this head too.
"""

from __future__ import annotations

from pathlib import Path

from airflow.utils.db_manager import BaseDBManager

from airflow_provider_mensatek.webhooks.tables import metadata

_HERE = Path(__file__).resolve().parent
VERSION_TABLE = "mensatek_alembic_version"


class MensatekReportsDBManager(BaseDBManager):
    """``mensatek_report``, ``mensatek_message_state`` and ``mensatek_channel_seq``."""

    metadata = metadata
    version_table_name = VERSION_TABLE
    migration_dir = str(_HERE / "migrations")
    alembic_file = str(_HERE / "alembic.ini")
    supports_table_dropping = True
