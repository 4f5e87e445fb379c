"""``GET /healthz`` (the process answers: liveness) and ``GET /readyz`` (readiness).

``/readyz`` checks the database, the storage and the workers: at least one worker (embedded
or on another machine) has written its heartbeat row (``workers`` table) within a lease, and
in the embedded mode the child process is alive; every live worker is listed (host, models,
current job). It answers 503 if any check fails, so a dead worker fleet shows. A check that
does not answer within ``CHECK_TIMEOUT`` fails; a failing check shows the exception's class
name only (a message could carry a DSN or a path).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from vidserve.api.routing import ThinRoute
from vidserve.queue.stats import QueueStats
from vidserve.runtime import Runtime
from vidserve.store.workers import WorkerStore, worker_stale_after
from vidserve.worker.embedded import WorkerSupervisor

log = logging.getLogger("vidserve.api")

CHECK_TIMEOUT = 3.0

router = APIRouter(include_in_schema=False, route_class=ThinRoute)


async def _check(name: str, probe: Callable[[], Awaitable[Any]]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        detail = await asyncio.wait_for(probe(), CHECK_TIMEOUT)
    except TimeoutError:
        return {"ok": False, "error": f"no answer within {CHECK_TIMEOUT:.0f}s"}
    except Exception as exc:
        log.warning("readiness check %s failed", name, exc_info=True)
        return {"ok": False, "error": type(exc).__name__}
    result: dict[str, Any] = {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}
    if isinstance(detail, dict):
        result.update(detail)
    return result


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> Response:
    body = await readiness(request)
    return JSONResponse(
        body,
        status_code=200 if body["status"] == "ready" else 503,
        headers={"Cache-Control": "no-store"},
    )


async def readiness(request: Request) -> dict[str, Any]:
    """``{"status": "ready" | "not_ready", "checks": {...}}``: what ``/readyz`` answers (the
    studio shows it too, from ``/vidserve/server``)."""
    rt: Runtime = request.app.state.runtime
    supervisor: WorkerSupervisor | None = request.app.state.supervisor
    stats = QueueStats(rt.db)

    async def worker() -> dict[str, Any]:
        now = rt.clock()
        busy = len({lease.worker for lease in await stats.leases(now)})
        stale_after = worker_stale_after(rt.settings)
        beats = await WorkerStore(rt.db).all()
        alive = [b for b in beats if b.alive(now, stale_after)]
        detail: dict[str, Any] = {
            "mode": "external" if supervisor is None else "embedded",
            "busy": busy,
            "alive": len(alive),
            "silent": len(beats) - len(alive),
            "workers": [
                {"id": b.id, "host": b.host, "models": list(b.models),
                 "current_job": list(b.current_job), "last_beat_s": round(now - b.last_beat, 1),
                 "groups": [asdict(g) for g in b.groups]}
                for b in alive
            ],
        }
        if supervisor is not None:
            if supervisor.pid is None:
                raise RuntimeError("the embedded worker process is not running")
            detail["pid"] = supervisor.pid
        if not alive:
            detail.update(ok=False, error=f"no worker has reported in the last {stale_after:g}s")
        return detail

    checks = {
        "database": await _check("database", stats.ping),
        "storage": await _check("storage", rt.blob_store.check),
        "worker": await _check("worker", worker),
    }
    ready = all(check["ok"] for check in checks.values())
    return {"status": "ready" if ready else "not_ready", "checks": checks}
