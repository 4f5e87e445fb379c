"""``/metrics``, ``/healthz``, ``/readyz`` and the request metrics + access log middleware.

Where each number comes from (see docs/observability.md):

- HTTP requests and their latency: this process, by route *template* (``/v1/videos/{video_id}``,
  never the raw path, so the label set stays small) and status.
- Queue depth by model and status, the oldest queued job, failures by error code, busy workers:
  the database, read at scrape time (``vidserve.queue.stats``). With several API replicas each
  reports the same cluster-wide figures: aggregate them with ``max``, not ``sum``.
- Job wait and run time, denoising steps per second, GPU memory: the worker process
  (``vidserve.telemetry``). The embedded worker writes them into ``{data_dir}/metrics`` and
  they are merged in here; a scale-out worker serves them on its own ``--metrics-port``.

``/healthz`` says the process answers (liveness). ``/readyz`` checks the database, the
storage and the worker (the embedded child process is alive; with ``--no-worker`` the workers
live elsewhere and only the number busy is reported) and answers 503 if any check fails.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import re
import shutil
import threading
import time
from bisect import bisect_left
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vidserve import __version__
from vidserve import logging as vlog
from vidserve.api.errors import envelope
from vidserve.queue.stats import QueueStats
from vidserve.runtime import Runtime
from vidserve.settings import Settings
from vidserve.telemetry import embedded_metrics_dir
from vidserve.worker.embedded import WorkerSupervisor

log = logging.getLogger("vidserve.access")
# no *_created series: they double the output and nobody reads them
disable_created_metrics()  # type: ignore[no-untyped-call]

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
CHECK_TIMEOUT = 3.0
_VIDEO_IN_PATH = re.compile(r"^/v1/videos/(video_[0-9a-f]{48})(?:/|$)")
_VIDEO_IN_BODY = re.compile(rb'"id"\s*:\s*"(video_[0-9a-f]{48})"')
_QUIET_PATHS = frozenset({"/metrics", "/healthz", "/readyz"})


class HttpMetrics(Collector):
    """This process's request counts and latencies, in a registry of its own (one per app).

    Plain dicts, turned into metric families at scrape time: ``observe`` runs on every
    request, on the event loop's thread only, and costs a dict lookup, a bisect and three
    additions (prometheus_client's labelled metrics take a lock per value, several times
    more).
    """

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str, int], int] = {}
        # per (method, route): one count per bucket, the +Inf overflow, then the sum
        self.latency: dict[tuple[str, str], list[float]] = {}
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(self)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        self.counts[key] = self.counts.get(key, 0) + 1
        timings = self.latency.get((method, route))
        if timings is None:
            timings = self.latency[(method, route)] = [0.0] * (len(LATENCY_BUCKETS) + 2)
        timings[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        timings[-1] += seconds

    def collect(self) -> Iterable[Metric]:
        requests = CounterMetricFamily(
            "vidserve_http_requests",
            "HTTP requests answered, by method, route template and status.",
            labels=["method", "route", "status"],
        )
        for (method, route, status), count in sorted(self.counts.items()):
            requests.add_metric([method, route, str(status)], count)
        latency = HistogramMetricFamily(
            "vidserve_http_request_duration_seconds",
            "Time to answer an HTTP request (until the last body byte), by route template.",
            labels=["method", "route"],
        )
        for (method, route), timings in sorted(self.latency.items()):
            cumulative, buckets = 0.0, []
            for bound, in_bucket in zip(LATENCY_BUCKETS, timings, strict=False):
                cumulative += in_bucket
                buckets.append((floatToGoString(bound), cumulative))  # type: ignore[no-untyped-call]
            cumulative += timings[len(LATENCY_BUCKETS)]
            buckets.append(("+Inf", cumulative))
            latency.add_metric([method, route], buckets, sum_value=timings[-1])
        yield requests
        yield latency


_TEMPLATES: dict[int, str] = {}


def route_template(scope: Scope) -> str:
    """The matched route's path template, e.g. ``/v1/videos/{video_id}``; ``unmatched``."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path or "/"
    # FastAPI sets scope["route"] only for its own routes; plain Starlette routes (the fast
    # polling GET) and mounts (the studio's files) leave the endpoint they matched
    endpoint = scope.get("endpoint")
    if endpoint is None:
        return "unmatched"
    known = _TEMPLATES.get(id(endpoint))
    if known is not None:
        return known
    for candidate in getattr(scope.get("app"), "routes", ()):
        if getattr(candidate, "endpoint", None) is endpoint or getattr(
            candidate, "app", None
        ) is endpoint:
            template = str(candidate.path)
            if not hasattr(candidate, "endpoint"):  # a Mount: its path is a prefix
                template += "/{path}"
            _TEMPLATES[id(endpoint)] = template
            return template
    return "unmatched"


