"""Worker heartbeats (the ``workers`` table): every worker upserts its row every few seconds.

A row whose ``last_beat`` is older than the staleness the reader asks for is a dead worker
(killed, frozen, its machine gone); rows are removed when a worker stops cleanly and pruned
after a day otherwise.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from sqlalchemy import delete, insert, select, update

from vidserve.settings import Settings
from vidserve.store.database import Database
from vidserve.store.tables import workers

PRUNE_AFTER = 24 * 3600.0


def worker_stale_after(settings: Settings) -> float:
    """A worker silent for longer than this is dead: one lease (it beats thrice a lease)."""
    return max(settings.lease_seconds, 1.0)


@dataclass(frozen=True, slots=True)
class GroupInfo:
    """A model the worker serves on a group of devices (:mod:`vidserve.worker.group`)."""

    model: str
    ranks: int
    state: str  # starting | ready | restarting | unavailable | stopped
    restarts: int
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class WorkerBeat:
    id: str
    host: str
    pid: int
    models: tuple[str, ...]
    current_job: tuple[str, ...]
    started_at: float
    last_beat: float
    groups: tuple[GroupInfo, ...] = ()

    def alive(self, now: float, stale_after: float) -> bool:
        return now - self.last_beat <= stale_after


class WorkerStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def beat(self, beat: WorkerBeat) -> None:
        values = {
            "host": beat.host,
            "pid": beat.pid,
            "models": ",".join(beat.models),
            "current_job": ",".join(beat.current_job) or None,
            "started_at": beat.started_at,
            "last_beat": beat.last_beat,
            "groups": json.dumps([asdict(g) for g in beat.groups]) if beat.groups else None,
        }
        async with self.db.write() as conn:
            updated = await conn.execute(
                update(workers).where(workers.c.id == beat.id).values(**values)
            )
            if updated.rowcount == 0:
                await conn.execute(insert(workers).values(id=beat.id, **values))
            await conn.execute(delete(workers).where(workers.c.last_beat < beat.last_beat
                                                     - PRUNE_AFTER))

    async def remove(self, worker_id: str) -> None:
        async with self.db.write() as conn:
            await conn.execute(delete(workers).where(workers.c.id == worker_id))

    async def all(self) -> list[WorkerBeat]:
        rows = await self.db.fetch_all(select(workers).order_by(workers.c.host, workers.c.id))
        return [
            WorkerBeat(
                id=r.id,
                host=r.host,
                pid=r.pid,
                models=tuple(filter(None, r.models.split(","))),
                current_job=tuple(filter(None, (r.current_job or "").split(","))),
                started_at=r.started_at,
                last_beat=r.last_beat,
                groups=tuple(GroupInfo(**g) for g in json.loads(r.groups or "[]")),
            )
            for r in rows
        ]
