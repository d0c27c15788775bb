"""The receiver's tables in the Airflow metadata database (created by ``airflow db migrate``).

``mensatek_report`` is the inbox: one row per distinct report the receiver
acknowledged, kept until someone deletes it (``reports purge``). Asset events and
the asset state store are notifications and a read cache derived from it;
``airflow db clean`` never touches these tables.

``mensatek_message_state`` points at the latest report of each part of each
message (never moving backwards), and ``mensatek_channel_seq`` numbers the
advances of each channel for the state store's journal (``delivery/inbox.py``);
its row is also the lock that serialises those advances.

Any change here needs an Alembic revision in ``migrations/versions`` too: an
existing deployment gets the tables from the revisions, a new one from this
metadata (Airflow's DB manager creates from the ORM, then stamps the head), and
a test checks that both give the same schema.
"""

from __future__ import annotations

from airflow.utils.sqlalchemy import UtcDateTime
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

#: Its own MetaData: Airflow refuses a DB manager whose tables are in Airflow's.
metadata = MetaData()

#: SQLite autoincrements only an ``INTEGER PRIMARY KEY``.
ReportId = BigInteger().with_variant(Integer(), "sqlite")

#: Longest values stored in their own columns (``partition_key`` in Airflow is 250 too);
#: a report with a longer one is kept as an unparsed body.
MAX_ID_CHARS = 250
MAX_CONTENT_TYPE_CHARS = 250
MAX_PARSE_ERROR_CHARS = 500

# Where the report's Asset event stands.
EVENT_EMITTED = "emitted"
#: No DAG declares the channel's Asset (no AssetModel row): Airflow would drop the event.
EVENT_NO_CONSUMER = "no-consumer"
#: The connection says ``asset_events: off``.
EVENT_OFF = "off"
#: Emitting raised; the report is kept and ``reports replay`` can emit it again.
EVENT_FAILED = "failed"
#: Nothing to emit: an unparsed body, or a service with no Asset.
EVENT_NONE = "none"
EVENT_STATES = (EVENT_EMITTED, EVENT_NO_CONSUMER, EVENT_OFF, EVENT_FAILED, EVENT_NONE)

report_table = Table(
    "mensatek_report",
    metadata,
    Column("id", ReportId, primary_key=True, autoincrement=True),
    Column("received_at", UtcDateTime, nullable=False),
    #: ``mensatek:v1:<sha256>`` of a parsed report, ``raw:v1:<sha256>`` of an unparsed body.
    Column("dedupe_key", String(100), nullable=False),
    Column("service", String(MAX_ID_CHARS)),
    Column("channel", String(32)),
    Column("message_id", String(MAX_ID_CHARS)),
    Column("code", String(MAX_ID_CHARS)),
    Column("rank", Integer),
    Column("occurred_at", UtcDateTime),
    Column("reference", Text),
    Column("parsed", Boolean, nullable=False),
    #: Why a body did not parse: field names and limits, never a value.
    Column("parse_error", String(MAX_PARSE_ERROR_CHARS)),
    Column("content_type", String(MAX_CONTENT_TYPE_CHARS)),
    #: The body exactly as received (at most the connection's max_body_bytes).
    Column("body", LargeBinary, nullable=False),
    #: ``DeliveryReport.to_dict(personal=True)`` of a parsed report.
    Column("normalised", JSON),
    Column("event_state", String(20), nullable=False),
    #: Whether storing this report moved its message's latest status.
    Column("advanced", Boolean, nullable=False),
    UniqueConstraint("dedupe_key", name="mensatek_report_dedupe_key_uq"),
    Index("idx_mensatek_report_message", "channel", "message_id"),
    Index("idx_mensatek_report_received_at", "received_at"),
)

message_state_table = Table(
    "mensatek_message_state",
    metadata,
    Column("channel", String(32), primary_key=True),
    Column("message_id", String(MAX_ID_CHARS), primary_key=True),
    #: ``delivery.inbox.report_part``: 16 hex of the recipient's SHA-256, or ``-``.
    Column("part", String(16), primary_key=True),
    Column("report_id", ReportId,
           ForeignKey("mensatek_report.id", name="mensatek_message_state_report_fkey", ondelete="CASCADE"),
           nullable=False),
    #: The channel's advance number when this part last moved (the journal's seq).
    Column("seq", BigInteger, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("idx_mensatek_message_state_report", "report_id"),
)

channel_seq_table = Table(
    "mensatek_channel_seq",
    metadata,
    Column("channel", String(32), primary_key=True),
    Column("seq", BigInteger, nullable=False),
)

__all__ = [
    "EVENT_EMITTED",
    "EVENT_FAILED",
    "EVENT_NONE",
    "EVENT_NO_CONSUMER",
    "EVENT_OFF",
    "EVENT_STATES",
    "MAX_CONTENT_TYPE_CHARS",
    "MAX_ID_CHARS",
    "MAX_PARSE_ERROR_CHARS",
    "channel_seq_table",
    "message_state_table",
    "metadata",
    "report_table",
]
