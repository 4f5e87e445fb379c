"""Files API, characters, and the bookkeeping of edits and extensions on videos.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("videos") as batch:
        batch.add_column(sa.Column("source_video_id", sa.String(64)))
        batch.add_column(sa.Column("source_key", sa.String(256)))
        batch.add_column(
            sa.Column("extensions", sa.Integer, nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("segment_seconds", sa.Integer))
        batch.add_column(sa.Column("character_ids", sa.Text))
    op.create_table(
        "files",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("project", sa.String(128), nullable=False),
        sa.Column("filename", sa.Text, nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("bytes", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("created_ns", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger),
        sa.Column("deleted_at", sa.BigInteger),
    )
    op.create_index("ix_files_project_created", "files", ["project", "created_ns"])
    op.create_table(
        "characters",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("project", sa.String(128), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
        sa.Column("frames", sa.Integer, nullable=False),
    )
    op.create_index("ix_characters_project", "characters", ["project"])


def downgrade() -> None:
    op.drop_index("ix_characters_project", "characters")
    op.drop_table("characters")
    op.drop_index("ix_files_project_created", "files")
    op.drop_table("files")
    with op.batch_alter_table("videos") as batch:
        batch.drop_column("character_ids")
        batch.drop_column("segment_seconds")
        batch.drop_column("extensions")
        batch.drop_column("source_key")
        batch.drop_column("source_video_id")
