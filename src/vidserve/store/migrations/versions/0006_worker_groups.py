"""Worker heartbeats carry the state of the worker's device groups (models served on several
devices: starting, ready, restarting, unavailable and why, restarts so far).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("workers", sa.Column("groups", sa.Text))


def downgrade() -> None:
    op.drop_column("workers", "groups")
