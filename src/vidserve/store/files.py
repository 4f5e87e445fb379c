"""File rows (the Files API): insert, read, list by page, soft-delete; scoped to a project.

The bytes live in the blob store under ``ids.file_key(id)``; this module only keeps the
metadata. A deleted or expired file is invisible to every read here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import and_, insert, or_, select, update

from vidserve.store.database import Database
from vidserve.store.tables import files


@dataclass(frozen=True, slots=True)
class StoredFile:
    id: str
    project: str
    filename: str
    purpose: str
    bytes: int
    created_at: int
    expires_at: int | None = None


@dataclass(frozen=True, slots=True)
class FilePage:
    files: list[StoredFile]
    has_more: bool


def _row(row: Any) -> StoredFile:
    m = row._mapping
    return StoredFile(
        id=m["id"],
        project=m["project"],
        filename=m["filename"],
        purpose=m["purpose"],
        bytes=m["bytes"],
        created_at=m["created_at"],
        expires_at=m["expires_at"],
    )


class FileStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def _visible(self, project: str, now: int) -> Any:
        return and_(
            files.c.project == project,
            files.c.deleted_at.is_(None),
            or_(files.c.expires_at.is_(None), files.c.expires_at > now),
        )

    async def insert(self, file: StoredFile, created_ns: int) -> None:
        async with self.db.write() as conn:
            await conn.execute(
                insert(files).values(
                    id=file.id,
                    project=file.project,
                    filename=file.filename,
                    purpose=file.purpose,
                    bytes=file.bytes,
                    created_at=file.created_at,
                    created_ns=created_ns,
                    expires_at=file.expires_at,
                )
            )

    async def get(self, project: str, file_id: str, now: int) -> StoredFile | None:
        row = await self.db.fetch_first(
            select(files).where(files.c.id == file_id, self._visible(project, now))
        )
        return _row(row) if row is not None else None

    async def list_page(
        self,
        project: str,
        now: int,
        *,
        limit: int,
        order: Literal["asc", "desc"],
        after: str | None,
        purpose: str | None,
    ) -> FilePage:
        query = select(files).where(self._visible(project, now))
        if purpose is not None:
            query = query.where(files.c.purpose == purpose)
        if after is not None:
            after_ns = await self.db.scalar(
                select(files.c.created_ns).where(files.c.id == after, files.c.project == project)
            )
            if after_ns is not None:
                if order == "desc":
                    query = query.where(
                        or_(
                            files.c.created_ns < after_ns,
                            and_(files.c.created_ns == after_ns, files.c.id < after),
                        )
                    )
                else:
                    query = query.where(
                        or_(
                            files.c.created_ns > after_ns,
                            and_(files.c.created_ns == after_ns, files.c.id > after),
                        )
                    )
        if order == "desc":
            query = query.order_by(files.c.created_ns.desc(), files.c.id.desc())
        else:
            query = query.order_by(files.c.created_ns.asc(), files.c.id.asc())
        rows = await self.db.fetch_all(query.limit(limit + 1))
        found = [_row(r) for r in rows]
        return FilePage(files=found[:limit], has_more=len(found) > limit)

    async def mark_deleted(self, project: str, file_id: str, now: int) -> bool:
        async with self.db.write() as conn:
            result = await conn.execute(
                update(files)
                .where(files.c.id == file_id, self._visible(project, now))
                .values(deleted_at=now)
            )
        return result.rowcount == 1

    async def expire_due(self, now: int, limit: int = 100) -> list[str]:
        """Mark files whose ``expires_at`` passed as deleted; their ids, for removing bytes."""
        async with self.db.write() as conn:
            ids_ = (
                await conn.execute(
                    select(files.c.id)
                    .where(
                        files.c.deleted_at.is_(None),
                        files.c.expires_at.is_not(None),
                        files.c.expires_at <= now,
                    )
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            ).scalars().all()
            if ids_:
                await conn.execute(
                    update(files).where(files.c.id.in_(list(ids_))).values(deleted_at=now)
                )
        return list(ids_)
