"""Benchmark: CPU time per ``GET /v1/videos/{id}`` inside the API process, against a bare
Starlette app returning the same JSON, in the same process.

``bench/api_throughput.py`` measures requests/s over sockets, which on a loaded machine mostly
measures the machine. This one is load-robust: it counts CPU seconds (``time.process_time``,
every thread of this process) and never touches a socket, so other processes' load changes it
little. What it measures is the API's own per-request cost (middleware, routing, auth, the
SQLite read, the JSON); what it leaves out is the HTTP server (uvicorn's parsing and writing).

What it does:

1. Migrates a SQLite database in a temporary data dir and starts the real app
   (``create_app(settings, embedded_worker=False)``) with its lifespan (runtime, reaper,
   webhook dispatcher, retention collector) on this event loop; no worker.
2. Creates one video through the service and completes it through the queue (claim, then
   complete), as a worker would: that is the object every request GETs. Dev mode (no key),
   as ``api_throughput.py`` runs by default.
3. Builds a bare Starlette app serving that video's exact JSON body at the same path
   (``JSONResponse`` of the same dict, so JSON encoding is paid by both).
4. Calls each app's ASGI callable directly with an HTTP scope like uvicorn's, alternating
   rounds (bare, then vidserve) ``--rounds`` times, ``--requests`` requests each after a
   warm-up, checking every response's status (and the body once).
5. Prints per-round and median microseconds of CPU per request and the ratio bare / vidserve
   (reads like the throughput bench's ratio). ``--profile`` then runs one extra, unmeasured
   vidserve round under cProfile and prints its top entries.

    python bench/api_hot_path.py [--rounds 7] [--requests 3000] [--profile] [--top 30]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import pstats
import statistics
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from vidserve.api.app import create_app
from vidserve.runtime import Runtime
from vidserve.service.videos import CreateVideo
from vidserve.settings import Settings
from vidserve.store.database import migrate

ASGI = Callable[[dict[str, Any], Any, Any], Coroutine[Any, Any, None]]
HEADERS = [
    (b"host", b"127.0.0.1:8000"),
    (b"user-agent", b"bench/api_hot_path"),
    (b"accept", b"*/*"),
    (b"authorization", b"Bearer sk-bench-0123456789abcdef"),
]


class Lifespan:
    """Runs an ASGI app's lifespan on the current loop, as a server would."""

    def __init__(self, app: ASGI) -> None:
        self.app = app
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.started = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def _send(self, message: dict[str, Any]) -> None:
        if message["type"] == "lifespan.startup.failed":
            raise RuntimeError(message.get("message", "lifespan startup failed"))
        if message["type"] == "lifespan.startup.complete":
            self.started.set()

    async def __aenter__(self) -> Lifespan:
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        self.task = asyncio.create_task(self.app(scope, self.inbox.get, self._send))
        await self.inbox.put({"type": "lifespan.startup"})
        await asyncio.wait_for(self.started.wait(), 60)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.inbox.put({"type": "lifespan.shutdown"})
        assert self.task is not None
        await asyncio.wait_for(self.task, 60)


async def completed_video(rt: Runtime) -> str:
    project = await rt.authorize(HEADERS[-1][1].decode())
    video = await rt.video_service.create(
        project, CreateVideo(prompt="a paper boat", model="sora-2", seconds=4, size="720x1280")
    )
    claim = await rt.queue.claim("bench-hot-path", None, rt.settings.lease_seconds, rt.clock())
    assert claim is not None and claim.video.id == video.id
    done = await rt.queue.complete(
        video.id, claim.attempt, rt.clock(), rt.settings.expires_after_seconds
    )
    assert done, "the completion was refused"
    return video.id


class Caller:
    """Calls an ASGI app with a fresh HTTP scope per request, like uvicorn's."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.raw_path = path.encode()
        self.status = 0
        self.body = b""

    def scope(self) -> dict[str, Any]:
        return {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "server": ("127.0.0.1", 8000),
            "client": ("127.0.0.1", 50000),
            "scheme": "http",
            "method": "GET",
            "root_path": "",
            "path": self.path,
            "raw_path": self.raw_path,
            "query_string": b"",
            "headers": list(HEADERS),
            "state": {},
        }

    async def receive(self) -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.body = b""
        elif message["type"] == "http.response.body":
            self.body += message.get("body", b"")

    async def run(self, app: ASGI, n: int) -> float:
        """CPU seconds per request over ``n`` requests."""
        t0 = time.process_time()
        for _ in range(n):
            await app(self.scope(), self.receive, self.send)
            if self.status != 200:
                raise AssertionError(f"status {self.status}: {self.body[:300]!r}")
        return (time.process_time() - t0) / n


def bare_app(path: str, body: dict[str, Any]) -> Starlette:
    async def retrieve(request: Request) -> JSONResponse:
        return JSONResponse(body)

    return Starlette(routes=[Route(path.rsplit("/", 1)[0] + "/{video_id}", retrieve)])


async def main(args: argparse.Namespace, settings: Settings) -> None:
    app = create_app(settings, embedded_worker=False)
    async with Lifespan(app):
        rt: Runtime = app.state.runtime
        video_id = await completed_video(rt)
        caller = Caller(f"/v1/videos/{video_id}")
        await caller.run(app, 1)
        body = json.loads(caller.body)
        assert body["status"] == "completed", body
        bare = bare_app(caller.path, body)
        await caller.run(bare, 1)
        assert json.loads(caller.body) == body, "the bare app serves another body"
        for target in (bare, app):  # warm-up: imports, caches, the SQLite page cache
            await caller.run(target, max(200, args.requests // 10))

        print(f"GET {caller.path}: {args.rounds} rounds x {args.requests} requests each")
        bare_us: list[float] = []
        ours_us: list[float] = []
        for i in range(args.rounds):
            bare_us.append(await caller.run(bare, args.requests) * 1e6)
            ours_us.append(await caller.run(app, args.requests) * 1e6)
            print(
                f"round {i + 1}: bare {bare_us[-1]:7.1f} us   vidserve {ours_us[-1]:7.1f} us"
                f"   ratio {bare_us[-1] / ours_us[-1]:.2f}x"
            )
        bare_median, ours_median = statistics.median(bare_us), statistics.median(ours_us)
        print(
            f"median CPU per request: bare Starlette {bare_median:.1f} us, "
            f"vidserve {ours_median:.1f} us"
        )
        print(f"ratio (bare / vidserve): {bare_median / ours_median:.2f}x")

        if args.profile:
            profile = cProfile.Profile()
            profile.enable()
            await caller.run(app, args.requests)
            profile.disable()
            out = io.StringIO()
            stats = pstats.Stats(profile, stream=out)
            stats.sort_stats("tottime").print_stats(args.top)
            stats.sort_stats("cumulative").print_stats(args.top)
            print(f"\ncProfile of one vidserve round ({args.requests} requests):")
            print(out.getvalue())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--profile", action="store_true", help="cProfile one extra round")
    parser.add_argument("--top", type=int, default=30, help="profile entries to print")
    arguments = parser.parse_args()
    if arguments.rounds < 1 or arguments.requests < 1:
        parser.error("--rounds and --requests must be positive")
    data_dir = Path(tempfile.mkdtemp(prefix="vidserve-bench-hot-"))
    bench_settings = Settings(data_dir=data_dir)
    migrate(bench_settings.database_url)  # Alembic runs a loop of its own: before ours
    asyncio.run(main(arguments, bench_settings))
