"""The store and queue on PostgreSQL: the SQLite queue tests again (imported, not copied),
plus what only PostgreSQL does: migrations, SKIP LOCKED under many claimers, NOTIFY on create
and requeue, the reaper's advisory lock, NUL in text, transient-error detection."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import tests.unit.test_queue as sqlite_queue_tests
from tests.scaleout.infra import Postgres
from vidserve.queue.jobs import REAPER_LOCK, JobQueue
from vidserve.queue.wakeup import PgWakeup
from vidserve.store.database import (
    JOBS_CHANNEL,
    Database,
    connect_asyncpg,
    is_transient,
    migrate,
)
from vidserve.store.tables import metadata
from vidserve.store.videos import VideoStore

_video = sqlite_queue_tests._video

# The queue tests of tests/unit/test_queue.py, run here against PostgreSQL through the ``db``
# fixture below (pytest collects the imported functions as tests of this module).
test_claim_oldest_first_and_only_served_models = (
    sqlite_queue_tests.test_claim_oldest_first_and_only_served_models
)
test_stale_attempt_is_fenced_off = sqlite_queue_tests.test_stale_attempt_is_fenced_off
test_reaper_gives_up_after_max_attempts = sqlite_queue_tests.test_reaper_gives_up_after_max_attempts
test_live_lease_is_not_reaped = sqlite_queue_tests.test_live_lease_is_not_reaped
test_cancel_reaches_heartbeat_and_blocks_completion = (
    sqlite_queue_tests.test_cancel_reaches_heartbeat_and_blocks_completion
)
test_idempotent_insert_returns_first_job = (
    sqlite_queue_tests.test_idempotent_insert_returns_first_job
)
test_concurrent_claims_never_share_a_job = (
    sqlite_queue_tests.test_concurrent_claims_never_share_a_job
)
test_list_pages_are_stable = sqlite_queue_tests.test_list_pages_are_stable
test_concurrent_idempotent_inserts_give_one_job = (
    sqlite_queue_tests.test_concurrent_idempotent_inserts_give_one_job
)


@pytest.fixture
async def db(postgres_cluster: Postgres) -> AsyncIterator[Database]:
    url = postgres_cluster.create_database("q")
    await asyncio.to_thread(migrate, url)
    database = Database(url)
    yield database
    await database.close()


def test_migrations_match_metadata_on_postgres(postgres_cluster: Postgres) -> None:
    import sqlalchemy

    url = postgres_cluster.create_database("m")
    migrate(url)
    migrate(url)  # idempotent

    async def diff() -> list[object]:
        engine = Database(url).engine
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(
                    lambda sync: compare_metadata(MigrationContext.configure(sync), metadata)
                )
        finally:
            await engine.dispose()

    assert asyncio.run(diff()) == []
    assert sqlalchemy.__version__  # the sync driver is not needed anywhere


def test_concurrent_migrations_take_turns(postgres_cluster: Postgres, tmp_path: Path) -> None:
    """Replicas starting at once against an empty database all succeed."""
    import subprocess
    import sys

    url = postgres_cluster.create_database("mc")
    env = {"VIDSERVE_DATABASE_URL": url, "VIDSERVE_DATA_DIR": str(tmp_path), "PATH": "/usr/bin"}
    procs = [
        subprocess.Popen([sys.executable, "-m", "vidserve", "migrate"], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=120)[0].decode() for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs


async def test_many_claimers_skip_locked(db: Database) -> None:
    """Twelve connections claim 60 jobs at once: each job exactly once, none left."""
    store = VideoStore(db)
    jobs = [_video() for _ in range(60)]
    for n, v in enumerate(jobs):
        await store.insert(v, created_ns=n)
    queues = [JobQueue(Database(db.url)) for _ in range(12)]
    try:
        async def drain(q: JobQueue, name: str) -> list[str]:
            got = []
            while (claim := await q.claim(name, None, 30, now=0)) is not None:
                got.append(claim.video.id)
            return got

        results = await asyncio.gather(*(drain(q, f"w{i}") for i, q in enumerate(queues)))
    finally:
        for q in queues:
            await q.db.close()
    claimed = [vid for r in results for vid in r]
    assert sorted(claimed) == sorted(v.id for v in jobs)
    assert sum(1 for r in results if r) > 1  # they really ran side by side


async def test_create_and_requeue_notify_listeners(db: Database) -> None:
    conn = await connect_asyncpg(db.url)
    heard: list[str] = []
    await conn.add_listener(JOBS_CHANNEL, lambda *args: heard.append(args[3]))
    try:
        store, queue = VideoStore(db), JobQueue(db)
        v = _video(model="sora-2-pro")
        await store.insert(v, created_ns=0)
        claim = await queue.claim("w", None, 1, now=0)
        assert claim is not None
        await queue.reap(now=5, max_attempts=3)  # lease expired: back in the queue
        claim = await queue.claim("w", None, 1, now=5)
        assert claim is not None
        await queue.release(v.id, claim.attempt)  # drain hands it back
        for _ in range(50):
            if len(heard) >= 3:
                break
            await asyncio.sleep(0.02)
        assert heard == ["sora-2-pro", "sora-2-pro", "sora-2-pro"]
    finally:
        await conn.close()


async def test_only_becoming_queued_notifies(db: Database) -> None:
    """The schema's trigger fires when a row enters the queue, not on other changes."""
    store, queue = VideoStore(db), JobQueue(db)
    v = _video()
    await store.insert(v, created_ns=0)
    conn = await connect_asyncpg(db.url)
    heard: list[str] = []
    await conn.add_listener(JOBS_CHANNEL, lambda *args: heard.append(args[3]))
    try:
        claim = await queue.claim("w", None, 10, now=0)
        assert claim is not None
        await queue.heartbeat(v.id, claim.attempt, 50, 10, now=1)
        assert await queue.complete(v.id, claim.attempt, now=2, expires_after=None)
        await asyncio.sleep(0.2)
        assert heard == []
    finally:
        await conn.close()


