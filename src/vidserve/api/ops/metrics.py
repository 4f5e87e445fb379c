"""``GET /metrics``: this process's request figures, the queue, and the worker's own numbers.

Where each number comes from (see docs/observability.md):

- HTTP requests and their latency: this process (:class:`HttpMetrics`, fed by
  ``api/middleware/access_log.py``), by route *template* and status.
- Queue depth by model and status, the oldest queued job, failures by error code, busy workers:
  the database, read at scrape time (``vidserve.queue.stats``). With several API replicas each
  reports the same cluster-wide figures: aggregate them with ``max``, not ``sum``.
- Job wait and run time, denoising steps per second, GPU memory: the worker process
  (``vidserve.telemetry``). The embedded worker writes them into ``{data_dir}/metrics``
  (prometheus_client's multiprocess mode) and :class:`WorkerMetricsFolder` merges them in here;
  a scale-out worker serves them on its own ``--metrics-port``.
"""

from __future__ import annotations

import asyncio
import hmac
import os
import shutil
import threading
from bisect import bisect_left
from collections.abc import Iterable
from pathlib import Path

from fastapi import APIRouter, Request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString
from starlette.responses import JSONResponse, Response

from vidserve import __version__
from vidserve.api.errors import envelope
from vidserve.api.routing import ThinRoute
from vidserve.queue.stats import QueueStats
from vidserve.runtime import Runtime
from vidserve.settings import Settings
from vidserve.telemetry import embedded_metrics_dir
from vidserve.worker.embedded import WorkerSupervisor

# no *_created series: they double the output and nobody reads them
disable_created_metrics()  # type: ignore[no-untyped-call]

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


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


# -- the embedded worker's multiprocess folder -----------------------------------------------

COMPACT_AFTER = 16
"""Dead worker processes' counter/histogram files kept before their counts are archived."""

_SampleKey = tuple[str, tuple[tuple[str, str], ...]]
_FamilyKey = tuple[str, str, str]  # name, type, documentation


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _pid_of(file: Path) -> int | None:
    pid = file.stem.rsplit("_", 1)[-1]
    return int(pid) if pid.isdigit() else None


def _merge(files: list[Path]) -> list[Metric]:
    merged = multiprocess.MultiProcessCollector.merge(  # type: ignore[no-untyped-call]
        [str(f) for f in files], accumulate=True
    )
    return list(merged)


class WorkerMetricsFolder:
    """The embedded worker's metrics: ``{data_dir}/metrics``, merged at scrape time.

    Every worker process writes its own files there (prometheus_client's multiprocess mode).
    A worker that keeps restarting would pile up files that every scrape reads, so once
    ``COMPACT_AFTER`` dead processes' counter and histogram files are there, their merged
    counts move into this object's archive (added to every later scrape; counters never go
    down) and the files are removed. Dead processes' live gauges (GPU memory) are dropped
    with prometheus_client's ``mark_process_dead``. The server empties the folder when it
    starts (:meth:`reset`), as Prometheus expects counters to start at zero after a restart.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._archive: dict[_FamilyKey, dict[_SampleKey, float]] = {}
        self._lock = threading.Lock()

    def reset(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        self.path.mkdir(parents=True, exist_ok=True)

    def families(self) -> list[Metric]:
        if not self.path.is_dir():
            return []
        with self._lock:
            for file in self.path.glob("gauge_live*_*.db"):
                pid = _pid_of(file)
                if pid is not None and not _pid_alive(pid):
                    multiprocess.mark_process_dead(pid, str(self.path))  # type: ignore[no-untyped-call]
            dead = [
                file
                for kind in ("counter", "histogram")
                for file in self.path.glob(f"{kind}_*.db")
                if (pid := _pid_of(file)) is not None and not _pid_alive(pid)
            ]
            if len(dead) >= COMPACT_AFTER:
                self._add_to_archive(_merge(dead))
                for file in dead:
                    file.unlink(missing_ok=True)
            return self._with_archive(_merge(sorted(self.path.glob("*.db"))))

    def _add_to_archive(self, metrics: list[Metric]) -> None:
        for metric in metrics:
            family = self._archive.setdefault(
                (metric.name, metric.type, metric.documentation), {}
            )
            for sample in metric.samples:
                key = (sample.name, tuple(sorted(sample.labels.items())))
                family[key] = family.get(key, 0.0) + sample.value

    def _with_archive(self, live: list[Metric]) -> list[Metric]:
        out: list[Metric] = []
        seen: set[_FamilyKey] = set()
        for metric in live:
            family_key = (metric.name, metric.type, metric.documentation)
            archived = dict(self._archive.get(family_key, {}))
            seen.add(family_key)
            combined = Metric(metric.name, metric.documentation, metric.type)
            for sample in metric.samples:
                key = (sample.name, tuple(sorted(sample.labels.items())))
                value = sample.value + archived.pop(key, 0.0)
                combined.samples.append(sample._replace(value=value))
            combined.samples.extend(
                Sample(name, dict(labels), value) for (name, labels), value in archived.items()
            )
            out.append(combined)
        for (name, kind, documentation), archived in self._archive.items():
            if (name, kind, documentation) not in seen:
                metric = Metric(name, documentation, kind)
                metric.samples.extend(
                    Sample(sample, dict(labels), value)
                    for (sample, labels), value in archived.items()
                )
                out.append(metric)
        return out


# -- GET /metrics ----------------------------------------------------------------------------


class _Families(Collector):
    def __init__(self, *sources: Iterable[Metric]) -> None:
        self.sources = sources

    def collect(self) -> Iterable[Metric]:
        for source in self.sources:
            yield from source


async def queue_families(rt: Runtime, supervisor: WorkerSupervisor | None) -> list[Metric]:
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
    if supervisor is not None:
        up = GaugeMetricFamily(
            "vidserve_embedded_worker_up", "1 if this server's embedded worker process is running."
        )
        up.add_metric([], 1 if supervisor.pid is not None else 0)
        families.append(up)
    info = GaugeMetricFamily("vidserve_build_info", "vidserve version.", labels=["version"])
    info.add_metric([__version__], 1)
    families.append(info)
    return families


def worker_folder(settings: Settings) -> WorkerMetricsFolder:
    return WorkerMetricsFolder(embedded_metrics_dir(settings.data_dir))


def build_router(
    settings: Settings, http: HttpMetrics, worker: WorkerMetricsFolder | None
) -> APIRouter:
    """``/metrics``; ``worker``: the embedded worker's folder (None with ``--no-worker``)."""
    router = APIRouter(include_in_schema=False, route_class=ThinRoute)

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
        queue = await queue_families(rt, request.app.state.supervisor)
        workers = await asyncio.to_thread(worker.families) if worker is not None else []
        body = generate_latest(_Families(http.registry.collect(), queue, workers))
        return Response(body, media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})

    return router
