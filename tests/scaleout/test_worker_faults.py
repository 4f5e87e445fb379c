"""The worker against infrastructure faults, in-process (SQLite + memory storage, fast):
a commit whose reply is lost, a database that does not answer for a while, a bucket that
does not answer, and the ``--concurrency`` slots."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from vidserve import ids
from vidserve.domain import VideoStatus
from vidserve.runtime import Runtime
from vidserve.service.videos import CreateVideo
from vidserve.settings import load_settings
from vidserve.store.blobs import BlobUnavailable
from vidserve.store.database import migrate
from vidserve.worker.runner import Worker


@pytest.fixture
async def rt(tmp_path: Path) -> AsyncIterator[Runtime]:
    settings = load_settings(
        data_dir=tmp_path, storage_url="memory://", lease_seconds=2, poll_interval_seconds=0.05,
        storage_retry_seconds=2.5, max_attempts=2, x264_preset="ultrafast",
        worker_concurrency=1,
    )
    await asyncio.to_thread(migrate, settings.database_url)
    runtime = Runtime.open(settings)
    yield runtime
    await runtime.close()


async def _create(rt: Runtime, n: int = 1) -> list[str]:
    made = []
    for i in range(n):
        video = await rt.video_service.create(
            "default", CreateVideo(prompt=f"fault {i}", model="sora-2", seconds=4, size="720x1280")
        )
        made.append(video.id)
    return made


def _lost_connection() -> OperationalError:
    return OperationalError("COMMIT", {}, ConnectionResetError("connection reset"),
                            connection_invalidated=True)


async def test_commit_whose_reply_is_lost_keeps_the_files(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """complete() commits, then the connection drops before the reply: the worker must not
    take the files of what is in fact the winning attempt away."""
    (vid,) = await _create(rt)
    real_complete = rt.queue.complete

    async def complete_then_drop(*args: Any, **kwargs: Any) -> bool:
        await real_complete(*args, **kwargs)
        raise _lost_connection()

    monkeypatch.setattr(rt.queue, "complete", complete_then_drop)
    await Worker(rt, reaper=False).run(max_jobs=1)
    video = await rt.video_store.get_any(vid)
    assert video is not None and video.status is VideoStatus.COMPLETED
    assert video.assets_attempt == 1
    assert (await rt.blob_store.head(ids.asset_key(vid, 1, "video"))).size > 0


async def test_database_down_at_the_finish_is_retried(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    (vid,) = await _create(rt)
    real_complete = rt.queue.complete
    failures = {"left": 3}

    async def flaky_complete(*args: Any, **kwargs: Any) -> bool:
        if failures["left"]:
            failures["left"] -= 1
            raise _lost_connection()
        return await real_complete(*args, **kwargs)

    monkeypatch.setattr(rt.queue, "complete", flaky_complete)
    await Worker(rt, reaper=False).run(max_jobs=1)
    video = await rt.video_store.get_any(vid)
    assert video is not None and video.status is VideoStatus.COMPLETED
    assert failures["left"] == 0


async def test_bucket_blip_during_upload_is_waited_out(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    (vid,) = await _create(rt)
    real_put = rt.blob_store.put_file
    failures = {"left": 2}

    async def flaky_put(key: str, path: Path) -> None:
        if failures["left"]:
            failures["left"] -= 1
            raise BlobUnavailable("connection refused")
        await real_put(key, path)

    monkeypatch.setattr(rt.blob_store, "put_file", flaky_put)
    await Worker(rt, reaper=False).run(max_jobs=1)
    video = await rt.video_store.get_any(vid)
    assert video is not None and video.status is VideoStatus.COMPLETED and video.attempt == 1


async def test_bucket_down_hands_the_job_back_then_fails_it(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    (vid,) = await _create(rt)

    async def down(key: str, path: Path) -> None:
        raise BlobUnavailable("connection refused")

    monkeypatch.setattr(rt.blob_store, "put_file", down)
    started = time.monotonic()
    await Worker(rt, reaper=False).run(max_jobs=1)
    assert time.monotonic() - started < 15  # STORAGE_RETRY_SECONDS bounds the waiting
    video = await rt.video_store.get_any(vid)
    assert video is not None and video.status is VideoStatus.QUEUED  # another attempt
    assert video.attempt == 1 and video.lease_owner is None
    await Worker(rt, reaper=False).run(max_jobs=1)  # attempt 2 of MAX_ATTEMPTS=2
    video = await rt.video_store.get_any(vid)
    assert video is not None and video.status is VideoStatus.FAILED
    assert video.error_code == "storage_unavailable" and video.attempt == 2
    assert video.error_message and "storage bucket" in video.error_message


async def test_concurrency_runs_jobs_side_by_side_and_max_jobs_holds(rt: Runtime) -> None:
    made = await _create(rt, 4)
    worker = Worker(rt, reaper=False, concurrency=3)
    seen_running: list[int] = []

    async def watch() -> None:
        while True:
            seen_running.append(len(worker.running))
            await asyncio.sleep(0.02)

    watcher = asyncio.create_task(watch())
    await worker.run(max_jobs=3)
    watcher.cancel()
    assert max(seen_running) == 3
    assert worker.jobs_done == 3
    statuses = [(await rt.video_store.get_any(v)).status for v in made]  # type: ignore[union-attr]
    assert statuses.count(VideoStatus.COMPLETED) == 3
    assert statuses.count(VideoStatus.QUEUED) == 1