async def test_rolled_back_insert_does_not_notify(db: Database) -> None:
    conn = await connect_asyncpg(db.url)
    heard: list[str] = []
    await conn.add_listener(JOBS_CHANNEL, lambda *args: heard.append(args[3]))
    try:
        store = VideoStore(db)
        v = _video()
        await store.insert(v, created_ns=0)
        with pytest.raises(Exception):  # noqa: B017 - the duplicate key, whatever its class
            await store.insert(v, created_ns=1)
        await asyncio.sleep(0.2)
        assert heard == ["sora-2"]  # the failed transaction's NOTIFY was never sent
    finally:
        await conn.close()


async def test_wakeup_is_fast_and_filters_models(db: Database) -> None:
    wakeup = PgWakeup(db, ["sora-2"], poll=0.25, listen_poll=30)
    await wakeup.start()
    try:
        assert wakeup.listening
        store = VideoStore(db)
        seen = wakeup.generation
        await store.insert(_video(model="other-model"), created_ns=0)
        # not for us: no wake-up within 0.3 s
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(wakeup.wait(seen), 0.3)
        started = time.monotonic()
        waiter = asyncio.create_task(wakeup.wait(seen))
        await asyncio.sleep(0.05)
        created = time.monotonic()
        await store.insert(_video(model="sora-2"), created_ns=1)
        assert await asyncio.wait_for(waiter, 2.0) is True
        latency = time.monotonic() - created
        assert latency < 0.5, latency
        assert time.monotonic() - started < 2
    finally:
        await wakeup.close()


async def test_wakeup_survives_a_database_restart(
    postgres_cluster: Postgres, db: Database
) -> None:
    wakeup = PgWakeup(db, None, poll=0.1, listen_poll=30)
    await wakeup.start()
    try:
        assert wakeup.listening and wakeup.reconnects == 1
        await asyncio.to_thread(postgres_cluster.restart)
        # while it reconnects the waits fall back to the short poll, then it listens again
        for _ in range(200):
            if wakeup.listening and wakeup.reconnects >= 2:
                break
            await asyncio.sleep(0.05)
        assert wakeup.listening and wakeup.reconnects >= 2
        seen = wakeup.generation
        waiter = asyncio.create_task(wakeup.wait(seen))
        await asyncio.sleep(0.05)
        await VideoStore(db).insert(_video(), created_ns=0)  # the pool reconnects too
        assert await asyncio.wait_for(waiter, 2.0) is True
    finally:
        await wakeup.close()


