"""The application factory: routes, middleware and the server's lifespan.

The lifespan opens the ``Runtime`` (database, blobs, registry, services), runs the reaper and,
in the embedded default, supervises the worker process.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import Router
from starlette.types import ASGIApp, Receive, Scope, Send

from vidserve import __version__, scratch
from vidserve.api import openapi, studio
from vidserve.api.characters import routes as characters
from vidserve.api.files import routes as files
from vidserve.api.middleware.access_log import AccessLogMiddleware
from vidserve.api.middleware.body_limit import BodyLimitMiddleware
from vidserve.api.middleware.errors import ErrorMiddleware
from vidserve.api.middleware.request_id import RequestIdMiddleware
from vidserve.api.ops import health, metrics
from vidserve.api.routing import ThinRoute
from vidserve.api.videos import routes as videos
from vidserve.queue.reaper import reap_forever
from vidserve.runtime import Runtime
from vidserve.service.retention import RetentionCollector
from vidserve.service.webhooks import WebhookDispatcher
from vidserve.settings import Settings
from vidserve.store.workers import WorkerStore
from vidserve.worker.embedded import WorkerSupervisor

log = logging.getLogger("vidserve.api")


class VidserveApp(FastAPI):
    """FastAPI for the document and the routes; the middleware stack is vidserve's own."""

    def build_middleware_stack(self) -> ASGIApp:
        """vidserve's middlewares (``api/middleware``, outermost first) around the router.

        FastAPI's and Starlette's own layers are left out, as each costs every request a call
        and a wrapped ``send`` (``bench/api_hot_path.py``): ``ServerErrorMiddleware`` and
        ``ExceptionMiddleware`` (every error, the router's 404 and 405 included, becomes a
        response in one place: :class:`~vidserve.api.middleware.errors.ErrorMiddleware`, so
        ``exception_handler`` registrations are not used), the native-telemetry wrapper (off),
        the application body limit (:class:`~vidserve.api.middleware.body_limit.
        BodyLimitMiddleware` is the one limit) and ``AsyncExitStackMiddleware``, which only
        FastAPI's standard route handler reads: every route here is a
        :class:`~vidserve.api.routing.ThinRoute` (checked here).
        """
        for route in self.router.routes:
            if isinstance(route, APIRoute) and not isinstance(route, ThinRoute):
                raise TypeError(f"{route.path}: every API route is a ThinRoute")
        router = self.router

        async def dispatch(scope: Scope, receive: Receive, send: Send) -> None:
            # Starlette's own dispatch over the same routes: FastAPI's adds the contexts of
            # included routers, form limits and a telemetry hook, none of which is used here
            await Router.app(router, scope, receive, send)

        app: ASGIApp = dispatch
        for cls, args, kwargs in reversed(self.user_middleware):
            app = cls(app, *args, **kwargs)
        return app


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
    app = VidserveApp(
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

    # outermost last: request id, access log and metrics, the last-resort 500, the body limit
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.max_request_bytes)
    app.add_middleware(ErrorMiddleware)
    app.add_middleware(AccessLogMiddleware, metrics=http_metrics)
    app.add_middleware(RequestIdMiddleware)
    return app
