"""The queue on SQLite: claim order, attempt fencing, reaping, cancel, idempotent insert."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from vidserve import ids
from vidserve.domain import Video, VideoStatus
from vidserve.queue.jobs import JobQueue
from vidserve.store.database import Database, PreparedRead, migrate
from vidserve.store.tables import videos
from vidserve.store.videos import _GET_VISIBLE, IdempotencyRecord, VideoStore


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    url = f"sqlite:///{tmp_path / 'q.db'}"
    await asyncio.to_thread(migrate, url)
    database = Database(url)
    yield database
    await database.close()


def _video(model: str = "sora-2", project: str = "p") -> Video:
    return Video(
        id=ids.new_video_id(), project=project, model=model, status=VideoStatus.QUEUED,
        progress=0, created_at=1000, prompt="x", size="720x1280", seconds=4, seed=7,
    )


async def test_claim_oldest_first_and_only_served_models(db: Database) -> None:
    store, queue = VideoStore(db), JobQueue(db)
    a, b, c = _video(), _video("other"), _video()
    for n, v in enumerate((a, b, c)):
        await store.insert(v, created_ns=n)
    first = await queue.claim("w", ["sora-2"], 10, now=0)
    second = await queue.claim("w", ["sora-2"], 10, now=0)
    assert first is not None and second is not None
    assert (first.video.id, second.video.id) == (a.id, c.id)
    assert first.attempt == 1 and first.video.status is VideoStatus.IN_PROGRESS
    assert await queue.claim("w", ["sora-2"], 10, now=0) is None
    other = await queue.claim("w", None, 10, now=0)
    assert other is not None and other.video.id == b.id


async def test_stale_attempt_is_fenced_off(db: Database) -> None:
    store, queue = VideoStore(db), JobQueue(db)
    v = _video()
    await store.insert(v, created_ns=0)
    old = await queue.claim("w1", None, lease_seconds=5, now=0)
    assert old is not None
    reaped = await queue.reap(now=6, max_attempts=3)  # w1 looks dead: lease expired
    assert reaped.requeued == [v.id]
    new = await queue.claim("w2", None, lease_seconds=5, now=6)
    assert new is not None and new.attempt == 2
    # w1 wakes up (SIGSTOP/SIGCONT): every write of attempt 1 is refused
    assert not (await queue.heartbeat(v.id, 1, 50, 5, now=7)).alive
    assert not await queue.complete(v.id, 1, now=7, expires_after=3600)
    assert not await queue.fail(v.id, 1, "x", "y", now=7)
    assert (await queue.heartbeat(v.id, 2, 40, 5, now=7)).alive
    assert await queue.complete(v.id, 2, now=8, expires_after=3600)
    done = await store.get("p", v.id)
    assert done is not None and done.status is VideoStatus.COMPLETED
    assert done.assets_attempt == 2 and done.expires_at == 8 + 3600 and done.progress == 100
    assert not await queue.complete(v.id, 2, now=9, expires_after=3600)  # never twice


async def test_reaper_gives_up_after_max_attempts(db: Database) -> None:
    store, queue = VideoStore(db), JobQueue(db)
    v = _video()
    await store.insert(v, created_ns=0)
    for attempt in (1, 2):
        claim = await queue.claim("w", None, 1, now=attempt * 10)
        assert claim is not None and claim.attempt == attempt
        reaped = await queue.reap(now=attempt * 10 + 2, max_attempts=2)
    assert reaped.failed == [v.id] and reaped.requeued == []
    row = await store.get("p", v.id)
    assert row is not None and row.status is VideoStatus.FAILED
    assert row.error_code == "worker_lost"


async def test_live_lease_is_not_reaped(db: Database) -> None:
    store, queue = VideoStore(db), JobQueue(db)
    v = _video()
    await store.insert(v, created_ns=0)
    await queue.claim("w", None, 5, now=0)
    await queue.heartbeat(v.id, 1, 10, 5, now=4)  # renewed until 9
    assert (await queue.reap(now=8, max_attempts=3)).requeued == []


async def test_cancel_reaches_heartbeat_and_blocks_completion(db: Database) -> None:
    store, queue = VideoStore(db), JobQueue(db)
    v = _video()
    await store.insert(v, created_ns=0)
    await queue.claim("w", None, 5, now=0)
    before = await store.mark_deleted("p", v.id, now=1)
    assert before is not None and before.status is VideoStatus.IN_PROGRESS
    beat = await queue.heartbeat(v.id, 1, 20, 5, now=1)
    assert beat.alive and beat.cancel
    assert not await queue.complete(v.id, 1, now=2, expires_after=None)
    assert await store.get("p", v.id) is None  # hidden from the client at once
    # a crashed worker's cancelled job is failed by the reaper, never re-queued
    reaped = await queue.reap(now=100, max_attempts=3)
    assert reaped.failed == [v.id]


async def test_idempotent_insert_returns_first_job(db: Database) -> None:
    store = VideoStore(db)
    first, second = _video(), _video()
    rec = IdempotencyRecord("key-1", "hash-a")
    assert (await store.insert(first, 0, rec)).created
    again = await store.insert(second, 1, rec)
    assert not again.created and again.video.id == first.id and again.request_hash_matches
    other = await store.insert(_video(), 2, IdempotencyRecord("key-1", "hash-b"))
    assert not other.created and not other.request_hash_matches
    # keys are per project
    assert (await store.insert(_video(project="q"), 3, rec)).created


async def test_concurrent_claims_never_share_a_job(db: Database, tmp_path: Path) -> None:
    store = VideoStore(db)
    videos = [_video() for _ in range(20)]
    for n, v in enumerate(videos):
        await store.insert(v, created_ns=n)
    others = [Database(db.url) for _ in range(4)]
    try:
        queues = [JobQueue(d) for d in others]

        async def drain(q: JobQueue, name: str) -> list[str]:
            got = []
            while (claim := await q.claim(name, None, 30, now=0)) is not None:
                got.append(claim.video.id)
            return got

        results = await asyncio.gather(*(drain(q, f"w{i}") for i, q in enumerate(queues)))
    finally:
        for d in others:
            await d.close()
    claimed = [vid for r in results for vid in r]
    assert sorted(claimed) == sorted(v.id for v in videos)
    assert len(set(claimed)) == len(claimed)


async def test_list_pages_are_stable(db: Database) -> None:
    store = VideoStore(db)
    videos = [_video() for _ in range(5)]
    for v in videos:
        await store.insert(v, created_ns=42)  # same timestamp: ids break the tie
    seen: list[str] = []
    after = None
    while True:
        page = await store.list_page("p", limit=2, order="asc", after=after)
        seen += [v.id for v in page.videos]
        if not page.has_more:
            break
        after = page.videos[-1]
    assert seen == sorted(v.id for v in videos)
    assert (await store.list_page("other", limit=10, order="desc", after=None)).videos == []


async def test_concurrent_idempotent_inserts_give_one_job(db: Database) -> None:
    """Same key from several connections at once: one job, the others get it back (no error)."""
    rec = IdempotencyRecord("race-key", "hash-a")
    others = [Database(db.url) for _ in range(4)]
    try:
        results = await asyncio.gather(
            *(VideoStore(d).insert(_video(), n, rec) for n, d in enumerate(others))
        )
    finally:
        for d in others:
            await d.close()
    assert sum(r.created for r in results) == 1
    assert len({r.video.id for r in results}) == 1


async def test_a_reused_read_answers_until_any_connection_commits(tmp_path: Path) -> None:
    """The poll read is answered again (the same frozen object) while nothing is committed;
    a commit by the API's own writer, or by another process's connection (a second
    ``Database`` on the same file here: a worker), is seen by the very next read."""
    url = f"sqlite:///{tmp_path / 'reuse.db'}"
    await asyncio.to_thread(migrate, url)
    api, worker = Database(url), Database(url)
    try:
        store, queue = VideoStore(api), JobQueue(worker)
        v = _video()
        await store.insert(v, created_ns=0)
        first = await store.get("p", v.id)
        assert first is not None and first.status is VideoStatus.QUEUED
        assert await store.get("p", v.id) is first  # nothing committed: not read again
        claim = await queue.claim("w", None, 10, now=0)  # the other process commits
        assert claim is not None
        seen = await store.get("p", v.id)
        assert seen is not None and seen is not first and seen.status is VideoStatus.IN_PROGRESS
        await queue.heartbeat(v.id, claim.video.attempt, 40, 10, now=1)
        progressed = await store.get("p", v.id)
        assert progressed is not None and progressed.progress == 40
        assert await store.get("other project", v.id) is None  # the key holds the project
        await store.insert(_video(), created_ns=1)  # this process's writer commits
        again = await store.get("p", v.id)
        assert again == progressed and again is not progressed
    finally:
        await api.close()
        await worker.close()


async def test_a_prepared_read_returns_what_sqlalchemy_returns(db: Database) -> None:
    """The hot read (``VideoStore.get``) runs on the SQLite driver's cursor: the same row, by
    column name with the columns' own result processing, as SQLAlchemy's execution gives."""
    store = VideoStore(db)
    v = _video()
    await store.insert(v, created_ns=0)
    claim = await JobQueue(db).claim("w", None, 10, now=0)  # booleans, numbers, NULLs set
    assert claim is not None
    prepared = await store.get("p", v.id)
    row = await db.fetch_first(select(videos).where(videos.c.id == v.id))
    assert row is not None
    as_dict = PreparedRead(_GET_VISIBLE.statement, dict)
    fast = await db.first(as_dict, {"video_id": v.id, "project": "p"})
    assert fast == dict(row._mapping)
    assert fast is not None and fast["cancel_requested"] is False  # SQLite's 0, as a bool
    assert prepared == claim.video
    assert await store.get("other project", v.id) is None
    assert await store.get("p", ids.new_video_id()) is None
