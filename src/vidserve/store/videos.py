"""Video rows: insert (with the idempotency record), read, list, soft-delete.

The queue's state changes (claim, heartbeat, finish, reap) live in ``vidserve.queue``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import and_, bindparam, delete, func, insert, or_, select, text, update
from sqlalchemy.exc import IntegrityError

from vidserve.domain import JobKind, Video, VideoStatus
from vidserve.store.database import Database, PreparedRead
from vidserve.store.tables import idempotency_keys, videos


def row_to_video(m: Mapping[Any, Any]) -> Video:
    """A video from its row, by column name (``row._mapping`` or a prepared read's dict)."""
    return Video(
        id=m["id"],
        project=m["project"],
        model=m["model"],
        status=VideoStatus(m["status"]),
        progress=m["progress"],
        created_at=m["created_at"],
        prompt=m["prompt"],
        size=m["size"],
        seconds=m["seconds"],
        seed=m["seed"],
        kind=JobKind(m["kind"]),
        completed_at=m["completed_at"],
        expires_at=m["expires_at"],
        remixed_from_video_id=m["remixed_from_video_id"],
        error_code=m["error_code"],
        error_message=m["error_message"],
        attempt=m["attempt"],
        lease_owner=m["lease_owner"],
        lease_expires_at=m["lease_expires_at"],
        cancel_requested=bool(m["cancel_requested"]),
        deleted_at=m["deleted_at"],
        input_reference_key=m["input_reference_key"],
        assets_attempt=m["assets_attempt"],
        started_at=m["started_at"],
        source_video_id=m["source_video_id"],
        source_key=m["source_key"],
        extensions=m["extensions"] or 0,
        segment_seconds=m["segment_seconds"],
        character_ids=tuple(filter(None, (m["character_ids"] or "").split(","))),
    )


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    key: str
    request_hash: str


@dataclass(frozen=True, slots=True)
class Inserted:
    video: Video
    created: bool  # False: an idempotent replay returned the first job
    request_hash_matches: bool = True


class ActiveJobsLimitReached(Exception):
    """The project already has ``limit`` videos queued or in progress (nothing was inserted)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"{limit} active jobs")
        self.limit = limit


# PostgreSQL: the per-project lock under which the active-jobs count and the insert happen.
# (SQLite needs none: every write transaction starts with BEGIN IMMEDIATE, one writer at a time.)
_QUOTA_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))")


def _active(project: str) -> Any:
    return select(func.count()).where(
        videos.c.project == project,
        videos.c.status.in_((VideoStatus.QUEUED.value, VideoStatus.IN_PROGRESS.value)),
        videos.c.deleted_at.is_(None),
    )


@dataclass(frozen=True, slots=True)
class Page:
    videos: list[Video]
    has_more: bool


# Built once and compiled once: the hot read (every poll), reused while nothing was committed.
_GET_VISIBLE = PreparedRead(
    select(videos).where(
        videos.c.id == bindparam("video_id"),
        videos.c.project == bindparam("project"),
        videos.c.deleted_at.is_(None),
    ),
    row_to_video,  # a frozen Video: one object may answer many polls
    reuse=True,
)


class VideoStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def insert(
        self,
        video: Video,
        created_ns: int,
        idempotency: IdempotencyRecord | None = None,
        *,
        active_limit: int = 0,
    ) -> Inserted:
        """Insert the job row (and its idempotency record) in one transaction.

        An idempotent replay returns the first job before anything else is decided. Then, with
        ``active_limit``, the project's queued and running videos are counted *in the same
        transaction*, serialised per project (SQLite: the write lock; PostgreSQL: an advisory
        transaction lock on the project), so concurrent creates cannot all pass the count:
        :class:`ActiveJobsLimitReached` when the project is at the limit.

        Two replicas may get the same Idempotency-Key at once (PostgreSQL: both see no record,
        one commit loses on the primary key). The loser retries and finds the winner's job.
        """
        try:
            return await self._insert(video, created_ns, idempotency, active_limit)
        except IntegrityError:
            if idempotency is None:
                raise
            return await self._insert(video, created_ns, idempotency, active_limit)

    async def replay(self, project: str, key: str) -> Video | None:
        """The job an Idempotency-Key already created in ``project``, if any."""
        row = await self.db.fetch_first(
            select(videos).join(idempotency_keys, idempotency_keys.c.video_id == videos.c.id).where(
                idempotency_keys.c.project == project, idempotency_keys.c.key == key
            )
        )
        return row_to_video(row._mapping) if row is not None else None

    async def _insert(
        self,
        video: Video,
        created_ns: int,
        idempotency: IdempotencyRecord | None,
        active_limit: int,
    ) -> Inserted:
        async with self.db.write() as conn:
            if idempotency is not None:
                existing = (
                    await conn.execute(
                        select(idempotency_keys.c.video_id, idempotency_keys.c.request_hash).where(
                            idempotency_keys.c.project == video.project,
                            idempotency_keys.c.key == idempotency.key,
                        )
                    )
                ).first()
                if existing is not None:
                    row = (
                        await conn.execute(select(videos).where(videos.c.id == existing.video_id))
                    ).first()
                    if row is not None:
                        return Inserted(
                            row_to_video(row._mapping),
                            created=False,
                            request_hash_matches=existing.request_hash == idempotency.request_hash,
                        )
            if active_limit:
                if self.db.dialect == "postgresql":
                    await conn.execute(_QUOTA_LOCK, {"key": f"vidserve-active:{video.project}"})
                if int((await conn.execute(_active(video.project))).scalar_one()) >= active_limit:
                    raise ActiveJobsLimitReached(active_limit)
            await conn.execute(
                insert(videos).values(
                    id=video.id,
                    project=video.project,
                    model=video.model,
                    status=video.status.value,
                    progress=video.progress,
                    created_at=video.created_at,
                    created_ns=created_ns,
                    prompt=video.prompt,
                    size=video.size,
                    seconds=video.seconds,
                    seed=video.seed,
                    kind=video.kind.value,
                    remixed_from_video_id=video.remixed_from_video_id,
                    attempt=0,
                    cancel_requested=False,
                    input_reference_key=video.input_reference_key,
                    source_video_id=video.source_video_id,
                    source_key=video.source_key,
                    extensions=video.extensions,
                    segment_seconds=video.segment_seconds,
                    character_ids=",".join(video.character_ids) or None,
                )
            )
            if idempotency is not None:
                await conn.execute(
                    insert(idempotency_keys).values(
                        project=video.project,
                        key=idempotency.key,
                        request_hash=idempotency.request_hash,
                        video_id=video.id,
                        created_at=video.created_at,
                    )
                )
        return Inserted(video, created=True)

    async def get(self, project: str, video_id: str) -> Video | None:
        return await self.db.first(_GET_VISIBLE, {"video_id": video_id, "project": project})

    async def get_any(self, video_id: str) -> Video | None:
        """Any row, deleted or not, any project: for workers and tests, never for clients."""
        row = await self.db.fetch_first(select(videos).where(videos.c.id == video_id))
        return row_to_video(row._mapping) if row is not None else None

    async def list_page(
        self,
        project: str,
        *,
        limit: int,
        order: Literal["asc", "desc"],
        after: Video | None,
    ) -> Page:
        query = select(videos).where(videos.c.project == project, videos.c.deleted_at.is_(None))
        if after is not None:
            after_ns = await self.db.scalar(
                select(videos.c.created_ns).where(videos.c.id == after.id)
            )
            if order == "desc":
                query = query.where(
                    or_(
                        videos.c.created_ns < after_ns,
                        and_(videos.c.created_ns == after_ns, videos.c.id < after.id),
                    )
                )
            else:
                query = query.where(
                    or_(
                        videos.c.created_ns > after_ns,
                        and_(videos.c.created_ns == after_ns, videos.c.id > after.id),
                    )
                )
        if order == "desc":
            query = query.order_by(videos.c.created_ns.desc(), videos.c.id.desc())
        else:
            query = query.order_by(videos.c.created_ns.asc(), videos.c.id.asc())
        query = query.limit(limit + 1)
        rows = await self.db.fetch_all(query)
        found = [row_to_video(r._mapping) for r in rows]
        return Page(videos=found[:limit], has_more=len(found) > limit)

    async def mark_deleted(self, project: str, video_id: str, now: int) -> Video | None:
        """Soft-delete; a queued job is failed at once, a running one is asked to cancel.

        Returns the video as it was before, or None if there was none to delete.
        """
        async with self.db.write() as conn:
            row = (
                await conn.execute(
                    select(videos).where(
                        videos.c.id == video_id,
                        videos.c.project == project,
                        videos.c.deleted_at.is_(None),
                    )
                    .with_for_update()
                )
            ).first()
            if row is None:
                return None
            before = row_to_video(row._mapping)
            values: dict[str, Any] = {"deleted_at": now}
            if before.status is VideoStatus.QUEUED:
                values.update(
                    status=VideoStatus.FAILED.value,
                    error_code="cancelled",
                    error_message="The video was deleted before it started.",
                )
            elif before.status is VideoStatus.IN_PROGRESS:
                values.update(cancel_requested=True)
            await conn.execute(update(videos).where(videos.c.id == video_id).values(**values))
        return before

    async def count_active(self, project: str) -> int:
        """Queued and running videos of a project (the quota's early, advisory check)."""
        return int(await self.db.scalar(_active(project)))

    async def purgeable(self, now: int, limit: int = 100) -> list[str]:
        """Videos whose files must go: expired, or deleted and no longer running."""
        rows = await self.db.fetch_all(
            select(videos.c.id)
            .where(
                videos.c.purged_at.is_(None),
                or_(
                    and_(
                        videos.c.status == VideoStatus.COMPLETED.value,
                        videos.c.expires_at.is_not(None),
                        videos.c.expires_at <= now,
                    ),
                    and_(
                        videos.c.deleted_at.is_not(None),
                        videos.c.status != VideoStatus.IN_PROGRESS.value,
                    ),
                ),
            )
            .limit(limit)
        )
        return [r[0] for r in rows]

    async def mark_purged(self, video_id: str, now: int) -> None:
        async with self.db.write() as conn:
            await conn.execute(
                update(videos).where(videos.c.id == video_id).values(purged_at=now)
            )

    async def prune_idempotency(self, before: int) -> int:
        async with self.db.write() as conn:
            result = await conn.execute(
                delete(idempotency_keys).where(idempotency_keys.c.created_at < before)
            )
        return int(result.rowcount or 0)