async def test_reaper_runs_one_replica_at_a_time(db: Database) -> None:
    store, queue = VideoStore(db), JobQueue(db)
    v = _video()
    await store.insert(v, created_ns=0)
    assert await queue.claim("w", None, 1, now=0) is not None
    other = await connect_asyncpg(db.url)
    try:
        await other.execute("BEGIN")
        assert await other.fetchval("SELECT pg_try_advisory_xact_lock($1)", REAPER_LOCK)
        busy = await queue.reap(now=10, max_attempts=3)  # another replica is reaping
        assert busy.skipped and busy.requeued == [] and busy.failed == []
        await other.execute("COMMIT")
    finally:
        await other.close()
    done = await queue.reap(now=10, max_attempts=3)
    assert not done.skipped and done.requeued == [v.id]
    # many replicas at once: the job is requeued exactly once
    claim = await queue.claim("w", None, 1, now=10)
    assert claim is not None
    replicas = [JobQueue(Database(db.url)) for _ in range(6)]
    try:
        rounds = await asyncio.gather(*(q.reap(now=20, max_attempts=3) for q in replicas))
    finally:
        for q in replicas:
            await q.db.close()
    assert sum(len(r.requeued) for r in rounds) == 1


async def test_nul_in_prompt_round_trips(db: Database) -> None:
    store = VideoStore(db)
    for prompt in ("nul\x00byte", "\x01json:looks like the marker", "plain"):
        v = replace(_video(), prompt=prompt)
        await store.insert(v, created_ns=0)
        got = await store.get("p", v.id)
        assert got is not None and got.prompt == prompt
    # stored as is when there is no NUL: other tools reading the table see the text
    rows = await db.fetch_all(metadata.tables["videos"].select())
    assert "plain" in [r.prompt for r in rows]


async def test_connection_errors_are_transient(postgres_cluster: Postgres) -> None:
    dead = Database(postgres_cluster.url().replace(str(postgres_cluster.port), "1"))
    try:
        with pytest.raises(Exception) as info:
            await dead.scalar(metadata.tables["videos"].select())
        assert is_transient(info.value)
    finally:
        await dead.close()
    assert not is_transient(ValueError("a bug"))


async def test_a_frozen_transaction_does_not_stall_the_reaper(postgres_cluster: Postgres) -> None:
    """A worker stopped in the middle of a heartbeat transaction holds its row lock: the
    reaper skips that row (the others are reaped at once) and the server ends the frozen
    session after the idle-in-transaction timeout, so the row is reaped next."""
    url = postgres_cluster.create_database("frz")
    await asyncio.to_thread(migrate, url)
    db = Database(url, idle_in_transaction_timeout=1.0)
    try:
        store, queue = VideoStore(db), JobQueue(db)
        frozen, crashed = _video(), _video()
        for n, v in enumerate((frozen, crashed)):
            await store.insert(v, created_ns=n)
            assert await queue.claim("w", None, 1, now=0) is not None
        # the "frozen worker": a session of the same engine, stopped inside a transaction
        async with db.engine.connect() as conn:
            await conn.begin()
            await conn.exec_driver_sql(
                f"UPDATE videos SET progress = 5 WHERE id = '{frozen.id}'"
            )
            started = time.monotonic()
            reaped = await asyncio.wait_for(queue.reap(now=10, max_attempts=3), 5)
            assert time.monotonic() - started < 1.0  # not blocked behind the lock
            assert reaped.requeued == [crashed.id]
            await asyncio.sleep(1.5)  # past the timeout: the server ends that session
            done = await queue.reap(now=10, max_attempts=3)
            assert done.requeued == [frozen.id]
            with pytest.raises(Exception):  # noqa: B017 - the session is gone
                await conn.exec_driver_sql("SELECT 1")
    finally:
        await db.close()
