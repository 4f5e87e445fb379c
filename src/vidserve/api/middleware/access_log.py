"""Each request, observed once at its end: counted in the HTTP metrics by method, route
template and status, timed until the last body byte
(:class:`vidserve.api.ops.metrics.HttpMetrics`), and one access log line (logger
``vidserve.access``): method, route template, status, duration and the video it was about.
INFO for writes and errors, DEBUG for successful reads (polling clients make one every
second) and the ops endpoints; a line nobody listens to is never formatted.

One middleware for both: they need the same clock reading, status and route template, and
every layer costs each request a call and a wrapped ``send`` (``bench/api_hot_path.py``)."""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vidserve.api.middleware.scope import route_template, video_of
from vidserve.api.ops.metrics import HttpMetrics

log = logging.getLogger("vidserve.access")
_QUIET_PATHS = frozenset({"/metrics", "/healthz", "/readyz"})


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp, *, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_watch)
        finally:
            elapsed = time.perf_counter() - started
            method: str = scope["method"]
            route = route_template(scope)
            self.metrics.observe(method, route, status, elapsed)
            quiet = status < 400 and (method in ("GET", "HEAD") or scope["path"] in _QUIET_PATHS)
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
                        "video_id": video_of(scope),
                    },
                )
