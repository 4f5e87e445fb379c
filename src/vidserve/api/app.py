"""The application factory: routes, middleware, error handlers and the server's lifespan.

The lifespan opens the ``Runtime`` (database, blobs, registry, services), runs the reaper and,
in the embedded default, supervises the worker process.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match

from vidserve import __version__, scratch
from vidserve.api import openapi, studio
from vidserve.api.characters import routes as characters
from vidserve.api.errors import envelope, error_response
from vidserve.api.files import routes as files
from vidserve.api.middleware.access_log import AccessLogMiddleware
from vidserve.api.middleware.body_limit import BodyLimitMiddleware
from vidserve.api.middleware.errors import ErrorMiddleware
from vidserve.api.middleware.request_id import RequestIdMiddleware
from vidserve.api.ops import health, metrics
from vidserve.api.videos import routes as videos
from vidserve.errors import VidserveError
from vidserve.media.errors import MediaError
from vidserve.queue.reaper import reap_forever
from vidserve.runtime import Runtime
from vidserve.service.retention import RetentionCollector
from vidserve.service.webhooks import WebhookDispatcher
from vidserve.settings import Settings
from vidserve.store.workers import WorkerStore
from vidserve.worker.embedded import WorkerSupervisor

log = logging.getLogger("vidserve.api")


def _request_id(request: Request) -> str | None:
    rid = request.scope.get("state", {}).get("request_id")
    return rid if isinstance(rid, str) else None


def create_app(settings: Settings, *, embedded_worker: bool = True) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        scratch.sweep()  # folders a killed server or worker on this machine left in TMPDIR
        rt = Runtime.open(settings)
        app.state.runtime = rt
        stop = asyncio.Event()
        reaper = asyncio.create_task(
            reap_forever(
                rt.queue,
                interval=settings.reaper_interval_seconds,
                max_attempts=settings.max_attempts,
                clock=rt.clock,
                stop=stop,
            )
        )
        background = [
            WebhookDispatcher(settings, rt.webhook_store, rt.clock).run(stop),
            RetentionCollector(
                settings, rt.video_store, rt.blob_store, rt.webhook_store, rt.clock,
                files=rt.file_store,
            ).run(stop),
        ]
        tasks = [asyncio.create_task(job) for job in background]
        supervisor = WorkerSupervisor(settings) if embedded_worker else None
        app.state.supervisor = supervisor  # /readyz and /metrics look at its child process
        if supervisor is not None:
            assert worker_metrics is not None
            worker_metrics.reset()
            await supervisor.start()
            await supervisor.wait_for_first_beat(WorkerStore(rt.db))  # ready once it answers
        try:
            yield
        finally:
            stop.set()
            if supervisor is not None:
                await supervisor.stop()
            await reaper
            await asyncio.gather(*tasks)
            await rt.close()

    http_metrics = metrics.HttpMetrics()
    worker_metrics = metrics.worker_folder(settings) if embedded_worker else None
    routers = (
        videos.router,
        characters.router,
        files.router,
        health.router,
        metrics.build_router(settings, http_metrics, worker_metrics),
        studio.build_router(settings),
    )
    app = FastAPI(
        title="vidserve",
        version=__version__,
        description="OpenAI Videos API, self-hosted.",
        lifespan=lifespan,
        # the resources' routes, served flat: an included router is matched twice per request
        routes=[route for router in routers for route in router.routes],
        # vidserve exports its own Prometheus metrics and logs; FastAPI's native
        # OpenTelemetry hook asks the global providers on every request (bench/api_throughput)
        telemetry={"tracing": False, "metrics": False, "logs": False},
        # Starlette's own slash redirect builds an absolute Location from the client's Host
        # header; the 404 handler below redirects with a relative one instead
        redirect_slashes=False,
    )
    openapi.install(app, settings)
    if settings.studio:
        app.router.routes.append(studio.studio_mount())

    @app.exception_handler(VidserveError)
    @app.exception_handler(MediaError)
    async def _vidserve_error(request: Request, exc: VidserveError | MediaError) -> Response:
        return error_response(exc, _request_id(request))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        loc = [str(p) for p in first.get("loc", ()) if p not in ("query", "path", "body")]
        param = ".".join(loc) or None
        return JSONResponse(
            envelope(
                f"Invalid '{param}': {first.get('msg', 'invalid value')}.",
                "invalid_request_error",
                param,
                "invalid_value",
            ),
            status_code=400,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 404:
            slashless = _without_trailing_slash(app, request)
            if slashless is not None:
                return Response(status_code=307, headers={"Location": slashless})
            message = f"Invalid URL ({request.method} {_shown_path(request)})"
            code = None
        elif exc.status_code == 405:
            message = f"Method {request.method} is not allowed on {_shown_path(request)}."
            code = "method_not_allowed"
            headers["Allow"] = ", ".join(_allowed_methods(app, request))
        else:
            message, code = str(exc.detail), None
        return JSONResponse(
            envelope(message, "invalid_request_error", None, code),
            status_code=exc.status_code,
            headers=headers or None,
        )

    # outermost last: request id, access log and metrics, the last-resort 500, the body limit
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.max_request_bytes)
    app.add_middleware(ErrorMiddleware)
    app.add_middleware(AccessLogMiddleware, metrics=http_metrics)
    app.add_middleware(RequestIdMiddleware)
    return app


def _shown_path(request: Request) -> str:
    return request.url.path[:200].encode("ascii", "replace").decode()


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _matching_routes(app: FastAPI, scope: dict[str, Any]) -> list[BaseRoute]:
    return [r for r in app.router.routes if r.matches(scope)[0] is not Match.NONE]


def _allowed_methods(app: FastAPI, request: Request) -> list[str]:
    """Every method some route of this path answers (Starlette names one route's only):
    asked of the routes themselves, one method at a time."""
    scope = dict(request.scope)
    return [
        method
        for method in _METHODS
        if any(r.matches({**scope, "method": method})[0] is Match.FULL for r in app.router.routes)
    ]


def _without_trailing_slash(app: FastAPI, request: Request) -> str | None:
    """The path without its trailing slash, as a relative Location, if a route serves it."""
    path = request.url.path
    if not path.endswith("/") or path == "/" or path.startswith("//"):
        return None
    scope = {**request.scope, "path": path.rstrip("/")}
    if not scope["path"] or not _matching_routes(app, scope):
        return None
    query = request.url.query
    return quote(scope["path"], safe="/:@!$&'()*+,;=-._~") + (f"?{query}" if query else "")