class RequestMetricsMiddleware:
    """Counts every request by route template and status, times it, tags log lines with the
    video id the path names, and writes one access log line (INFO for writes and errors,
    DEBUG for successful reads, which polling clients make every second)."""

    def __init__(self, app: ASGIApp, *, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        method: str = scope["method"]
        path: str = scope["path"]
        status = 500
        found = _VIDEO_IN_PATH.match(path)
        video: str | None = found.group(1) if found else None
        # a create or remix answers with the new video's id: log that one
        sniff = method == "POST" and path.startswith("/v1/videos")
        token = vlog.video_id.set(video)

        async def send_and_watch(message: Message) -> None:
            nonlocal status, video, sniff
            if message["type"] == "http.response.start":
                status = message["status"]
            elif sniff and message["type"] == "http.response.body":
                sniff = False  # the video object is small: its id is in the first chunk
                body = message.get("body", b"")
                hit = _VIDEO_IN_BODY.search(body[:65536])
                if hit:
                    video = hit.group(1).decode()
            await send(message)

        try:
            await self.app(scope, receive, send_and_watch)
        finally:
            elapsed = time.perf_counter() - started
            route = route_template(scope)
            self.metrics.observe(method, route, status, elapsed)
            quiet = status < 400 and (method in ("GET", "HEAD") or path in _QUIET_PATHS)
            level = logging.DEBUG if quiet else logging.INFO
            if log.isEnabledFor(level):
                log.log(
                    level,
                    "%s %s %d %.1fms",
                    method,
                    route,
                    status,
                    elapsed * 1000,
                    extra={
                        "method": method,
                        "route": route,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                        "video_id": video,
                    },
                )
            vlog.video_id.reset(token)


# -- worker metrics from the embedded worker's multiprocess folder ----------------------------


def prepare_worker_metrics_dir(settings: Settings) -> Path:
    """Empty ``{data_dir}/metrics`` before the embedded worker starts (a new server starts
    its counters at zero, as Prometheus expects after a restart)."""
    path = embedded_metrics_dir(settings.data_dir)
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _forget_dead_processes(path: Path) -> None:
    """Drop the 'live' gauges (GPU memory) of worker processes that have exited."""
    from prometheus_client import multiprocess

    for file in path.glob("gauge_live*_*.db"):
        pid = file.stem.rsplit("_", 1)[-1]
        if pid.isdigit() and not _pid_alive(int(pid)):
            multiprocess.mark_process_dead(int(pid), str(path))  # type: ignore[no-untyped-call]


COMPACT_AFTER = 16
"""Dead worker processes' counter/histogram files kept before they are merged into one."""
_compacting = threading.Lock()


def _compact_dead_processes(path: Path) -> None:
    """Merge the counter and histogram files of exited worker processes into one archive file
    per type, so a worker that keeps restarting cannot pile up files (each scrape reads them
    all). Their counts are kept: counters must not go down."""
    from prometheus_client import multiprocess
    from prometheus_client.mmap_dict import MmapedDict, mmap_key

    dead: dict[str, list[Path]] = {"counter": [], "histogram": []}
    for kind, files in dead.items():
        for file in path.glob(f"{kind}_*.db"):
            pid = file.stem.rsplit("_", 1)[-1]
            if pid.isdigit() and not _pid_alive(int(pid)):
                files.append(file)
    if sum(len(files) for files in dead.values()) < COMPACT_AFTER:
        return
    for kind, files in dead.items():
        if not files:
            continue
        archive = path / f"{kind}_archive.db"
        sources = [*files, archive] if archive.exists() else files
        merged = multiprocess.MultiProcessCollector.merge(  # type: ignore[no-untyped-call]
            [str(f) for f in sources], accumulate=False
        )
        scratch = path / f"{kind}_archive.tmp"
        scratch.unlink(missing_ok=True)
        out = MmapedDict(str(scratch))  # type: ignore[no-untyped-call]
        try:
            for metric in merged:
                for sample in metric.samples:
                    labels = dict(sample.labels)
                    key = mmap_key(
                        metric.name, sample.name, list(labels), list(labels.values()),
                        metric.documentation,
                    )
                    out.write_value(key, sample.value, 0.0)  # type: ignore[no-untyped-call]
        finally:
            out.close()  # type: ignore[no-untyped-call]
        os.replace(scratch, archive)
        for file in files:
            file.unlink(missing_ok=True)


def _worker_families(path: Path | None) -> Iterable[Metric]:
    if path is None or not path.is_dir():
        return []
    from prometheus_client import multiprocess

    with _compacting:
        _forget_dead_processes(path)
        _compact_dead_processes(path)
        files = [str(p) for p in path.glob("*.db")]
        merged = multiprocess.MultiProcessCollector.merge(  # type: ignore[no-untyped-call]
            files, accumulate=True
        )
    return list(merged)


# -- worker presence ------------------------------------------------------------------------


def embedded_worker_pid(supervisor: WorkerSupervisor | None) -> int | None:
    """The pid of the embedded worker if it is running, else None."""
    return supervisor.pid if supervisor is not None else None


# -- the routes ------------------------------------------------------------------------------


class _Families(Collector):
    def __init__(self, *sources: Iterable[Metric]) -> None:
        self.sources = sources

    def collect(self) -> Iterable[Metric]:
        for source in self.sources:
            yield from source


async def queue_families(
    rt: Runtime, supervisor: WorkerSupervisor | None, embedded: bool
) -> list[Metric]:
    stats = QueueStats(rt.db)
    now = rt.clock()
    depth = GaugeMetricFamily(
        "vidserve_queue_depth",
        "Videos queued or in progress, by model and status (from the database).",
        labels=["model", "status"],
    )
    oldest = GaugeMetricFamily(
        "vidserve_queue_oldest_age_seconds",
        "Age of the oldest queued video, by model (from the database).",
        labels=["model"],
    )
    for row in await stats.depth():
        depth.add_metric([row.model, row.status], row.jobs)
        if row.status == "queued" and row.oldest_created_at is not None:
            oldest.add_metric([row.model], max(0.0, now - row.oldest_created_at))
    failed = CounterMetricFamily(
        "vidserve_jobs_failed",
        "Videos that ended failed, by model and error code (from the database).",
        labels=["model", "code"],
    )
    for (model, code), count in sorted((await stats.failures()).items()):
        failed.add_metric([model, code], count)
    leases = await stats.leases(now)
    busy = GaugeMetricFamily(
        "vidserve_workers_busy", "Workers holding a live lease on a job (from the database)."
    )
    busy.add_metric([], len({lease.worker for lease in leases}))
    families: list[Metric] = [depth, oldest, failed, busy]
    if embedded:
        up = GaugeMetricFamily(
            "vidserve_embedded_worker_up", "1 if this server's embedded worker process is running."
        )
        up.add_metric([], 1 if embedded_worker_pid(supervisor) is not None else 0)
        families.append(up)
    info = GaugeMetricFamily("vidserve_build_info", "vidserve version.", labels=["version"])
    info.add_metric([__version__], 1)
    families.append(info)
    return families


async def _check(name: str, probe: Callable[[], Awaitable[Any]]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        detail = await asyncio.wait_for(probe(), CHECK_TIMEOUT)
    except TimeoutError:
        return {"ok": False, "error": f"no answer within {CHECK_TIMEOUT:.0f}s"}
    except Exception as exc:  # the class name only: a message could carry a DSN or a path
        logging.getLogger("vidserve.api").warning("readiness check %s failed", name, exc_info=True)
        return {"ok": False, "error": type(exc).__name__}
    result: dict[str, Any] = {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}
    if isinstance(detail, dict):
        result.update(detail)
    return result


def build_router(settings: Settings, metrics: HttpMetrics) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz(request: Request) -> Response:
        rt: Runtime = request.app.state.runtime
        supervisor = getattr(request.app.state, "supervisor", None)
        embedded = getattr(request.app.state, "embedded_worker", False)
        stats = QueueStats(rt.db)

        async def worker() -> dict[str, Any]:
            busy = len({lease.worker for lease in await stats.leases(rt.clock())})
            if not embedded:
                return {"mode": "external", "busy": busy}
            pid = embedded_worker_pid(supervisor)
            if pid is None:
                raise RuntimeError("the embedded worker process is not running")
            return {"mode": "embedded", "pid": pid, "busy": busy}

        checks = {
            "database": await _check("database", stats.ping),
            "storage": await _check("storage", rt.blob_store.check),
            "worker": await _check("worker", worker),
        }
        ready = all(check["ok"] for check in checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not_ready", "checks": checks},
            status_code=200 if ready else 503,
            headers={"Cache-Control": "no-store"},
        )

    @router.get("/metrics")
    async def metrics_endpoint(request: Request) -> Response:
        if settings.metrics_token:
            scheme, _, given = (request.headers.get("authorization") or "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                given.strip().encode(), settings.metrics_token.encode()
            ):
                return JSONResponse(
                    envelope(
                        "This server's /metrics needs 'Authorization: Bearer <metrics token>'.",
                        "invalid_request_error",
                        None,
                        "invalid_api_key",
                    ),
                    status_code=401,
                )
        rt: Runtime = request.app.state.runtime
        embedded = bool(getattr(request.app.state, "embedded_worker", False))
        supervisor = getattr(request.app.state, "supervisor", None)
        queue = await queue_families(rt, supervisor, embedded)
        worker_dir = embedded_metrics_dir(settings.data_dir) if embedded else None
        worker = await asyncio.to_thread(_worker_families, worker_dir)
        body = generate_latest(_Families(metrics.registry.collect(), queue, worker))
        return Response(body, media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})

    return router
