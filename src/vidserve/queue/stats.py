"""Read-only figures about the queue, for ``/metrics``, ``/readyz`` and ``vidserve status``.

Each is one aggregate statement over the videos table, so it is the same whichever API
replica or worker answers: the database is the source of truth. The queued/in-progress counts
use the ``(status, model, created_ns)`` index.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from vidserve.domain import VideoStatus
from vidserve.store.database import Database
from vidserve.store.tables import videos

ACTIVE = (VideoStatus.QUEUED.value, VideoStatus.IN_PROGRESS.value)


@dataclass(frozen=True, slots=True)
class Depth:
    model: str
    status: str
    jobs: int
    oldest_created_at: int | None  # unix seconds of the oldest job in this group


@dataclass(frozen=True, slots=True)
class Lease:
    worker: str
    video_id: str
    model: str
    progress: int
    attempt: int
    started_at: float | None
    lease_expires_at: float | None


class QueueStats:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def depth(self) -> list[Depth]:
        """Queued and in-progress jobs by model and status (deleted ones excluded)."""
        rows = await self.db.fetch_all(
            select(
                videos.c.model, videos.c.status, func.count(), func.min(videos.c.created_at)
            )
            .where(videos.c.status.in_(ACTIVE), videos.c.deleted_at.is_(None))
            .group_by(videos.c.model, videos.c.status)
        )
        return [Depth(r[0], r[1], int(r[2]), None if r[3] is None else int(r[3])) for r in rows]

    async def failures(self) -> dict[tuple[str, str], int]:
        """Videos that ended failed, by (model, error code), deleted ones included: a count
        that only grows while rows are kept."""
        rows = await self.db.fetch_all(
            select(videos.c.model, videos.c.error_code, func.count())
            .where(videos.c.status == VideoStatus.FAILED.value)
            .group_by(videos.c.model, videos.c.error_code)
        )
        return {(r[0], r[1] or "unknown"): int(r[2]) for r in rows}

    async def leases(self, now: float) -> list[Lease]:
        """Jobs a worker holds a live lease on: the busy workers, and what each is doing."""
        rows = await self.db.fetch_all(
            select(
                videos.c.lease_owner,
                videos.c.id,
                videos.c.model,
                videos.c.progress,
                videos.c.attempt,
                videos.c.started_at,
                videos.c.lease_expires_at,
            )
            .where(
                videos.c.status == VideoStatus.IN_PROGRESS.value,
                videos.c.lease_owner.is_not(None),
                videos.c.lease_expires_at >= now,
            )
            .order_by(videos.c.lease_owner)
        )
        return [
            Lease(str(r[0]), r[1], r[2], int(r[3]), int(r[4]), r[5], r[6]) for r in rows
        ]

    async def ping(self) -> None:
        """One trivial query: raises if the database cannot answer."""
        await self.db.scalar(select(func.count()).select_from(videos).where(videos.c.id == ""))
