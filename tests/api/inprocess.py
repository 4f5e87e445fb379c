"""The real vidserve app in the test's own process, for the in-process API tier.

``InProcessServer`` builds the app with the public factory (``create_app(settings,
embedded_worker=False)``) and runs it, lifespan included, under Starlette's ``TestClient``:
the app gets an event loop in a thread of its own (a blocking portal) that every client of
this server shares, so the runtime's database engine and the background tasks (reaper,
webhook dispatcher, collector) live on one loop, as in a real server. There is no worker
and no socket: a job stays queued until a test drives it with :meth:`finish` or
:meth:`fail`, which claim it and record the outcome through the real queue and blob store,
as a worker would.

Storage is obstore's ``MemoryStore`` (``memory://``) and the database a SQLite file in a
temporary folder, unless the backend is ``postgres`` (a database of its own on the
test-suite's PostgreSQL and a prefix of its own in the S3 bucket, as for real servers).
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from openai import OpenAI
from starlette.testclient import TestClient

from tests.scaleout.infra import Backend
from vidserve import ids
from vidserve.api.app import create_app
from vidserve.domain import Claim, Size
from vidserve.media.encode import encode_video
from vidserve.runtime import Runtime
from vidserve.settings import Settings
from vidserve.store.database import migrate

T = TypeVar("T")

ORIGIN = "http://testserver"
BASE_URL = f"{ORIGIN}/v1"
WORKER_ID = "tests-in-process"

# what tests/servers.FAST_QUEUE gives real servers, where it matters without a worker
FAST = {"reaper_interval_seconds": 0.3, "poll_after_ms": 100, "x264_preset": "ultrafast"}


def settings_for(backend: Backend | None, data_dir: Path, **overrides: Any) -> Settings:
    """Settings of one in-process server: memory blobs and SQLite in ``data_dir`` (or the
    ``postgres`` backend's database and bucket prefix), plus ``overrides``."""
    values: dict[str, Any] = {"data_dir": data_dir, "storage_url": "memory://", **FAST}
    if backend is not None:
        for name, value in backend.env(data_dir).items():
            values[name.removeprefix("VIDSERVE_").lower()] = value
    values.update(overrides)
    return Settings(**values)


class InProcessServer:
    """The app under a ``TestClient``; ``with`` runs its lifespan (startup and shutdown)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app = create_app(settings, embedded_worker=False)
        self._main = TestClient(self.app, base_url=BASE_URL, follow_redirects=False)
        self._clients: list[TestClient] = []

    def __enter__(self) -> InProcessServer:
        migrate(self.settings.database_url)  # as `vidserve serve` does before it starts
        self._main.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        for client in self._clients:
            client.close()
        self._main.__exit__(*exc)

    @property
    def base_url(self) -> str:
        return BASE_URL

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime

    def http(self, api_key: str | None = None, headers: dict[str, str] | None = None,
             base_url: str = BASE_URL) -> TestClient:
        """An httpx client (a ``TestClient``) on this server's loop: ``api_key`` becomes the
        bearer header; with none, requests carry no ``Authorization`` at all."""
        all_headers = dict(headers or {})
        if api_key is not None:
            all_headers["Authorization"] = f"Bearer {api_key}"
        client = TestClient(
            self.app, base_url=base_url, headers=all_headers, follow_redirects=False
        )
        client.portal = self._main.portal  # this server's loop, not a loop per request
        self._clients.append(client)
        return client

    def sdk(self, api_key: str = "sk-in-process", **kwargs: Any) -> OpenAI:
        """The official ``openai`` SDK, its requests going straight into the app."""
        return OpenAI(base_url=BASE_URL, api_key=api_key, http_client=self.http(), **kwargs)

    def call(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run ``await fn(*args)`` on the app's event loop and return its result."""
        portal = self._main.portal
        assert portal is not None, "the server is not running (use it as a context manager)"
        return portal.call(fn, *args)

    # -- driving the queue, as a worker would -------------------------------------------------

    def finish(self, video_id: str) -> None:
        """Claim ``video_id`` and complete it: upload a short real clip at the video's size
        (MP4, thumbnail, spritesheet under ``ids.asset_key``) and record the completion."""
        self.call(self._finish, video_id)

    def fail(self, video_id: str, code: str, message: str) -> None:
        """Claim ``video_id`` and record a failure, as a worker whose job failed would."""
        self.call(self._fail, video_id, code, message)

    async def _claim(self, video_id: str) -> Claim:
        """Claim jobs oldest first until ``video_id``; the others go back to the queue."""
        queue, now = self.runtime.queue, self.runtime.clock()
        held: list[Claim] = []
        try:
            while True:
                claim = await queue.claim(WORKER_ID, None, self.settings.lease_seconds, now)
                if claim is None:
                    raise AssertionError(f"{video_id} is not waiting in the queue")
                if claim.video.id == video_id:
                    return claim
                held.append(claim)
        finally:
            for other in held:
                await queue.release(other.video.id, other.attempt)

    async def _finish(self, video_id: str) -> None:
        claim = await self._claim(video_id)
        size = Size.parse(claim.video.size)
        with tempfile.TemporaryDirectory(prefix="vidserve-inprocess-") as tmp:
            path = Path(tmp) / "video.mp4"
            clip = await asyncio.to_thread(_short_clip, path, size)
            blobs, attempt = self.runtime.blob_store, claim.attempt
            await blobs.put_file(ids.asset_key(video_id, attempt, "video"), path)
            await blobs.put_bytes(ids.asset_key(video_id, attempt, "thumbnail"), clip[0])
            await blobs.put_bytes(ids.asset_key(video_id, attempt, "spritesheet"), clip[1])
        done = await self.runtime.queue.complete(
            video_id, attempt, self.runtime.clock(), self.settings.expires_after_seconds
        )
        assert done, f"{video_id}: the completion was refused"

    async def _fail(self, video_id: str, code: str, message: str) -> None:
        claim = await self._claim(video_id)
        done = await self.runtime.queue.fail(
            video_id, claim.attempt, code, message, self.runtime.clock()
        )
        assert done, f"{video_id}: the failure was refused"


def _short_clip(path: Path, size: Size, frames: int = 8, fps: int = 8) -> tuple[bytes, bytes]:
    """One second of a colour ramp, encoded like the worker's output; (thumbnail, sprites)."""
    ramp = (
        np.full((size.height, size.width, 3), (40 + 20 * i, 80, 200 - 20 * i), dtype=np.uint8)
        for i in range(frames)
    )
    clip = encode_video(
        ramp, path, width=size.width, height=size.height, fps=fps, expected_frames=frames,
        preset="ultrafast",
    )
    return clip.thumbnail, clip.spritesheet
