"""The SQL schema (SQLAlchemy Core), shared by SQLite and PostgreSQL.

Alembic migrations in ``store/migrations`` create exactly this schema; a test compares them.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Double,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from vidserve.store.database import PortableText

metadata = MetaData()

videos = Table(
    "videos",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("project", String(128), nullable=False),
    Column("model", String(256), nullable=False),
    Column("status", String(16), nullable=False),
    Column("progress", Integer, nullable=False, default=0),
    Column("created_at", BigInteger, nullable=False),
    Column("created_ns", BigInteger, nullable=False),  # ordering for lists and the queue
    Column("completed_at", BigInteger),
    Column("expires_at", BigInteger),
    Column("prompt", PortableText, nullable=False),  # NUL allowed on PostgreSQL too
    Column("size", String(16), nullable=False),
    Column("seconds", Integer, nullable=False),
    Column("seed", BigInteger, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("remixed_from_video_id", String(64)),
    Column("error_code", String(64)),
    Column("error_message", Text),
    # queue columns: the row is the job
    Column("attempt", Integer, nullable=False, default=0),
    Column("lease_owner", String(128)),
    Column("lease_expires_at", Double),
    Column("cancel_requested", Boolean, nullable=False, default=False),
    Column("started_at", Double),
    Column("deleted_at", BigInteger),
    Column("input_reference_key", String(256)),
    Column("assets_attempt", Integer),
    Column("purged_at", BigInteger),  # the retention collector removed the files
    # edits and extensions (0003)
    Column("source_video_id", String(64)),
    Column("source_key", String(256)),
    Column("extensions", Integer, nullable=False, default=0, server_default="0"),
    Column("segment_seconds", Integer),
    Column("character_ids", Text),  # comma-separated char_ ids
    Index("ix_videos_project_created", "project", "created_ns"),
    Index("ix_videos_queue", "status", "model", "created_ns"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("project", String(128), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("revoked_at", BigInteger),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("project", String(128), primary_key=True),
    Column("key", String(256), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("video_id", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint("video_id", name="uq_idempotency_video"),
)

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("project", String(128), nullable=False, index=True),
    Column("url", Text, nullable=False),
    Column("secret", String(128), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("disabled_at", BigInteger),
)

webhook_events = Table(
    "webhook_events",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("project", String(128), nullable=False),
    Column("type", String(64), nullable=False),
    Column("video_id", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

# The outbox: one row per (event, endpoint), written in the transaction of the status change.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("event_id", String(64), primary_key=True),
    Column("endpoint_id", String(64), primary_key=True),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", Double, nullable=False),
    Column("delivered_at", Double),
    Column("last_error", Text),
    Index("ix_webhook_deliveries_due", "delivered_at", "next_attempt_at"),
)

# The Files API (0003): metadata here, the bytes in the blob store under ids.file_key(id).
files = Table(
    "files",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("project", String(128), nullable=False),
    Column("filename", PortableText, nullable=False),
    Column("purpose", String(32), nullable=False),
    Column("bytes", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("created_ns", BigInteger, nullable=False),
    Column("expires_at", BigInteger),
    Column("deleted_at", BigInteger),
    Index("ix_files_project_created", "project", "created_ns"),
)

# Characters (0003): a name and a short clip (blob ids.character_key(id)), per project.
characters = Table(
    "characters",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("project", String(128), nullable=False, index=True),
    Column("name", PortableText, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("frames", Integer, nullable=False),
)

# One row per running worker process (embedded or on another machine), refreshed every few
# seconds: ``/readyz`` and ``vidserve status`` read it, so a dead fleet shows.
workers = Table(
    "workers",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("models", Text, nullable=False),
    Column("current_job", Text),
    Column("started_at", Double, nullable=False),
    Column("last_beat", Double, nullable=False, index=True),
    Column("groups", Text),  # JSON: the worker's device groups (GroupInfo), if any
)
