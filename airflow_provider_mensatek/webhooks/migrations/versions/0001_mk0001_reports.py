"""The receiver's first tables: reports, the latest report per message part, and the channels' advance numbers.

Revision ID: mk0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from airflow.utils.sqlalchemy import UtcDateTime
from alembic import op

revision = "mk0001"
down_revision = None
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "mensatek_report",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("received_at", UtcDateTime, nullable=False),
        sa.Column("dedupe_key", sa.String(100), nullable=False),
        sa.Column("service", sa.String(250)),
        sa.Column("channel", sa.String(32)),
        sa.Column("message_id", sa.String(250)),
        sa.Column("code", sa.String(250)),
        sa.Column("rank", sa.Integer),
        sa.Column("occurred_at", UtcDateTime),
        sa.Column("reference", sa.Text),
        sa.Column("parsed", sa.Boolean, nullable=False),
        sa.Column("parse_error", sa.String(500)),
        sa.Column("content_type", sa.String(250)),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("normalised", sa.JSON),
        sa.Column("event_state", sa.String(20), nullable=False),
        sa.Column("advanced", sa.Boolean, nullable=False),
        sa.UniqueConstraint("dedupe_key", name="mensatek_report_dedupe_key_uq"),
    )
    op.create_index("idx_mensatek_report_message", "mensatek_report", ["channel", "message_id"])
    op.create_index("idx_mensatek_report_received_at", "mensatek_report", ["received_at"])
    op.create_table(
        "mensatek_message_state",
        sa.Column("channel", sa.String(32), primary_key=True),
        sa.Column("message_id", sa.String(250), primary_key=True),
        sa.Column("part", sa.String(16), primary_key=True),
        sa.Column("report_id", _ID, sa.ForeignKey("mensatek_report.id", name="mensatek_message_state_report_fkey",
                                                  ondelete="CASCADE"), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )
    op.create_index("idx_mensatek_message_state_report", "mensatek_message_state", ["report_id"])
    op.create_table(
        "mensatek_channel_seq",
        sa.Column("channel", sa.String(32), primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("mensatek_channel_seq")
    op.drop_index("idx_mensatek_message_state_report", table_name="mensatek_message_state")
    op.drop_table("mensatek_message_state")
    op.drop_index("idx_mensatek_report_received_at", table_name="mensatek_report")
    op.drop_index("idx_mensatek_report_message", table_name="mensatek_report")
    op.drop_table("mensatek_report")
