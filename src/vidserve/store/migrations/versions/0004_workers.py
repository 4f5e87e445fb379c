"""Worker heartbeats: who serves what, on which host, running which job, last seen when.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("models", sa.Text, nullable=False),
        sa.Column("current_job", sa.Text),
        sa.Column("started_at", sa.Double, nullable=False),
        sa.Column("last_beat", sa.Double, nullable=False),
    )
    op.create_index("ix_workers_last_beat", "workers", ["last_beat"])


def downgrade() -> None:
    op.drop_index("ix_workers_last_beat", table_name="workers")
    op.drop_table("workers")
