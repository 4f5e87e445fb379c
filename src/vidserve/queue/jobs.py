"""Queue state changes on the videos table. Each one is a single guarded statement.

- ``claim``: the oldest queued job of the given models; ``FOR UPDATE SKIP LOCKED`` on
  PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite. It bumps ``attempt``, the fencing token for every
  later write of that worker.
- ``heartbeat``: ``UPDATE ... WHERE id=? AND attempt=? AND status='in_progress'``: renews the
  lease, writes progress and reads ``cancel_requested``; zero rows means the lease was lost.
- ``complete`` / ``fail``: guarded the same way; a worker whose attempt is stale changes nothing.
- ``reap``: in-progress rows whose lease expired go back to queued (while attempts remain) or
  to failed with ``worker_lost``; cancelled ones to failed with ``cancelled``. On PostgreSQL
  one replica at a time: the round takes a transaction-level advisory lock and a replica
  that finds it taken skips the round (no leader to elect, nothing held between rounds).
- every change that makes a job claimable (an insert, ``release``, a requeue by ``reap``)
  wakes the workers through the schema's NOTIFY trigger (PostgreSQL; migration 0005).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, func, select, update

from vidserve.domain import Claim, VideoStatus
from vidserve.store.database import Database
from vidserve.store.tables import videos
from vidserve.store.videos import row_to_video
from vidserve.store.webhooks import record_event

QUEUED = VideoStatus.QUEUED.value
IN_PROGRESS = VideoStatus.IN_PROGRESS.value
COMPLETED = VideoStatus.COMPLETED.value
FAILED = VideoStatus.FAILED.value


@dataclass(frozen=True, slots=True)
class Beat:
    alive: bool  # False: the lease is gone (reaped, or another attempt owns the job)
    cancel: bool  # True: the client deleted the video; stop and discard


@dataclass(frozen=True, slots=True)
class Reaped:
    requeued: list[str]
    failed: list[str]
    skipped: bool = False  # another replica was reaping (PostgreSQL advisory lock)


REAPER_LOCK = 0x7669_6473_7265_6170  # "vidsreap"


class JobQueue:
    def __init__(self, db: Database) -> None:
        self.db = db

    def _owned(self, video_id: str, attempt: int) -> object:
        return and_(
            videos.c.id == video_id,
            videos.c.attempt == attempt,
            videos.c.status == IN_PROGRESS,
        )

    async def claim(
        self, worker_id: str, models: Sequence[str] | None, lease_seconds: float, now: float
    ) -> Claim | None:
        candidate = (
            select(videos.c.id)
            .where(videos.c.status == QUEUED, videos.c.deleted_at.is_(None))
            .order_by(videos.c.created_ns)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        if models is not None:
            candidate = candidate.where(videos.c.model.in_(list(models)))
        async with self.db.write() as conn:
            video_id = (await conn.execute(candidate)).scalar()
            if video_id is None:
                return None
            row = (
                await conn.execute(
                    update(videos)
                    .where(videos.c.id == video_id, videos.c.status == QUEUED)
                    .values(
                        status=IN_PROGRESS,
                        attempt=videos.c.attempt + 1,
                        lease_owner=worker_id,
                        lease_expires_at=now + lease_seconds,
                        started_at=now,
                        progress=0,
                    )
                    .returning(*videos.c)
                )
            ).first()
        if row is None:
            return None
        video = row_to_video(row._mapping)
        return Claim(video=video, attempt=video.attempt)

    async def heartbeat(
        self, video_id: str, attempt: int, progress: int, lease_seconds: float, now: float
    ) -> Beat:
        async with self.db.write() as conn:
            cancel = (
                await conn.execute(
                    update(videos)
                    .where(self._owned(video_id, attempt))  # type: ignore[arg-type]
                    # never backwards: a lease-keeper beat may land after a newer step's beat
                    .values(
                        progress=case(
                            (videos.c.progress > progress, videos.c.progress), else_=progress
                        ),
                        lease_expires_at=now + lease_seconds,
                    )
                    .returning(videos.c.cancel_requested)
                )
            ).scalar()
        if cancel is None:
            return Beat(alive=False, cancel=False)
        return Beat(alive=True, cancel=bool(cancel))

    async def complete(
        self, video_id: str, attempt: int, now: float, expires_after: int | None
    ) -> bool:
        completed_at = int(now)
        async with self.db.write() as conn:
            result = await conn.execute(
                update(videos)
                .where(
                    self._owned(video_id, attempt),  # type: ignore[arg-type]
                    videos.c.cancel_requested.is_(False),
                )
                .values(
                    status=COMPLETED,
                    progress=100,
                    completed_at=completed_at,
                    expires_at=completed_at + expires_after if expires_after else None,
                    assets_attempt=attempt,
                    lease_owner=None,
                    lease_expires_at=None,
                )
                .returning(videos.c.project)
            )
            project = result.scalar()
            if project is not None:
                await record_event(conn, project, video_id, "video.completed", now)
        return project is not None

    async def fail(
        self, video_id: str, attempt: int, code: str, message: str, now: float
    ) -> bool:
        async with self.db.write() as conn:
            result = await conn.execute(
                update(videos)
                .where(self._owned(video_id, attempt))  # type: ignore[arg-type]
                .values(
                    status=FAILED,
                    error_code=code,
                    error_message=message,
                    completed_at=int(now),
                    lease_owner=None,
                    lease_expires_at=None,
                )
                .returning(videos.c.project, videos.c.deleted_at)
            )
            row = result.first()
            if row is not None and row.deleted_at is None:
                await record_event(conn, row.project, video_id, "video.failed", now)
        return row is not None

    async def release(self, video_id: str, attempt: int) -> bool:
        """Give a job back (graceful drain): queued again at once for another worker."""
        async with self.db.write() as conn:
            result = await conn.execute(
                update(videos)
                .where(
                    self._owned(video_id, attempt),  # type: ignore[arg-type]
                    videos.c.cancel_requested.is_(False),
                )
                .values(status=QUEUED, progress=0, lease_owner=None, lease_expires_at=None)
                .returning(videos.c.id)
            )
        return result.scalar() is not None

    async def reap(self, now: float, max_attempts: int) -> Reaped:
        expired = and_(videos.c.status == IN_PROGRESS, videos.c.lease_expires_at < now)

        def unlocked(*conditions: Any) -> Any:
            """Expired rows (and ``conditions``) that nobody holds a lock on: a worker frozen
            in the middle of a heartbeat transaction must not stall the whole round; its row
            is taken next round, once the database has ended that session."""
            return and_(expired, *conditions, videos.c.id.in_(
                select(videos.c.id).where(expired, *conditions)
                .with_for_update(skip_locked=True)
            ))

        async with self.db.write() as conn:
            if conn.dialect.name == "postgresql":
                mine = (
                    await conn.execute(select(func.pg_try_advisory_xact_lock(REAPER_LOCK)))
                ).scalar()
                if not mine:
                    return Reaped(requeued=[], failed=[], skipped=True)
            requeued = (
                await conn.execute(
                    update(videos)
                    .where(
                        unlocked(
                            videos.c.attempt < max_attempts,
                            videos.c.cancel_requested.is_(False),
                        )
                    )
                    .values(status=QUEUED, progress=0, lease_owner=None, lease_expires_at=None)
                    .returning(videos.c.id)
                )
            ).scalars().all()
            cancelled = (
                await conn.execute(
                    update(videos)
                    .where(unlocked(videos.c.cancel_requested.is_(True)))
                    .values(
                        status=FAILED,
                        error_code="cancelled",
                        error_message="The video was deleted while it was being generated.",
                        completed_at=int(now),
                        lease_owner=None,
                        lease_expires_at=None,
                    )
                    .returning(videos.c.id)
                )
            ).scalars().all()
            lost = (
                await conn.execute(
                    update(videos)
                    .where(unlocked())
                    .values(
                        status=FAILED,
                        error_code="worker_lost",
                        error_message=(
                            f"The worker generating this video stopped responding "
                            f"{max_attempts} times; the job was given up."
                        ),
                        completed_at=int(now),
                        lease_owner=None,
                        lease_expires_at=None,
                    )
                    .returning(videos.c.id, videos.c.project)
                )
            ).all()
            for video_id, project in lost:
                await record_event(conn, project, video_id, "video.failed", now)
        return Reaped(requeued=list(requeued), failed=list(cancelled) + [r[0] for r in lost])
