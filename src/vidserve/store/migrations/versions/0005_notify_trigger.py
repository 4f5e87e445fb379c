"""Wake-ups from the schema (PostgreSQL): a job that becomes claimable NOTIFYs the workers.

A trigger sends ``NOTIFY vidserve_jobs, '<model>'`` when a row enters ``videos`` queued (a new
job, from any API replica) and when a row goes back to queued (a drain's release, a requeue by
the reaper). NOTIFY is transactional: it is delivered exactly when the row becomes visible,
and never for a transaction that rolls back. SQLite needs none (its workers poll).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# the channel is vidserve.store.database.JOBS_CHANNEL, written out: a migration never changes
UPGRADE = (
    """
    CREATE FUNCTION vidserve_notify_job() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_notify('vidserve_jobs', NEW.model);
        RETURN NULL;
    END;
    $$
    """,
    """
    CREATE TRIGGER vidserve_job_inserted AFTER INSERT ON videos
        FOR EACH ROW WHEN (NEW.status = 'queued') EXECUTE FUNCTION vidserve_notify_job()
    """,
    """
    CREATE TRIGGER vidserve_job_requeued AFTER UPDATE OF status ON videos
        FOR EACH ROW WHEN (NEW.status = 'queued' AND OLD.status <> 'queued')
        EXECUTE FUNCTION vidserve_notify_job()
    """,
)

DOWNGRADE = (
    "DROP TRIGGER vidserve_job_requeued ON videos",
    "DROP TRIGGER vidserve_job_inserted ON videos",
    "DROP FUNCTION vidserve_notify_job()",
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in UPGRADE:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in DOWNGRADE:
            op.execute(statement)
